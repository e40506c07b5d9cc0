"""ForecastingTask end to end: train, evaluate, save/load, predict, export, CLI."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from rnn_tasks.errors import UserError
from rnn_tasks.export import non_core_ops
from rnn_tasks.templates import ForecastingTask, Task
from tests.helpers import cli, serve_in_tensorflow_only_process

TINY = {"train.epochs": 2, "model.units": 8, "data.window": 20, "data.horizon": 3,
        "train.batch_size": 32, "export.warmup_examples": 3}
METRIC_KEYS = {"mae", "rmse", "mape", "smape", "mase"}


def write_prices(path, rows=300, seed=0, ticker="AAPL"):
    """A CSV with the stocks_daily columns: a noisy, trending positive series."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    close = 50 * np.exp(0.002 * t + 0.1 * np.sin(t / 7) + np.cumsum(rng.normal(0, 0.01, rows)))
    frame = pd.DataFrame({"Ticker": ticker, "Date": pd.date_range("2001-01-01", periods=rows),
                          "Adj Close": close, "Volume": rng.integers(1000, 2000, rows)})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def prices(prices_csv):
    return prices_csv


@pytest.fixture(scope="module")
def trained(forecasting_run):
    """The session's tiny trained run (tests/conftest.py)."""
    return forecasting_run


def test_metrics_have_the_contract_keys(trained):
    task, run_dir, metrics = trained
    assert METRIC_KEYS <= set(metrics)
    assert set(metrics["baselines"]) == {"last_value", "drift", "seasonal_naive"}
    for values in metrics["baselines"].values():
        assert set(values) == METRIC_KEYS
    assert metrics["n_examples"] == len(task.data.windows["test"][0]) > 0
    assert metrics["seconds"] >= 0
    assert json.loads((run_dir / "metrics.json").read_text())["mae"] == metrics["mae"]


def test_run_directory_layout(trained):
    _, run_dir, _ = trained
    for name in ("recipe.toml", "model.keras", "metrics.json", "history.csv", "report.md",
                 "plots/forecast.png", "plots/training_curves.png"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "logs").is_dir() and (run_dir / "checkpoints").is_dir()
    assert len(pd.read_csv(run_dir / "history.csv")) == 2
    report = (run_dir / "report.md").read_text()
    assert "| last_value |" in report and "plots/forecast.png" in report


def test_scalers_fit_on_the_training_span_only(trained, prices):
    task, _, _ = trained
    values = task.data.values
    start, stop = task.data.bounds["train"]
    steps = np.diff(np.log(values[start:stop]), axis=0)
    np.testing.assert_allclose(task.preprocessing["input_scale"], steps.std(axis=0))
    changed = values.copy()
    changed[stop:] *= 10  # the future must not move the scalers
    assert np.std(np.diff(np.log(changed[start:stop]), axis=0)) == pytest.approx(steps.std())


def test_predict_is_raw_prices_in_and_out(trained):
    task, _, _ = trained
    history = task.data.windows["test"][0][:4].astype("float32")
    forecast = task.predict(history)["forecast"]
    assert forecast.shape == (4, 3, 1)
    last = history[:, -1, 0]
    assert np.all(np.abs(forecast[:, :, 0] / last[:, None] - 1) < 0.5)  # price level, not z-scores
    np.testing.assert_allclose(task.predict(history[0])["forecast"], forecast[:1], rtol=1e-5)
    with pytest.raises(UserError, match="must have shape \\[batch, 20, 1\\]"):
        task.predict(np.zeros((2, 19, 1)))


def test_save_load_round_trip(trained):
    task, run_dir, _ = trained
    loaded = Task.load(run_dir)
    assert type(loaded) is ForecastingTask
    history = task.data.windows["test"][0][:5].astype("float32")
    np.testing.assert_allclose(loaded.predict(history)["forecast"],
                               task.predict(history)["forecast"], rtol=1e-6)
    assert loaded.evaluate()["mae"] == pytest.approx(trained[2]["mae"], rel=1e-6)


def test_export_serves_raw_prices_in_a_tensorflow_only_process(trained, tmp_path):
    task, _, _ = trained
    path = task.export(tmp_path / "models")
    assert path == tmp_path / "models" / "1"
    for name in ("saved_model.pb", "variables", "assets", "assets.extra/tf_serving_warmup_requests"):
        assert (path / name).exists(), name
    assert non_core_ops(path) == []
    history = task.data.windows["test"][0][:6].astype("float32")
    served = serve_in_tensorflow_only_process(path, {"history": history.tolist()}, tmp_path)
    assert set(served) == {"forecast"}
    np.testing.assert_allclose(np.array(served["forecast"]),
                               task.predict(history)["forecast"], rtol=1e-5, atol=1e-5)


