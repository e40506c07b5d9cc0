"""Forecasting windows, baselines, metrics and the in-model change encoding."""

import keras
import numpy as np
import pytest

from rnn_tasks.data.windows import (
    baseline_forecasts,
    make_windows,
    split_bounds,
    window_starts,
)
from rnn_tasks.errors import UserError
from rnn_tasks.metrics import forecast_metrics
from rnn_tasks.preprocessing.scaling import DecodeForecast, EncodeHistory, change


def test_make_windows_matches_explicit_indexing():
    values = np.arange(40, dtype=float).reshape(20, 2)
    history, future = make_windows(values, np.array([0, 3]), window=4, horizon=2, n_targets=1)
    assert history.shape == (2, 4, 2) and future.shape == (2, 4, 2, 1)
    for i, s in enumerate([0, 3]):
        np.testing.assert_array_equal(history[i], values[s:s + 4])
        for t in range(4):
            for k in range(2):
                assert future[i, t, k, 0] == values[s + t + 1 + k, 0]


def test_window_starts_never_look_past_the_split():
    length, window, horizon = 100, 10, 3
    bounds = split_bounds(length, (0.7, 0.15, 0.15))
    assert bounds == [(0, 70), (70, 85), (85, 100)]
    for start, stop in bounds:
        starts = window_starts((start, stop), window, horizon)
        assert len(starts) > 0
        assert (starts + window >= start).all()  # the final forecast starts inside the split
        assert (starts + window + horizon - 1 < stop).all()  # and no target lies beyond it
        assert starts[-1] + window + horizon == stop  # the last window is used
    with pytest.raises(UserError, match="series too short"):
        make_windows(np.zeros((5, 1)), window_starts((0, 5), 10, 3), 10, 3, 1)


def test_baselines_by_hand():
    history = np.array([[1.0, 2.0, 4.0, 5.0]])[..., None]  # one window, W=4
    forecasts = baseline_forecasts(history, horizon=3, season=2, n_targets=1)
    np.testing.assert_allclose(forecasts["last_value"][0, :, 0], [5, 5, 5])
    np.testing.assert_allclose(forecasts["drift"][0, :, 0], [5 + 4 / 3, 5 + 8 / 3, 9])
    np.testing.assert_allclose(forecasts["seasonal_naive"][0, :, 0], [4, 5, 4])


def test_metrics_by_hand():
    actual = np.array([[[2.0], [4.0]]])
    predicted = np.array([[[3.0], [2.0]]])
    metrics = forecast_metrics(actual, predicted, naive_scale=np.array([2.0]))
    assert metrics["mae"] == pytest.approx(1.5)
    assert metrics["rmse"] == pytest.approx(np.sqrt(2.5))
    assert metrics["mape"] == pytest.approx(50.0)
    assert metrics["smape"] == pytest.approx(100 * (2 / 5 + 4 / 6) / 2)
    assert metrics["mase"] == pytest.approx(0.75)


def test_smape_counts_zero_over_zero_as_zero_and_keeps_nan():
    actual = np.array([[[0.0], [2.0]]])
    assert forecast_metrics(actual, np.array([[[0.0], [2.0]]]), np.array([1.0]))["smape"] == 0.0
    nan = forecast_metrics(actual, np.array([[[0.0], [np.nan]]]), np.array([1.0]))
    assert np.isnan(nan["smape"]) and np.isnan(nan["mae"])  # a NaN model scores NaN, not 0


