"""Forecasting windows: chronological splits and sequence-to-sequence targets.

A window starting at `s` holds `window` steps of history `x[s : s + window]`;
at every step `t` of it the model forecasts the next `horizon` values of the
targets, `x[s + t + 1 : s + t + 1 + horizon]`. Metrics use the final step's
forecast, `x[s + window : s + window + horizon]`.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from rnn_tasks.errors import UserError


def split_bounds(length, fractions):
    """Chronological `[(start, stop)]` index ranges for train, validation, test.

    Example:
    >>> split_bounds(100, (0.7, 0.15, 0.15))
    [(0, 70), (70, 85), (85, 100)]
    """
    edges = np.round(np.cumsum([0.0, *fractions]) / sum(fractions) * length).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def window_starts(bounds, window, horizon):
    """Window starts whose final-step forecast lies inside `bounds = (start, stop)`.

    The history may reach back before `start` (it is known by then); no
    target reaches past `stop - 1`, so nothing is looked ahead across splits.
    """
    start, stop = bounds
    first = max(start - window, 0)
    last = stop - window - horizon  # inclusive
    return np.arange(first, last + 1) if last >= first else np.arange(0)


def make_windows(values, starts, window, horizon, n_targets):
    """Histories and every-step future targets.

    Args:
        values: `(N, F)` series, targets in the first `n_targets` columns.
        starts: window start indices.
        window, horizon: lengths.
        n_targets: how many leading columns are forecast.

    Returns:
        `history (n, window, F)` and `future (n, window, horizon, n_targets)`
        where `future[i, t, k] = values[starts[i] + t + 1 + k, :n_targets]`.
    """
    if len(starts) == 0:
        raise UserError(
            f"data: series too short for window={window} + horizon={horizon} in a split"
        )
    spans = _spans(values, starts, window, horizon)
    return spans[:, :window], spans[:, _ahead(window, horizon), :n_targets]


def steps_ahead(values, starts, window, horizon):
    """The `horizon` rows after every window step: `(n, window, horizon, columns)`.

    `steps_ahead(values, ...)[i, t, k] = values[starts[i] + t + 1 + k]` (known-future
    inputs and their dates, read for the steps each window step forecasts).

    Example:
    >>> steps_ahead(np.arange(6.0)[:, None], np.array([0]), 2, 2)[0, :, :, 0].tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    return _spans(values, starts, window, horizon)[:, _ahead(window, horizon)]


def _spans(values, starts, window, horizon):
    """`(n, window + horizon, columns)` rows from each start."""
    spans = sliding_window_view(values, window + horizon, axis=0)  # (N', F, W + H)
    return np.moveaxis(spans[starts], -1, 1)


def _ahead(window, horizon):
    """`(W, H)` row offsets: step `t` forecasts rows `t + 1 ... t + horizon`."""
    return np.arange(window)[:, None] + 1 + np.arange(horizon)[None, :]


def baseline_forecasts(history, horizon, season, n_targets):
    """Naive forecasts from the last window step: `{name: (n, horizon, n_targets)}`.

    - `last_value`: the last observed value, repeated.
    - `drift`: the line through the window's first and last values, extended.
    - `seasonal_naive`: the value one season earlier, `y[T + k - season * ceil(k / season)]`.
    """
    targets = history[..., :n_targets]  # (n, W, T)
    window = targets.shape[1]
    last = targets[:, -1:]  # (n, 1, T)
    k = np.arange(1, horizon + 1)[None, :, None]
    slope = (targets[:, -1:] - targets[:, :1]) / max(window - 1, 1)
    lag = season * np.ceil(np.arange(1, horizon + 1) / season).astype(int)
    seasonal = targets[:, window - 1 + np.arange(1, horizon + 1) - lag]
    return {
        "last_value": np.repeat(last, horizon, axis=1),
        "drift": last + k * slope,
        "seasonal_naive": seasonal,
    }


def residual_quantiles(actual, forecast, levels, mode, units=1.0):
    """Quantiles of a forecaster's relative errors, per horizon step and target.

    Args:
        actual, forecast: `(n, horizon, n_targets)` raw values (training windows).
        levels: quantile levels.
        mode: `"log"` (errors as `log(actual / forecast)`) or `"difference"`.
        units: what differences are divided by, `(n, 1, n_targets)` (each
            window's unit, so series of any scale pool their errors).

    Returns:
        `(Q, horizon, n_targets)` error quantiles, for `with_residuals`.
    """
    errors = np.log(actual / forecast) if mode == "log" else (actual - forecast) / units
    return np.quantile(errors, levels, axis=0)


def with_residuals(forecast, residuals, mode, units=1.0):
    """Quantile forecasts `(n, horizon, n_targets, Q)`: a point forecast moved by
    each error quantile of `residual_quantiles` (differences times `units`).

    Example:
    >>> point = np.ones((1, 1, 1)); offsets = np.array([[[-0.5]], [[0.5]]])
    >>> with_residuals(point, offsets, "difference", units=np.full((1, 1, 1), 2.0)).tolist()
    [[[[0.0, 2.0]]]]
    """
    offsets = np.moveaxis(residuals, 0, -1)[None]  # (1, H, T, Q)
    point = forecast[..., None]
    return point * np.exp(offsets) if mode == "log" else point + offsets * np.asarray(units)[..., None]
