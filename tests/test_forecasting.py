"""ForecastingTask end to end: train, evaluate, save/load, predict, export, CLI."""

import json
import re
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

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
        assert set(values) == METRIC_KEYS | {"relative_mae"}
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
    values = task.data.series[0].values
    start, stop = task.data.series[0].bounds["train"]
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
    frame = pd.DataFrame({"Date": pd.date_range("2001-01-01", periods=50),
                          "Adj Close": np.concatenate([np.full(30, 9.0), history[0, :, 0]])})
    np.testing.assert_allclose(task.predict(frame)["forecast"], forecast[:1], rtol=1e-5)  # last 20 rows
    with pytest.raises(UserError, match="^predict: the data frame: has 19 rows, the model needs the last 20"):
        task.predict(frame.iloc[-19:])
    with pytest.raises(UserError, match="^predict: the data frame lacks column\\(s\\) 'Adj Close'"):
        task.predict(frame.rename(columns={"Adj Close": "Close"}))


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
    # What predict refuses fails the request (a NaN forecast would pass as an answer).
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    for bad, message in ((np.nan, "`history` has NaN or infinite values"),
                         (0.0, "`history` must be > 0: this model was trained with data.scaling = log")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
            signature(history=tf.constant(np.where(np.arange(20)[:, None] == 7, bad, history[0]),
                                          tf.float32)[None])
    assert signature(history=tf.constant(history))["forecast"].shape == (6, 3, 1)


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
        data = self.config.data
        inputs = keras.Input((data.window, len(self.columns)))
        x = keras.layers.Conv1D(8, 3, padding="causal", activation="relu")(inputs)
        x = keras.layers.Dense(data.horizon * self.n_targets)(x)
        outputs = keras.layers.Reshape((data.window, data.horizon, self.n_targets))(x)
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
    assert task.data.series[0].values.shape[0] == 3270  # AAPL, 2000-2013
    assert metrics["n_examples"] > 400
    assert [set(row) for row in metrics["backtest"]] == [
        {"origin", "model", "last_value", "drift", "seasonal_naive"}] * 3
    # Split-adjusted prices: no day loses more than half (a split would).
    assert np.exp(np.diff(np.log(task.data.series[0].values[:, 0]))).min() > 0.45


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.assign(**{"Adj Close": f["Adj Close"].where(f.index != 5)}),
     "column 'Adj Close' has 1 missing or non-numeric values"),
    (lambda f: f.assign(**{"Adj Close": -f["Adj Close"]}), "scaling = 'log' needs positive values"),
    (lambda f: f.head(25), "too few for window=20 \\+ horizon=3"),
    (lambda f: f.assign(Date="2020-01-01"), "series length 1; 299 rows with a repeated date were dropped"),
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


def test_unsorted_and_duplicate_dates_are_sorted_and_dropped(prices, tmp_path, capsys):
    frame = pd.read_csv(prices)
    shuffled = pd.concat([frame, frame.iloc[[10]]]).sample(frac=1.0, random_state=0)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    task = ForecastingTask.from_recipe("price_forecasting",
                                       {**TINY, "data.path": str(tmp_path / "shuffled.csv")})
    task.prepare()
    np.testing.assert_allclose(task.data.series[0].values[:, 0], frame["Adj Close"])
    assert task.data.dropped_duplicates == 1
    assert capsys.readouterr().err == ("notice: 1 of 301 rows repeat a date and were dropped "
                                       "(the last row of each date is kept)\n")


def test_two_series_read_as_one_are_named_in_a_notice(prices, tmp_path, capsys):
    """Without data.group_column, a table of two series kept one row per date: half the
    rows were gone with a word in metrics.json only."""
    frame = pd.read_csv(prices)
    pd.concat([frame, frame.assign(Ticker="IBM")]).to_csv(tmp_path / "two.csv", index=False)
    task = ForecastingTask.from_recipe("price_forecasting", {
        **TINY, "data.path": str(tmp_path / "two.csv"), "data.group_column": "", "data.group": ""})
    task.prepare()
    assert capsys.readouterr().err == (
        "notice: 300 of 600 rows repeat a date and were dropped (the last row of each date is "
        "kept); several series in one table? name the column that tells them apart in "
        "data.group_column\n")