def test_mase_leaves_out_constant_series_and_mape_zero_actuals():
    """A series constant over its training span has no naive scale: pooled MASE is taken
    over the others (not inf for the whole table), and null only when none is left."""
    actual = np.array([[[2.0]], [[0.0]], [[5.0]]])  # examples of series a, b (scale 0), c
    predicted = np.array([[[3.0]], [[1.0]], [[3.0]]])
    scale = np.array([[[2.0]], [[0.0]], [[4.0]]])  # per example (n, 1, T)
    metrics = forecast_metrics(actual, predicted, scale)
    assert metrics["mase"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert metrics["mape"] == pytest.approx(100 * (1 / 2 + 2 / 5) / 2)  # b's 0 left out
    assert metrics["mae"] == pytest.approx(4 / 3)
    alone = forecast_metrics(actual[1:2], predicted[1:2], scale[1:2])
    assert np.isnan(alone["mase"]) and np.isnan(alone["mape"])


@pytest.mark.parametrize("mode", ["log", "difference"])
def test_decode_inverts_the_target_encoding(mode):
    rng = np.random.default_rng(0)
    values = np.exp(np.cumsum(rng.normal(0, 0.05, (30, 2)), axis=0))
    history, future = make_windows(values, np.array([0, 5]), window=8, horizon=3, n_targets=1)
    scale = [[0.5], [1.0], [2.0]]
    relative = np.asarray(change(future, history[:, :, None, :1], mode)) / np.array(scale)
    decoded = DecodeForecast(mode, scale)([history, relative])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(decoded), future, rtol=1e-5)
    encoded = keras.ops.convert_to_numpy(EncodeHistory(mode, [2.0, 1.0])(history))
    steps = np.asarray(change(history[:, 1:], history[:, :-1], mode)) / np.array([2.0, 1.0])
    np.testing.assert_allclose(encoded[:, 1:], steps, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(encoded[:, 0], 0.0)


def test_differences_are_read_in_each_windows_own_unit():
    """A window's differences over its mean absolute one-step change (at least a share of
    its mean absolute value; 1 for zeros), so a series 1000 or 1e-6 times as large
    encodes alike; decoding inverts it. A model saved before units existed reads raw
    differences."""
    rng = np.random.default_rng(1)
    small = 10 + np.cumsum(rng.normal(0, 1, (2, 8, 1)), axis=1)
    history = np.concatenate([small, 1000 * small, 1e-6 * small], axis=0)  # (6, 8, 1): three scales
    flat = np.where(np.arange(8) == 7, 5.001, 5.0)[None, :, None].repeat(6, axis=0)  # nearly flat
    history = np.concatenate([history, flat, np.zeros_like(history)], axis=-1)
    changes = np.abs(np.diff(history, axis=1)).mean(axis=1, keepdims=True)
    unit = np.maximum(changes, 0.01 * np.abs(history).mean(axis=1, keepdims=True))
    unit[unit == 0] = 1.0
    np.testing.assert_allclose(unit[:, 0, 1], 0.01 * (5 * 7 + 5.001) / 8)  # the floor binds
    encoded = keras.ops.convert_to_numpy(
        EncodeHistory("difference", [2.0, 1.0, 1.0], 0.01)(history.astype("float32")))
    np.testing.assert_allclose(encoded[:, 1:], np.diff(history, axis=1) / unit / [2.0, 1.0, 1.0],
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(encoded[:2], encoded[2:4], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(encoded[:2], encoded[4:], rtol=1e-3, atol=1e-5)
    relative = rng.normal(0, 1, (6, 8, 2, 1))
    decoded = keras.ops.convert_to_numpy(DecodeForecast("difference", [[0.5], [2.0]], 0.01)(
        [history.astype("float32"), relative.astype("float32")]))
    expected = history[:, :, None, :1] + relative * np.array([[0.5], [2.0]]) * unit[:, :, None, :1]
    np.testing.assert_allclose(decoded, expected, rtol=1e-4)
    for layer in (EncodeHistory("difference", [1.0] * 3, 0.01),
                  DecodeForecast("difference", [[1.0]], 0.01)):
        saved = layer.get_config()
        del saved["unit_floor"]  # as a model saved before units existed holds it
        assert type(layer).from_config(saved).unit_floor is None
    raw = EncodeHistory("difference", [1.0] * 3)(history.astype("float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(raw)[:2, 1:], np.diff(history, axis=1)[:2],
                               rtol=1e-4, atol=1e-4)