def test_warmup_records_are_prediction_logs_of_validation_inputs(trained, tmp_path):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    task, _, _ = trained
    path = task.export(tmp_path / "models")
    records = list(tf.data.TFRecordDataset(str(path / "assets.extra/tf_serving_warmup_requests")))
    assert len(records) == 3
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    request = log.predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    np.testing.assert_allclose(tf.make_ndarray(request.inputs["history"]),
                               task.data.windows["validation"][0][:1], rtol=1e-6)


def test_export_versions_are_never_overwritten(trained, tmp_path):
    task, _, _ = trained
    base = tmp_path / "models"
    assert task.export(base).name == "1"
    assert task.export(base).name == "2"
    assert task.export(base, version=7).name == "7"
    with pytest.raises(UserError, match="already exists; versions are never overwritten"):
        task.export(base, version=2)
    assert sorted(p.name for p in base.iterdir()) == ["1", "2", "7"]  # no temporary left


class ConvForecaster(ForecastingTask):
    """Overrides only the network: a causal convolution instead of an RNN."""

    def build_model(self):
        data = self.recipe["data"]
        inputs = keras.Input((data["window"], len(self.columns)))
        x = keras.layers.Conv1D(8, 3, padding="causal", activation="relu")(inputs)
        x = keras.layers.Dense(data["horizon"] * self.n_targets)(x)
        outputs = keras.layers.Reshape((data["window"], data["horizon"], self.n_targets))(x)
        return keras.Model(inputs, outputs)


def test_subclass_overriding_only_build_model(prices, tmp_path):
    task = ConvForecaster.from_recipe("price_forecasting", {**TINY, "data.path": str(prices)})
    task.fit(verbose=0)
    assert METRIC_KEYS <= set(task.evaluate())
    assert any(isinstance(layer, keras.layers.Conv1D) for layer in task.model.layers[2].layers)
    path = task.export(tmp_path / "models")
    assert (path / "saved_model.pb").is_file()
    task.save(tmp_path / "run")
    assert type(ConvForecaster.load(tmp_path / "run")) is ConvForecaster


def test_default_recipe_on_the_builtin_dataset():
    task = ForecastingTask.from_recipe("price_forecasting", {"train.epochs": 1, "model.units": 8})
    task.fit(verbose=0)
    metrics = task.evaluate(backtest=3)
    assert task.data.values.shape[0] == 3270  # AAPL, 2000-2013
    assert metrics["n_examples"] > 400
    assert [set(row) for row in metrics["backtest"]] == [
        {"origin", "model", "last_value", "drift", "seasonal_naive"}] * 3
    # Split-adjusted prices: no day loses more than half (a split would).
    assert np.exp(np.diff(np.log(task.data.values[:, 0]))).min() > 0.45


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.assign(**{"Adj Close": f["Adj Close"].where(f.index != 5)}),
     "column 'Adj Close' has 1 missing or non-numeric values"),
    (lambda f: f.assign(**{"Adj Close": -f["Adj Close"]}), "scaling = 'log' needs positive values"),
    (lambda f: f.head(25), "too few for window=20 \\+ horizon=3"),
    (lambda f: f.assign(Date="yesterday"), "has a non-date value 'yesterday'"),
    (lambda f: f.assign(Ticker="IBM"), "`group` must be one of the values of column 'Ticker' \\('IBM'\\)"),
    (lambda f: f.drop(columns=["Date"]), "lacks column\\(s\\) 'Date'"),
])
def test_bad_series_are_refused(prices, tmp_path, edit, message):
    path = tmp_path / "bad.csv"
    edit(pd.read_csv(prices)).to_csv(path, index=False)
    task = ForecastingTask.from_recipe("price_forecasting", {**TINY, "data.path": str(path)})
    with pytest.raises(UserError, match=message):
        task.prepare()