# Command line -----------------------------------------------------------------------------


def test_a_table_without_dates_trains_from_the_command_line_in_file_order(prices, tmp_path, capsys):
    """`--set data.date_column=''`, as `data.group_column=''`: the rows are the steps."""
    values = pd.read_csv(prices)[["Adj Close"]]
    values.to_csv(tmp_path / "steps.csv", index=False)
    sets = [x for k, v in {**TINY, "data.path": tmp_path / "steps.csv", "data.date_column": "",
                           "data.group_column": "", "data.group": ""}.items()
            for x in ("--set", f"{k}={v}")]
    status, _, err = cli(capsys, "train", "price_forecasting", "--run-dir", tmp_path / "run", *sets)
    assert status == 0, err
    task = Task.load(tmp_path / "run")
    last = values.iloc[100:140]  # its last `window` rows, in file order, are the history
    forecast = task.predict(last)
    assert "dates" not in forecast
    np.testing.assert_array_equal(forecast["forecast"], task.predict(
        last.to_numpy()[-TINY["data.window"]:])["forecast"])


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
    status, out, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "models", "--version", "10")
    assert status == 0 and out.strip().endswith("10")
    shutil.copytree(tmp_path / "models" / "1", tmp_path / "models" / "9")
    status, _, err = cli(capsys, "predict", tmp_path / "models", other)
    assert status == 2 and err.rstrip().endswith(  # the newest: 10, not 9 (text order)
        f"is an export base folder; give one of its versions, e.g. {tmp_path / 'models' / '10'}")

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
    assert "AAPL daily adjusted close: 60 days -> next 5 days" in out  # the recipe's description
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


# Many series, known-future inputs, quantiles ------------------------------------------------

GLOBAL = {"data.group_column": "store", "data.group": "*", "data.date_column": "day",
          "data.target_columns": ["sales"], "data.feature_columns": ["temperature"],
          "data.future_columns": ["promo"], "data.calendar": ["day_of_week", "month"],
          "data.scaling": "difference", "data.window": 14, "data.horizon": 3, "data.season": 7,
          "model.units": 16, "model.quantiles": [0.1, 0.5, 0.9], "model.calibrate": True,
          "train.loss": "pinball",
          "train.epochs": 8, "train.learning_rate": 0.005, "export.warmup_examples": 3}
LEVELS = [0.1, 0.5, 0.9]


def write_stores(path, rows=240, seed=0):
    """Daily sales of three stores of different sizes: a weekend lift, promotions known
    ahead (`promo`), a past-only covariate (`temperature`)."""
    rng = np.random.default_rng(seed)
    frames = []
    for store, level in (("north", 10.0), ("south", 40.0), ("west", 25.0)):
        days = pd.date_range("2021-03-01", periods=rows, freq="D")
        promo = (rng.random(rows) < 0.2).astype(float)
        sales = level + 4 * (days.day_of_week >= 5) + 6 * promo + rng.normal(0, 0.5, rows)
        frames.append(pd.DataFrame({"store": store, "day": days.strftime("%Y-%m-%d"), "sales": sales,
                                    "promo": promo, "temperature": rng.normal(15, 5, rows)}))
    pd.concat(frames).sample(frac=1.0, random_state=seed).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    return write_stores(tmp_path_factory.mktemp("data") / "stores.csv")


@pytest.fixture(scope="module")
def global_run(stores, tmp_path_factory):
    """One model over three stores with a future column, calendar inputs and quantiles."""
    task = ForecastingTask.from_recipe("price_forecasting", {**GLOBAL, "data.path": str(stores)})
    task.fit(verbose=0)
    metrics = task.evaluate(backtest=3)
    run_dir = tmp_path_factory.mktemp("global")
    task.save(run_dir, metrics)
    return task, run_dir, metrics


def test_the_models_decoding_turns_the_training_targets_back_into_the_future(global_run):
    """Training targets (window units, standardized) and the saved model's `DecodeForecast`
    are one encoding: decoding the targets gives each window's raw future values."""
    from rnn_tasks.preprocessing.scaling import DecodeForecast

    task, _, _ = global_run
    windows = task.data.windows["train"]
    _, targets = task.training_data("train")
    decode = next(layer for layer in task.model.layers if isinstance(layer, DecodeForecast))
    decoded = decode([windows.history.astype("float32"), targets])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(decoded), windows.future, rtol=1e-4)


def test_series_of_any_scale_share_one_model_on_their_own_scales(tmp_path):
    """Differences are read in each window's unit: a store 1000 times larger neither
    swamps the small stores' forecasts nor widens their (or their baselines') intervals."""
    frame = pd.read_csv(write_stores(tmp_path / "stores.csv", seed=2))
    frame.loc[frame.store == "west", "sales"] *= 1000
    task = ForecastingTask.from_recipe("price_forecasting", {**GLOBAL, "train.epochs": 3}, data=frame)
    task.fit(verbose=0)
    for store in ("north", "south"):
        metrics = task.evaluate()["groups"][store]
        last_value = metrics["baselines"]["last_value"]
        assert metrics["mae"] < 3 * last_value["mae"], (store, metrics["mae"], last_value["mae"])
        for scores in (metrics, last_value):  # the pooled errors' scale was the big store's
            assert scores["interval_width"] < 10 * last_value["mae"], (store, scores)


def test_calendar_features_match_pandas():
    from rnn_tasks.preprocessing.calendar import CYCLES, calendar_values

    dates = pd.Series(pd.date_range("1899-12-25", "2101-03-02 23:00", periods=20011)).dt.floor("s")
    dates = pd.concat([dates, pd.Series(pd.to_datetime(
        ["1969-12-31 23:59:59", "1970-01-01", "2000-02-29 12:00", "2100-02-28", "2100-03-01"],
        format="ISO8601"))])
    seconds = dates.astype("datetime64[s]").astype("int64").to_numpy()
    values = calendar_values(seconds.reshape(-1, 1), list(CYCLES))  # any shape
    expected = {"day_of_week": dates.dt.day_of_week, "day_of_month": dates.dt.day,
                "month": dates.dt.month, "day_of_year": dates.dt.day_of_year, "hour": dates.dt.hour}
    for name, column in expected.items():
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(values[name])[:, 0], column, name)


def test_pinball_loss_and_interval_metrics_against_numpy_loops():
    from rnn_tasks.losses import PinballLoss
    from rnn_tasks.metrics import interval_metrics

    rng = np.random.default_rng(0)
    actual = rng.normal(size=(5, 3, 2))
    quantiles = np.sort(rng.normal(size=(5, 3, 2, 3)), axis=-1)
    losses, inside, widths = [], [], []
    for index in np.ndindex(actual.shape):
        for level, q in zip(LEVELS, quantiles[index]):
            error = actual[index] - q
            losses.append(level * error if error >= 0 else (level - 1) * error)
        inside.append(quantiles[index][0] <= actual[index] <= quantiles[index][-1])
        widths.append(quantiles[index][-1] - quantiles[index][0])
    metrics = interval_metrics(actual, quantiles, LEVELS)
    assert metrics["pinball"] == pytest.approx(np.mean(losses))
    assert metrics["coverage"] == pytest.approx(np.mean(inside))
    assert metrics["interval_width"] == pytest.approx(np.mean(widths))
    loss = PinballLoss(LEVELS)(actual.astype("float32"), quantiles.astype("float32"))
    assert float(loss) == pytest.approx(np.mean(losses), rel=1e-5)