def test_unsorted_and_duplicate_dates_are_sorted_and_dropped(prices, tmp_path):
    frame = pd.read_csv(prices)
    shuffled = pd.concat([frame, frame.iloc[[10]]]).sample(frac=1.0, random_state=0)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    task = ForecastingTask.from_recipe("price_forecasting",
                                       {**TINY, "data.path": str(tmp_path / "shuffled.csv")})
    task.prepare()
    np.testing.assert_allclose(task.data.values[:, 0], frame["Adj Close"])
    assert task.data.dropped_duplicates == 1


# Command line -----------------------------------------------------------------------------


def test_cli_train_evaluate_predict_export(prices, tmp_path, capsys):
    run_dir = tmp_path / "run"
    sets = [x for k, v in {**TINY, "data.path": json.dumps(str(prices))}.items()
            for x in ("--set", f"{k}={v}")]
    status, out, _ = cli(capsys, "train", "tasks/price_forecasting.toml", "--run-dir", run_dir, *sets)
    assert status == 0 and (run_dir / "model.keras").is_file()

    other = write_prices(tmp_path / "other.csv", seed=1)
    status, out, _ = cli(capsys, "evaluate", run_dir, "--data", other, "--backtest", "2")
    assert status == 0 and len(json.loads(out)["backtest"]) == 2

    status, out, _ = cli(capsys, "predict", run_dir, other)
    from_run = np.array(json.loads(out)["forecast"])
    assert status == 0 and from_run.shape == (1, 3, 1)

    status, out, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    assert status == 0 and out.strip().endswith("1")
    status, out, _ = cli(capsys, "predict", tmp_path / "models" / "1", other)
    np.testing.assert_allclose(np.array(json.loads(out)["forecast"]), from_run, rtol=1e-5)

    status, _, err = cli(capsys, "export", run_dir, "--to", tmp_path / "models", "--version", "1")
    assert status == 2 and "already exists" in err


@pytest.mark.parametrize("args, message", [
    (["train", "missing.toml"], "recipe 'missing.toml' not found"),
    (["train", "price_forecasting", "--set", "model.unit=3"], "unknown key `model.unit`"),
    (["train", "price_forecasting", "--set", "train.epochs=many"], "`train.epochs` must be an integer"),
    (["train", "price_forecasting", "--set", "epochs"], "--set expects section.key=value"),
    (["train", "price_forecasting", "--set", "data.path=nope.csv"], "data file not found: nope.csv"),
    (["evaluate", "."], "is not a finished run directory"),
    (["export", ".", "--to", "x"], "is not a finished run directory"),
    (["predict", ".", "x.csv"], "is not a finished run directory"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks").mkdir()
    status, _, err = cli(capsys, *args)
    assert status == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks"]  # nothing written


def test_cli_lists_recipes_and_datasets(capsys):
    status, out, _ = cli(capsys, "recipes")
    assert status == 0 and "price_forecasting" in out and "temperature_forecasting" in out
    status, out, _ = cli(capsys, "datasets")
    assert status == 0 and "stocks_daily" in out and "package" in out


def test_dropout_recipe_trains_with_finite_loss(prices):
    """model.dropout drops RNN outputs: input dropout on one feature would zero whole sequences."""
    task = ForecastingTask.from_recipe("price_forecasting",
                                       {**TINY, "data.path": str(prices), "model.dropout": 0.3})
    task.fit(verbose=0)
    assert np.isfinite(task.history.history["loss"]).all()
    assert any(isinstance(layer, keras.layers.Dropout) for layer in task.model.layers[2].layers)


def test_export_adds_the_model_to_a_tf_serving_models_config(trained, tmp_path, capsys):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    _, run_dir, _ = trained
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "other" base_path: "/models/other" '
                      'model_platform: "tensorflow" } }\n')
    for _ in range(2):  # exporting again updates the entry, never duplicates it
        status, _, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "prices",
                           "--models-config", config, "--serving-base", "/models/prices")
        assert status == 0
    parsed = text_format.Parse(config.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {m.name: m.base_path for m in parsed.model_config_list.config}
    assert entries == {"other": "/models/other", "prices": "/models/prices"}
    assert sorted(p.name for p in (tmp_path / "prices").iterdir()) == ["1", "2"]
    config.write_text("not a config {")
    status, _, err = cli(capsys, "export", run_dir, "--to", tmp_path / "prices", "--models-config", config)
    assert status == 2 and "is not a TF Serving model config" in err
    assert sorted(p.name for p in (tmp_path / "prices").iterdir()) == ["1", "2"]  # nothing exported