def test_every_series_is_split_by_its_own_dates_and_windows_never_mix(global_run):
    task, _, _ = global_run
    assert task.data.names == ["north", "south", "west"]
    frame = pd.read_csv(task.config.data.path)
    for index, series in enumerate(task.data.series):
        rows = frame[frame["store"] == series.name].sort_values("day")
        np.testing.assert_allclose(series.values[:, 0], rows["sales"])  # sorted, its rows only
        assert series.bounds == {"train": (0, 168), "validation": (168, 204), "test": (204, 240)}
        for split, windows in task.data.windows.items():
            mine = windows.take(windows.series == index)
            assert len(mine) > 0
            last_target = mine.starts + 14 + 3 - 1  # no target beyond the split
            assert last_target.max() < series.bounds[split][1]
            np.testing.assert_allclose(mine.history[:, 0, 0], series.values[mine.starts, 0])
            np.testing.assert_allclose(mine.known[:, -1, :, 0],
                                       series.known[mine.starts[:, None] + 14 + np.arange(3), 0])


def test_pooled_and_per_group_metrics_against_numpy(global_run):
    task, run_dir, metrics = global_run
    windows = task.data.windows["test"]
    predicted = task.predict(task.final_step_inputs(windows))
    actual = windows.future[:, -1]
    last = np.repeat(windows.history[:, -1:, :1], 3, axis=1)
    assert metrics["mae"] == pytest.approx(np.abs(predicted["forecast"] - actual).mean(), rel=1e-5)
    assert metrics["relative_mae"] == pytest.approx(metrics["mae"] / np.abs(last - actual).mean())
    low, high = predicted["quantiles"][..., 0], predicted["quantiles"][..., -1]
    assert metrics["coverage"] == pytest.approx(((actual >= low) & (actual <= high)).mean())
    assert metrics["interval_width"] == pytest.approx((high - low).mean(), rel=1e-5)
    assert set(metrics["groups"]) == {"north", "south", "west"}
    assert sum(g["n_examples"] for g in metrics["groups"].values()) == metrics["n_examples"]
    for index, name in enumerate(task.data.names):
        rows = windows.series == index
        group = metrics["groups"][name]
        assert group["mae"] == pytest.approx(
            np.abs(predicted["forecast"][rows] - actual[rows]).mean(), rel=1e-5)
        naive = np.abs(np.diff(task.data.series[index].values[:168, 0])).mean()
        assert group["mase"] == pytest.approx(group["mae"] / naive, rel=1e-5)
        assert group["baselines"]["last_value"]["relative_mae"] == 1.0
    assert json.loads((run_dir / "metrics.json").read_text())["groups"]["west"]["mae"] == \
        metrics["groups"]["west"]["mae"]


def test_quantiles_never_cross_and_the_forecast_is_the_median(global_run):
    task, _, _ = global_run
    windows = task.data.windows["test"]
    outputs = task.predict(task.final_step_inputs(windows))
    assert outputs["quantiles"].shape == (len(windows.history), 3, 1, 3)
    assert (np.diff(outputs["quantiles"], axis=-1) >= 0).all()
    np.testing.assert_array_equal(outputs["forecast"], outputs["quantiles"][..., 1])


def test_calibration_makes_each_level_hold_on_the_validation_windows(global_run):
    task, _, _ = global_run
    windows = task.data.windows["validation"]
    quantiles = task.predict(task.final_step_inputs(windows))["quantiles"]
    below = (windows.future[:, -1, ..., None] <= quantiles).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(below[[0, 2]], [0.1, 0.9], atol=0.03)
    shift = task.model.get_layer("calibration").get_weights()[0]  # (H, T, Q), standardized
    assert shift.shape == (3, 1, 3) and (shift[..., 1] == 0).all()  # the median stays


def test_the_model_reads_the_known_future_and_beats_the_baselines(global_run):
    task, _, metrics = global_run
    inputs = task.final_step_inputs(task.data.windows["test"].take(slice(0, 8)))
    base = task.predict(inputs)["forecast"]
    promoted = task.predict({**inputs, "future": np.ones_like(inputs["future"])})["forecast"]
    assert (promoted - base).mean() > 2  # a promotion adds 6 to sales
    shifted = task.predict({**inputs, "future_dates": inputs["future_dates"] + 86400})["forecast"]
    assert not np.allclose(shifted, base)  # the weekday moved
    for values in metrics["baselines"].values():
        assert metrics["mae"] < values["mae"]
    assert 0.5 < metrics["coverage"] <= 1.0
    # The baselines' intervals come from their training errors: about 80 % inside.
    assert 0.6 < metrics["baselines"]["last_value"]["coverage"] < 0.95


def test_a_batch_that_mixes_series_predicts_each_as_alone(global_run):
    task, _, _ = global_run
    windows = task.data.windows["test"]
    mixed = windows.take(np.array([0, np.argmax(windows.series == 1), np.argmax(windows.series == 2)]))
    together = task.predict(task.final_step_inputs(mixed))["quantiles"]
    for i in range(3):
        alone = task.predict(task.final_step_inputs(mixed.take(slice(i, i + 1))))["quantiles"]
        np.testing.assert_allclose(alone[0], together[i], rtol=1e-5)


def test_global_export_serves_history_future_and_dates_in_a_tensorflow_only_process(
        global_run, tmp_path):
    task, _, _ = global_run  # Task.load of this run: test_cli_predicts_from_a_file_...
    path = task.export(tmp_path / "models")
    assert non_core_ops(path) == []
    inputs = task.final_step_inputs(task.data.windows["test"].take(slice(0, 5)))
    assert inputs["future_dates"].dtype == np.int64
    served = serve_in_tensorflow_only_process(path, {k: v.tolist() for k, v in inputs.items()},
                                              tmp_path)
    assert set(served) == {"forecast", "quantiles"}
    expected = task.predict(inputs)
    for name in ("forecast", "quantiles"):
        np.testing.assert_allclose(np.array(served[name]), expected[name], rtol=1e-5, atol=1e-5)
    # What predict refuses fails the request, in words about the request: rows that do
    # not pair up (not broadcast), shapes other than the signature's, milliseconds.
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    shape = f"`history` must have shape [batch, {', '.join(map(str, inputs['history'].shape[1:]))}]"
    malformed = [({"history": inputs["history"][:, 1:]}, shape), ({"history": inputs["history"][0]}, shape),
                 ({"future_dates": inputs["future_dates"][..., None]}, "`future_dates` must have shape "
                                                                       "[batch, 3], got"),
                 ({"future_dates": inputs["future_dates"] * 1000}, "`future_dates` must be Unix "
                  "seconds of dates in the years 1677 to 2262 (milliseconds? divide them by 1000)")]
    for name in ("future", "future_dates"):
        for cut in ({name: inputs[name][:1]}, {k: v[:1] for k, v in inputs.items() if k != name}):
            malformed.append((cut, f"`{name}` must have one row per `history` row"))
    for change, message in malformed:
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
            signature(**{k: tf.constant(v) for k, v in {**inputs, **change}.items()})
    with pytest.raises(UserError, match=re.escape("predict: `future_dates` must be Unix seconds of "
                                                  "dates in the years 1677 to 2262")):
        task.predict({**inputs, "future_dates": inputs["future_dates"] * 1000})


def test_backtest_is_a_labelled_table_with_mean_and_spread(global_run, tmp_path, capsys):
    task, run_dir, metrics = global_run
    rows = metrics["backtest"]
    assert len(rows) == 3 and rows[-1]["origin"] == "2021-10-23"  # the last window's last day
    assert set(rows[0]["model"]) >= {"mae", "mase", "relative_mae", "coverage", "pinball"}
    maes = [row["drift"]["mae"] for row in rows]
    summary = metrics["backtest_summary"]["drift"]["mae"]
    assert summary == pytest.approx({"mean": np.mean(maes), "std": np.std(maes)})
    table = task.backtest_table(metrics)
    assert list(table.columns[:2]) == ["origin", "forecaster"]
    assert list(table["origin"][-8:]) == ["mean"] * 4 + ["std"] * 4
    status, out, err = cli(capsys, "evaluate", run_dir, "--backtest", "2")
    assert status == 0 and len(json.loads(out)["backtest"]) == 2
    written = pd.read_csv(run_dir / "backtest.csv")
    assert len(written) == 2 * 4 + 8 and "relative_mae" in written and err == ""
    status, _, _ = cli(capsys, "evaluate", run_dir, "--data", task.config.data.path, "--backtest", "3")
    assert status == 0 and len(pd.read_csv(run_dir / "backtest-stores.csv")) == 3 * 4 + 8
    assert pd.read_csv(run_dir / "backtest.csv").equals(written)  # the run's own kept


def test_report_states_units_and_plots_the_interval_fan(global_run):
    _, run_dir, _ = global_run
    report = (run_dir / "report.md").read_text()
    assert "| mase | relative_mae | coverage | interval_width | pinball |" in report
    assert "in the units of sales" in report and "0.1-0.9 quantile interval (nominal 80%)" in report
    assert (run_dir / "plots" / "forecast.png").stat().st_size > 10_000


def test_the_plot_can_show_a_chosen_window(global_run, tmp_path):
    task, _, metrics = global_run
    task.plot(tmp_path / "new" / "plots", metrics, span=("2021-10-10", "2021-10-20"))  # made
    assert (tmp_path / "new" / "plots" / "forecast.png").stat().st_size > 10_000
    with pytest.raises(UserError, match="no test forecast origin lies within"):
        task.plot(tmp_path, metrics, span=("2030-01-01", "2030-02-01"))


def test_cli_predicts_from_a_file_that_ends_with_the_rows_to_forecast(global_run, tmp_path, capsys):
    task, run_dir, _ = global_run
    frame = pd.read_csv(task.config.data.path)
    north = frame[frame["store"] == "north"].sort_values("day").iloc[-20:].copy()
    north.loc[north.index[-3:], ["sales", "temperature"]] = np.nan  # still to forecast
    north.to_csv(tmp_path / "north.csv", index=False)
    status, out, _ = cli(capsys, "predict", run_dir, tmp_path / "north.csv")
    assert status == 0
    series = task.data.series[0]
    expected = task.predict({"history": series.values[-17:-3], "future": series.known[-3:],
                             "future_dates": series.seconds[-3:]})
    np.testing.assert_allclose(np.array(json.loads(out)["quantiles"]), expected["quantiles"],
                               rtol=1e-5)
    assert json.loads(out)["series"] == ["north"]
    assert json.loads(out)["dates"] == [north["day"].iloc[-3:].tolist()]  # the rows to forecast
    from_frame = Task.load(run_dir).predict(pd.read_csv(tmp_path / "north.csv"))  # as the file
    np.testing.assert_allclose(from_frame["quantiles"], expected["quantiles"], rtol=1e-5)
    zoned = pd.read_csv(tmp_path / "north.csv").assign(day=lambda f: f["day"] + "T00:00+09:00")
    from_zoned = Task.load(run_dir).predict(zoned)  # the offset dropped: the same calendar days
    np.testing.assert_allclose(from_zoned["quantiles"], expected["quantiles"], rtol=1e-5)
    assert from_zoned["dates"].tolist() == [zoned["day"].iloc[-3:].tolist()]  # as written, offsets kept
    shuffled = task.predict(north.sample(frac=1.0, random_state=0))  # read in date order
    np.testing.assert_allclose(shuffled["quantiles"], expected["quantiles"], rtol=1e-5)
    with pytest.raises(UserError, match="also reads 'future', 'future_dates'; pass a dict"):
        task.predict(series.values[-14:])
    with pytest.raises(UserError, match="^predict: the inputs lack 'future_dates' \\(this model reads "
                                        "'history', 'future', 'future_dates'\\)$"):
        task.predict({"history": series.values[-17:-3], "future": series.known[-3:]})
    filled = frame[frame["store"] == "north"].sort_values("day").iloc[-20:]  # nothing to forecast
    filled.to_csv(tmp_path / "filled.csv", index=False)
    status, _, err = cli(capsys, "predict", run_dir, tmp_path / "filled.csv")
    assert status == 2 and "the last 3 rows (by date) are the steps to forecast: leave their 'sales' cells " \
                           "empty and fill the rows before them (of the last 17 rows, 0 have them " \
                           "empty)" in err
    repeated = north.copy()
    repeated.loc[repeated.index[-2], "day"] = repeated.loc[repeated.index[-3], "day"]
    repeated.to_csv(tmp_path / "repeated.csv", index=False)
    status, _, err = cli(capsys, "predict", run_dir, tmp_path / "repeated.csv")
    assert status == 2 and "1 row(s) repeat a date; a forecast's table holds one row per step" in err


@pytest.mark.parametrize("overrides, message", [
    ({"data.group": ["north", "east"]}, "`group` must be one of the values of column 'store' "
                                        "\\('north', 'south', 'west'\\), got 'east'"),
    ({"data.future_columns": ["promo", "sales"]}, "named twice"),
    ({"model.quantiles": [0.1, 0.9]}, "must hold 0.5"),
    ({"model.quantiles": [0.5, 0.1]}, "must be increasing"),
    ({"train.loss": "mae"}, 'set `train.loss = "pinball"`'),
    ({"data.calendar": ["week"]}, "`data.calendar` must be a list of one of 'day_of_week'"),
])
def test_bad_global_recipes_are_refused(stores, overrides, message):
    with pytest.raises(UserError, match=message):
        ForecastingTask.from_recipe(
            "price_forecasting", {**GLOBAL, "data.path": str(stores), **overrides}).prepare()


def test_evaluate_file_names_and_counts_the_series_too_short_to_score(global_run, tmp_path, capsys):
    task, _, _ = global_run
    frame = pd.read_csv(task.config.data.path)
    tiny = frame[frame["store"] == "west"].iloc[:10].assign(store="tiny")  # < window + horizon
    pd.concat([frame, tiny]).to_csv(tmp_path / "more.csv", index=False)
    capsys.readouterr()
    metrics = task.evaluate_file(tmp_path / "more.csv")
    assert metrics["dropped_short_series"] == 1 and "tiny" not in metrics["groups"]
    assert capsys.readouterr().err == (
        f"notice: 1 of 4 series in {tmp_path / 'more.csv'} are too short for window=14 + "
        "horizon=3 and left out: 'tiny'\n")


def test_a_column_of_step_numbers_as_dates_says_to_leave_the_date_column_unset():
    from rnn_tasks.data.readers import parse_dates

    with pytest.raises(UserError, match=re.escape(
            "data: column 't' has a non-date value 0; expected ISO 8601") + ".*" + re.escape(
            "; for a column of step numbers (no dates), set data.date_column='' (and leave "
            "data.calendar empty): rows are then read in file order")):
        parse_dates(pd.Series([0, 1, 2], name="t"))
    with pytest.raises(UserError, match=re.escape(
            "; seconds since 1970? write them as dates (pandas.to_datetime(column, unit='s'))")):
        parse_dates(pd.Series([1577836800, 1577923200], name="t"))
