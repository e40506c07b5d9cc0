"""The Python API as a Keras user takes it: load a run then export, subclass and load
as the subclass, save what was evaluated, pass a DataFrame, decode per call."""

import json
import re
import shutil
import subprocess
import sys
import warnings
from types import SimpleNamespace

import h5py
import keras
import numpy as np
import pandas as pd
import pytest

from rnn_tasks.errors import UserError
from rnn_tasks.templates import (
    CaptioningTask,
    ForecastingTask,
    SentimentTask,
    Task,
    TranslationTask,
)
from tests.test_forecasting import TINY, ConvForecaster, write_prices


def test_load_then_export_in_a_fresh_process(forecasting_run, tmp_path):
    """The README's example: `Task.load(run)` then `export`, nothing prepared first."""
    _, run_dir, _ = forecasting_run
    code = ("from rnn_tasks.templates import Task; "
            f"print(Task.load({str(run_dir)!r}).export({str(tmp_path / 'exports')!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    version = tmp_path / "exports" / "1"
    assert result.stdout.strip().endswith(str(version))
    assert (version / "assets.extra" / "tf_serving_warmup_requests").stat().st_size > 0


def test_a_subclass_round_trips_as_itself(prices_csv, tmp_path, monkeypatch):
    task = ConvForecaster.from_recipe("price_forecasting", {**TINY, "data.path": str(prices_csv)})
    task.fit(verbose=0)
    metrics = task.evaluate()
    task.save(tmp_path / "run")  # evaluated: metrics, plots and report without passing them
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["mae"] == metrics["mae"]
    assert (tmp_path / "run" / "report.md").is_file()
    assert (tmp_path / "run" / "plots" / "forecast.png").is_file()

    with pytest.raises(UserError, match="already holds a finished run; save to another folder or "
                                        "pass overwrite=True"):
        task.save(tmp_path / "run")
    task.save(tmp_path / "run", overwrite=True)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["mae"] == metrics["mae"]

    loaded = ConvForecaster.load(tmp_path / "run")
    assert type(loaded) is ConvForecaster
    template = tmp_path / "run" / "template.json"  # trained in a notebook, loaded from a module
    template.write_text(template.read_text().replace("tests.test_forecasting.", "__main__."))
    assert type(ConvForecaster.load(tmp_path / "run")) is ConvForecaster
    on_frame = ConvForecaster.load(tmp_path / "run", data=pd.read_csv(prices_csv))  # not data.path
    assert on_frame.evaluate()["mae"] == pytest.approx(metrics["mae"], rel=1e-5)
    history = on_frame.fit(tmp_path / "again", verbose=0)
    monkeypatch.setenv("HOME", str(tmp_path))  # "~" as the shell has it, as in save and load
    monkeypatch.chdir(tmp_path / "run")
    assert on_frame.fit("~/again", verbose=0).history == history.history  # anew, no backups
    assert not (tmp_path / "run" / "~").exists()
    on_frame.save(tmp_path / "refit")
    assert json.loads((tmp_path / "refit" / "template.json").read_text())["trained_on"] == "frame"
    with pytest.raises(UserError, match="trained on a DataFrame"):
        ConvForecaster.load(tmp_path / "refit").evaluate()
    history = task.data.windows["test"][0][:4].astype("float32")
    np.testing.assert_allclose(loaded.predict(history)["forecast"], task.predict(history)["forecast"],
                               rtol=1e-5)
    with pytest.raises(UserError, match="was trained by __main__.ConvForecaster; load it "
                                        "with that class, ConvForecaster.load"):
        Task.load(tmp_path / "run")
    assert type(Task.load(tmp_path / "run", as_template=True)) is ForecastingTask
    # A notebook's own class named like a template is not that template.
    template.write_text(template.read_text().replace("__main__.ConvForecaster",
                                                     "__main__.ForecastingTask"))
    with pytest.raises(UserError, match="was trained by __main__.ForecastingTask; load it"):
        ForecastingTask.load(tmp_path / "run")


def test_a_hook_that_returns_no_model_is_named(prices_csv):
    class Broken(ForecastingTask):
        def build_model(self):
            super().build_model()  # forgot `return`

    task = Broken.from_recipe("price_forecasting", {**TINY, "data.path": str(prices_csv)})
    with pytest.raises(UserError, match="Broken.build_model must return a keras.Model, got NoneType"):
        task.fit(verbose=0)


class WrongInputs(ConvForecaster):
    """Reads one feature more than the template feeds."""

    def build_model(self):
        data = self.config.data
        inputs = keras.Input((data.window, len(self.columns) + 1))
        x = keras.layers.Dense(data.horizon * self.n_targets)(inputs)
        return keras.Model(inputs, keras.layers.Reshape(
            (data.window, data.horizon, self.n_targets))(x))


class WrongOutputs(ConvForecaster):
    """Forgets the horizon axis of the forecasts."""

    def build_model(self):
        data = self.config.data
        inputs = keras.Input((data.window, len(self.columns)))
        return keras.Model(inputs, keras.layers.Dense(data.horizon)(inputs))


class DataAsFrame(ForecastingTask):
    def load_data(self):
        return self.read_frame()


class DataAsList(ForecastingTask):
    def training_data(self, split):
        return list(super().training_data(split))


def test_a_callbacks_step_that_returns_nothing_is_named(prices_csv):
    class NoCallbacks(ForecastingTask):
        def callbacks(self, run_dir=None, resume=False):
            super().callbacks(run_dir, resume)  # forgot `return`

    task = NoCallbacks.from_recipe("price_forecasting", {**TINY, "data.path": str(prices_csv)})
    with pytest.raises(UserError, match="^NoCallbacks.callbacks must return a list of Keras "
                                        "callbacks, got NoneType$"):
        task.fit(verbose=0)


class ServesATensor(ForecastingTask):
    def serve(self, inputs):
        return super().serve(inputs)["forecast"]


class WarmupOfAnotherShape(ForecastingTask):
    def warmup_inputs(self, count):
        return {"history": np.ones((count, 7, 1))}


class WarmupAsArray(ForecastingTask):
    def warmup_inputs(self, count):
        return np.ones((count, 20, 1))


@pytest.mark.parametrize("task_class, message", [
    (WarmupOfAnotherShape, "WarmupOfAnotherShape.warmup_inputs returned `history` of shape [3, 7, 1]; "
                           "the serving signature takes [batch, 20, 1]"),
    (WarmupAsArray, "WarmupAsArray.warmup_inputs must return a dict {input name: array}, got ndarray"),
    (WrongInputs, "WrongInputs.build_model returned a model whose input shape(s) are (None, 20, 2); "
                  "the template feeds it (None, 20, 1) (None: the batch, or any length)"),
    (WrongOutputs, "WrongOutputs.build_model returned a model whose output shape(s) are "
                   "(None, 20, 3); the targets have shape(s) (None, 20, 3, 1) (an output may add one "
                   "last axis, for classes or quantiles)"),
    (DataAsFrame, "DataAsFrame.load_data must return a ForecastData, got DataFrame"),
    (DataAsList, "DataAsList.training_data('train') must return (inputs, targets) arrays or a "
                 "tf.data.Dataset of such batches, got list"),
])
def test_a_subclass_hook_that_returns_the_wrong_thing_is_named(prices_csv, task_class, message):
    task = task_class.from_recipe("price_forecasting", {**TINY, "data.path": str(prices_csv)})
    with pytest.raises(UserError) as error:
        task.fit(verbose=0)
    assert str(error.value) == message
    assert task.model is None  # refused before the core was first called


def test_a_template_without_its_steps_names_them(monkeypatch):
    import rnn_tasks.templates.task as task_module

    monkeypatch.setattr(task_module, "TASKS", dict(task_module.TASKS))  # registered for this test only

    class Incomplete(Task):
        name = "incomplete"

    for build in (Incomplete.from_dict, Task.from_dict):
        with pytest.raises(UserError, match="Incomplete does not implement build_model, evaluate, "
                                            "evaluate_file, input_list, inputs_from_files"):
            build({"task": "incomplete"})


def test_a_data_frame_trains_in_place_of_a_file(tmp_path):
    frame = pd.read_csv(write_prices(tmp_path / "p.csv", rows=200))
    task = ForecastingTask.from_recipe("price_forecasting", {**TINY, "train.epochs": 1}, data=frame)
    epochs = []  # a callback of one's own runs beside the template's, as in Keras's fit
    task.fit(verbose=False, callbacks=keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epochs.append(logs["val_loss"])))
    assert len(epochs) == 1 and np.isfinite(epochs[0])
    assert task.config.data.path is None  # the recipe still says where data would come from
    metrics = task.evaluate()
    assert metrics["n_examples"] > 0
    task.save(tmp_path / "run")
    # The report's title says that the recipe's own description no longer fits the run.
    assert (tmp_path / "run" / "report.md").read_text().splitlines()[0] == (
        "# price_forecasting: AAPL daily adjusted close: 60 days -> next 5 days (the recipe's "
        "description; run with data.window=20, data.horizon=3, on a DataFrame)")
    loaded = Task.load(tmp_path / "run")  # predicts, exports; its data is not the recipe's
    with pytest.raises(UserError, match="^ForecastingTask: this run was trained on a DataFrame "
                                        "\\(data=\\), which a run directory does not keep; load it "
                                        "with data=frame, or score a file with evaluate_file"):
        loaded.evaluate()
    again = Task.load(tmp_path / "run", data=frame)
    assert again.evaluate()["mae"] == pytest.approx(metrics["mae"], rel=1e-6)
    fewer = Task.load(tmp_path / "run", data=frame.iloc[:150])  # any frame, not only its own
    assert fewer.evaluate()["n_examples"] < metrics["n_examples"]
    with pytest.raises(UserError, match="the data frame lacks column\\(s\\) 'Adj Close'"):
        ForecastingTask.from_recipe("price_forecasting", TINY, data=frame.drop(columns="Adj Close")).prepare()


def test_predict_returns_text_and_decodes_per_call(translation_run):
    task, _, _ = translation_run
    source = ["March 3, 2021", "the 1st of May, 1999"]
    default = task.predict(source)
    assert all(type(text) is str for text in default["translation"])
    assert default["log_probability"].shape == (2,) and (default["log_probability"] < 0).all()

    greedy = task.predict(source, method="greedy")
    one_beam = task.predict(source, method="beam", beam_width=1)
    assert greedy["translation"].tolist() == one_beam["translation"].tolist()
    np.testing.assert_allclose(greedy["log_probability"], one_beam["log_probability"], rtol=1e-5)

    n_best = task.predict(source, method="beam", beam_width=3, num_return=3, length_penalty=0.0)
    assert n_best["translation"].shape == (2, 3)
    scores = n_best["log_probability"]
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first (no length penalty: by log-probability)
    assert n_best["translation"][:, 0].tolist() == task.predict(
        source, method="beam", beam_width=3, length_penalty=0.0)["translation"].tolist()
    assert task.predict(source, method="beam", beam_width=3, num_return=np.int64(3),
                        length_penalty=0.0)["translation"].tolist() == n_best["translation"].tolist()
    with pytest.raises(UserError, match="num_return=2 needs method='beam'"):
        task.predict(source, method="greedy", num_return=2)
    with pytest.raises(UserError, match="^predict: `num_return` must be an integer >= 1"):
        task.predict(source, num_return=True)
    with pytest.raises(UserError, match="^predict: `beam_width` must be an integer >= 1"):
        task.predict(source, beam_width=0)


@pytest.mark.parametrize("run", ["translation_run", "captioning_run"])
def test_the_start_token_and_padding_are_never_generated(run, request):
    trained, run_dir, _ = request.getfixturevalue(run)
    task = Task.load(run_dir)  # a copy whose decoder can be spoiled
    vocabulary = task.target_vectorizer().get_vocabulary()
    logits = task.part("decoder").get_layer("logits")
    kernel, bias = logits.get_weights()
    bias[[0, vocabulary.index("[start]")]] = 100.0  # the likeliest by far, at every step
    logits.set_weights([kernel, bias])
    inputs = trained.warmup_inputs(3)
    for method in ("greedy", "beam"):
        result = task.predict(inputs, method=method)
        texts = result[task.output_name].tolist()
        assert not any("[start]" in text for text in texts), (method, texts)
        # Neither padding (dropped from the text): every generated token had the
        # probability the two boosted ones left over, about e^-100.
        assert (result["log_probability"] < -90).all(), (method, result["log_probability"])


def test_the_decoder_has_model_layers_recurrent_layers(pairs_tsv):
    task = TranslationTask.from_recipe("translation", {"data.path": str(pairs_tsv), "model.units": 8,
                                                       "model.embedding_dim": 8, "model.layers": 2})
    task.prepare()
    core = task.build_model()
    decoder = core.get_layer("decoder")
    recurrent = [layer for layer in decoder.layers if type(layer).__name__.startswith("LayerNorm")]
    assert task.config.model.cell == "gru"  # one state per layer
    assert len(recurrent) == 2 and len(decoder.inputs) == 3 + 2  # tokens, memory, source, 2 states


@pytest.mark.parametrize("call, message", [
    (lambda t, run: t.predict("abc"), "`history` must be real numbers, got text values"),
    (lambda t, run: t.predict({"hist": np.ones((20, 1))}), "the inputs are named 'history', got 'hist'"),
    (lambda t, run: t.predict(np.full((20, 1), np.nan)), "missing, infinite or too large values"),
    (lambda t, run: t.predict(-np.ones((20, 1))), "values <= 0 (as float32, which rounds below "
                                                   "1.4e-45 to 0); this model (scaling = 'log')"),
    (lambda t, run: t.predict(np.full((20, 1), 1e-46)), "values <= 0 (as float32"),  # 0 in float32
    (lambda t, run: t.export("unused", version=1.5), "version must be an integer, got 1.5"),
    (lambda t, run: t.export(run / "recipe.toml"), "recipe.toml is a file, not a folder"),
    (lambda t, run: t.save(run), "already holds a finished run"),
    (lambda t, run: Task.load(run, overrides={"model.units": 8}), "load overrides model.units: fixed"),
    (lambda t, run: Task.load(run, overrides="model.units=8"), "overrides must be a dict"),
    (lambda t, run: t.predict({"history": np.ones((20, 1)), "future": np.ones((3, 1))}),
     "predict: this model does not read 'future' (it reads 'history')"),
    (lambda t, run: t.evaluate(backtest=-1), "evaluate: backtest must be a positive integer"),
    (lambda t, run: t.evaluate(backtest="3"), "backtest must be a positive integer (forecast origins) "
                                              "or None, got '3'"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting", data=pd.DataFrame(
        [[1, 2]], columns=["Adj Close", "Adj Close"])), "the data frame names column(s) 'Adj Close' more than once"),
    (lambda t, run: t.fit(run_dir=run), "already holds a finished run (model.keras); train into another folder"),
    (lambda t, run: t.fit(resume=True), "fit: resume=True needs run_dir"),
    (lambda t, run: t.fit(np.ones((4, 20, 1))), "fit: run_dir must be a path, got ndarray; a task "
     "trains on its recipe's data, or on a DataFrame given to from_recipe(source, overrides, "
     "data=frame), not on arrays passed to fit"),
    (lambda t, run: t.fit(callbacks=["early"]), "fit: callbacks must be a keras.callbacks.Callback or a "
                                                "list of them, got ['early']"),
    (lambda t, run: t.fit(verbose="loud"), "fit: verbose must be 'auto', 0, 1 or 2 (as Keras's fit), got 'loud'"),
    (lambda t, run: t.save(run / "new", metrics="nope"), "save: metrics must be the dict evaluate() returned"),
    (lambda t, run: t.save(run, overwrite="yes"), "save: overwrite must be True or False, got 'yes'"),
    (lambda t, run: t.predict(np.ones((20, 1), dtype=bool)), "`history` must be real numbers, got True/False"),
    (lambda t, run: t.predict(np.ones((20, 1)) + 1j), "`history` must be real numbers, got complex values"),
    (lambda t, run: t.evaluate_file(None), "the data path must be a path (a str or os.PathLike), got NoneType"),
    (lambda t, run: t.plot(None, {}), "plots_dir must be a path (a str or os.PathLike), got NoneType"),
    (lambda t, run: t.plot(run / "recipe.toml", {}), "recipe.toml is a file, not a folder"),
    (lambda t, run: t.plot(run / "recipe.toml" / "plots", {}), "recipe.toml is a file"),
    (lambda t, run: t.predict([["1"]] * 20), "`history` must be real numbers, got text values"),
    (lambda t, run: t.export(run.parent / "e", version=2**70), "must be a positive integer below 2**63"),
    (lambda t, run: Task.load(run, as_template="no"), "load: as_template must be True or False, got 'no'"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting", {"data.path": "p.csv"},
                                                data=pd.DataFrame({"Adj Close": [1.0]})),
     "give the data once: data= a DataFrame or the recipe's data.path ('p.csv'), not both"),
    (lambda t, run: t.plot(run.parent / "plots", {}, span="bad"),
     "plot: span must be (first, last) forecast origins, dates such as ('2020-01-01', '2020-03-31'); "
     "got 'bad'"),
    (lambda t, run: Task.load(None), "run_dir must be a path (a str or os.PathLike), got NoneType None"),
    (lambda t, run: Task.from_recipe(42), "recipe must be a path (a str or os.PathLike), got int 42"),
    (lambda t, run: t.save(run / "recipe.toml"), "recipe.toml is a file, not a folder"),
    (lambda t, run: t.export(None), "base_dir must be a path (a str or os.PathLike), got NoneType None"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting", data=[1, 2]),
     "data must be a pandas DataFrame, got list"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting",
                                                data=pd.DataFrame(columns=["Adj Close"])).fit(),
     "the data frame has no rows"),
    (lambda t, run: t.predict(pd.DataFrame([[1.0, 2.0]], columns=["Adj Close"] * 2)),
     "predict: the data frame names column(s) 'Adj Close' more than once"),
    (lambda t, run: t.predict(pd.DataFrame({"Adj Close": [1.0]}, index=pd.DatetimeIndex(
        ["2020-01-01"], name="Date"))), "'Date' is its index: make it a column with frame.reset_index()"),
    (lambda t, run: t.evaluate_file(pd.DataFrame({"Adj Close": [1.0] * 5})),
     "got a DataFrame; a DataFrame goes in data= (Task.from_recipe(..., data=frame), "
     "Task.load(run, data=frame))"),
    (lambda t, run: Task.load(run, overrides={"train.epoch": 2}), "unknown key `train.epoch`"),
    (lambda t, run: Task.load(run, overrides={1: 2}), "overrides: keys must be 'section.key' strings, got int 1"),
    (lambda t, run: ServesATensor.load(run, as_template=True).predict(np.ones((20, 1))),
     "ServesATensor.serve must return a dict {output name: tensor}, got "),
    (lambda t, run: Task.from_recipe("price_forecasting", 5), "overrides must be a dict "
     "{'section.key': value} or a list of 'section.key=value' strings, got int 5"),
    # The misspelt key, not the required `data.target_columns` it leaves unset in [data].
    (lambda t, run: Task.from_dict({"task": "forecasting", "model": {"unit": 8}}),
     "recipe: unknown key `model.unit` (allowed in [model]: cell,"),
    (lambda t, run: t.backtest_table(None), "backtest_table: needs the metrics of evaluate(backtest=K), "
                                            "got NoneType"),
    (lambda t, run: t.backtest_table({"mae": 1.0}), "evaluate(backtest=K), got metrics without one"),
    (lambda t, run: t.export(run.parent / "e", version=0), "export: version must be a positive integer"),
    (lambda t, run: t.evaluate(backtest=10**6), "evaluate: a backtest over 1000000 forecast origins "
                                                "asks for more than the data allows"),
    (lambda t, run: ForecastingTask({"task": "forecasting"}), "ForecastingTask(recipe) takes a "
     "resolved recipe, every key set (lacks 'description'); build the task with "
     "ForecastingTask.from_recipe(file or name) or ForecastingTask.from_dict(dict)"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting").predict(np.ones((60, 1))),
     "predict: the task has no model yet"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting").save("unused"), "save: the task has no model yet"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting").evaluate(), "evaluate: the task has no model yet"),
    (lambda t, run: ForecastingTask.from_recipe("price_forecasting").plot(run.parent / "p", {}),
     "plot: the task has no model yet"),
])
def test_python_bad_inputs_are_one_line_user_errors(forecasting_run, call, message):
    task, run_dir, _ = forecasting_run
    with pytest.raises(UserError, match=re.escape(message)):
        call(task, run_dir)


def test_an_emptied_recipe_file_is_named_as_such(forecasting_run, tmp_path):
    shutil.copytree(forecasting_run[1], tmp_path / "run")
    (tmp_path / "run" / "recipe.toml").write_text("")
    with pytest.raises(UserError, match=re.escape(
            "its model was trained as a forecasting task but its recipe.toml names no task "
            "(empty, or cut short?); restore the run's own recipe or train again")):
        Task.load(tmp_path / "run")


class LogitSentiment(SentimentTask):
    """A model of one's own that forgot the sigmoid: its outputs are logits."""

    def build_model(self):
        tokens = keras.Input((self.config.data.sequence_length,), dtype="int64")
        x = keras.layers.Embedding(self.preprocessing.vocabulary_size(), 8, mask_zero=True)(tokens)
        return keras.Model(tokens, keras.layers.Dense(1)(keras.layers.GRU(8)(x)))


def test_a_sentiment_model_without_its_sigmoid_is_named_before_training(reviews_csv):
    from tests.test_sentiment import TINY as SENTIMENT

    task = LogitSentiment.from_recipe("sentiment", {**SENTIMENT, "data.path": str(reviews_csv)})
    with pytest.raises(UserError, match="^LogitSentiment.build_model returned a model whose output "
                                        "is not a probability \\(got -?[0-9.e-]+ on a training "
                                        "text\\); end it with Dense\\(1, activation='sigmoid'\\)"):
        task.fit(verbose=0)
    assert task.history is None  # not one epoch


def test_resume_needs_an_interrupted_run(forecasting_run, tmp_path):
    task, _, _ = forecasting_run
    for folder in (tmp_path / "absent", tmp_path):  # no folder; an empty one
        with pytest.raises(UserError, match=re.escape(
                f"fit: resume=True, but {folder} holds no interrupted run (no backup in "
                "checkpoints/, no recipe.toml); fit without resume starts one")):
            task.fit(folder, resume=True)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def interrupted_run(prices_csv, tmp_path, monkeypatch):
    """A run stopped after its 2 epochs' backups (no model.keras), trained on a copy of
    the prices named by a relative path, as `--set data.path=prices.csv` gives it."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(prices_csv, tmp_path / "prices.csv")
    ForecastingTask.from_recipe("price_forecasting", {**TINY, "data.path": "prices.csv"}).fit(
        tmp_path / "run", verbose=0)
    return tmp_path / "run"


def resumed(run, epochs=3):
    """`fit(run, resume=True)` as `train --resume` runs it: the recipe's path absolute."""
    task = ForecastingTask.from_recipe("price_forecasting", {
        **TINY, "data.path": str(run.parent / "prices.csv"), "train.epochs": epochs})
    task.fit(run, resume=True, verbose=0)
    return task


@pytest.mark.parametrize("damage", ["a layer missing", "zeros at the end"])
def test_resume_starts_from_the_older_backup_when_the_latest_does_not_load(
        interrupted_run, damage):
    """A kill while the latest weights were written: an HDF5 file that opens but lacks a
    layer, or whose end is zeros. Keras's fallback (OSError only) missed both, and
    resume raised a traceback beside a good older backup."""
    latest = interrupted_run / "checkpoints" / "latest.weights.h5"
    if damage == "a layer missing":
        with h5py.File(latest, "r+") as weights:
            del weights["layers/layer_norm_lstm/cell/vars"]
    else:
        size = latest.stat().st_size
        latest.write_bytes(latest.read_bytes()[:size // 2] + bytes(size - size // 2))
    assert len(resumed(interrupted_run).history.epoch) == 2  # from epoch 1's backup on


def test_resume_drops_the_history_row_an_interruption_cut(interrupted_run):
    """Killed while the second epoch's row was written, before its backup: the row was
    cut, and the retrained epoch's row was appended onto it (a 5-field line)."""
    checkpoints = interrupted_run / "checkpoints"
    for name in ("latest.weights.h5", "training_metadata.json"):  # epoch 2 not backed up
        shutil.copyfile(checkpoints / f"{name}.bkp", checkpoints / name)
    history = interrupted_run / "history.csv"
    history.write_bytes(history.read_bytes()[:-15])
    resumed(interrupted_run)
    assert pd.read_csv(history)["epoch"].tolist() == [0, 1, 2]


def test_resume_leaves_backups_that_do_not_load_as_they_were(interrupted_run):
    checkpoints = interrupted_run / "checkpoints"
    (checkpoints / "latest.weights.h5").write_bytes(b"cut")
    (checkpoints / "latest.weights.h5.bkp").write_bytes(b"older")
    with pytest.raises(UserError, match=re.escape(
            f"fit: resume=True, but neither backup in {checkpoints} loads into this model (")):
        resumed(interrupted_run)
    assert (checkpoints / "latest.weights.h5").read_bytes() == b"cut"
    assert (checkpoints / "latest.weights.h5.bkp").read_bytes() == b"older"
    (checkpoints / "latest.weights.h5.bkp").unlink()
    with pytest.raises(UserError, match=re.escape(  # a model changed since: not "damaged" only
            f"the backup in {checkpoints} does not load into this model (") +
            ".*: damaged, or the model changed since the run was interrupted; delete"):
        resumed(interrupted_run)


def test_resume_refuses_data_that_changed_since_the_interruption(interrupted_run, capsys):
    """A changed file was read afresh: its new vocabulary or scaling under the old weights
    failed with a traceback or trained on in silence. The same file named by an absolute
    path (as the run's recipe.toml names it) is the same data."""
    from rnn_tasks.recipes import write_recipe
    from tests.helpers import cli

    task = resumed(interrupted_run, epochs=2)
    assert len(task.history.epoch) == 0  # nothing left to do, and no refusal
    data = interrupted_run.parent / "prices.csv"
    data.write_text(data.read_text().replace(".5", ".6"))
    refusal = (f"data.path {str(data)!r} is not the data the run in {interrupted_run} was "
               "trained on (it changed since); restore that data, or train a new run")
    with pytest.raises(UserError, match=re.escape(f"fit: resume=True, but {refusal}")):
        resumed(interrupted_run)
    write_recipe(task.recipe, interrupted_run / "recipe.toml")  # as `train` writes it
    status, _, err = cli(capsys, "train", "price_forecasting", "--run-dir", interrupted_run,
                         "--resume")
    assert (status, err) == (2, f"rnn-tasks train: error: --resume: {refusal}\n")


def test_one_series_of_one_column_may_be_a_flat_list(forecasting_run):
    task, _, _ = forecasting_run
    values = [400.0 + np.sin(i) for i in range(task.config.data.window)]
    flat = task.predict(values)["forecast"]
    assert flat.shape == (1, task.config.data.horizon, 1)
    np.testing.assert_array_equal(flat, task.predict([[v] for v in values])["forecast"])
    np.testing.assert_array_equal(flat, task.predict(pd.Series(values).to_numpy())["forecast"])
    with pytest.raises(UserError, match=re.escape(
            "predict: `history` must have shape [batch, 20, 1] (window, features: Adj Close), or "
            "[20, 1] or [20] for one series; got [3, 20]")):  # as given, not as reshaped
        task.predict([values] * 3)


def test_train_seed_changes_the_training_not_the_split(reviews_csv):
    """`train.seed` draws the weights, dropout and batch order; `data.seed` the split, and
    the training too while `train.seed` is unset. A global seed set before `fit` is reset."""
    from tests.test_sentiment import TINY as SENTIMENT

    def fitted(**seeds):
        task = SentimentTask.from_recipe("sentiment", {
            **SENTIMENT, "train.epochs": 1, "data.path": str(reviews_csv), **seeds})
        keras.utils.set_random_seed(1234)
        task.fit(verbose=0)
        return task.data.splits["test"][0].tolist(), task.model.get_weights()

    split, weights = fitted(**{"data.seed": 3})
    same_split, other_weights = fitted(**{"data.seed": 3, "train.seed": 4})
    assert same_split == split
    assert any(not np.array_equal(a, b) for a, b in zip(weights, other_weights))
    again_split, again_weights = fitted(**{"data.seed": 3, "train.seed": 3})
    assert again_split == split
    assert all(np.array_equal(a, b) for a, b in zip(weights, again_weights))
    assert fitted(**{"data.seed": 4})[0] != split


def test_the_recipe_always_says_what_the_task_trains(forecasting_run, tmp_path):
    task, _, _ = forecasting_run
    units = task.config.model.units
    task.recipe["model"]["units"] = units + 8  # a copy: the task, and what it saves, keep theirs
    assert task.recipe["model"]["units"] == units
    task.save(tmp_path / "run")
    assert Task.load(tmp_path / "run").config.model.units == units


@pytest.mark.parametrize("call", [lambda task, run: task.predict(np.ones((20, 1))),
                                  lambda task, run: task.evaluate(),
                                  lambda task, run: task.export(run.parent / "unused")])
def test_serving_refuses_another_backend_in_one_line(forecasting_run, monkeypatch, call):
    """Not only in fit: a run loaded under JAX failed in predict with a symbolic-tensor error
    (building and training the core on JAX, as keras.distribution does, stays possible)."""
    task, run_dir, _ = forecasting_run
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(UserError, match="^the task templates run on the TensorFlow backend .* got "
                                        "KERAS_BACKEND='jax'"):
        call(task, run_dir)


def test_predict_names_an_input_of_the_wrong_shape_for_any_signature():
    """A template of one's own gets the shape in one line, not tf.function's binding error."""
    import tensorflow as tf

    from rnn_tasks.templates import serving

    signature = {"values": tf.TensorSpec([None, 20, 1], tf.float32)}
    function = serving.trace(lambda inputs: {"sum": tf.reduce_sum(inputs["values"], [1, 2])},
                             signature, lambda inputs: inputs)
    assert serving.call(function, signature, [np.ones((2, 20, 1))])["sum"].tolist() == [20, 20]
    with pytest.raises(UserError, match=re.escape("predict: `values` must have shape [batch, 20, 1], "
                                                  "got [3, 7, 1]")):
        serving.call(function, signature, [np.ones((3, 7, 1))])


def test_a_run_of_a_template_of_ones_own_names_its_class_before_it_is_defined(
        forecasting_run, tmp_path):
    _, run_dir, _ = forecasting_run
    run = tmp_path / "sums"
    shutil.copytree(run_dir, run)
    for name, old, new in [("recipe.toml", 'task = "forecasting"', 'task = "sequence_sum"'),
                           ("template.json", '"task": "forecasting"', '"task": "sequence_sum"'),
                           ("template.json", "rnn_tasks.templates.forecasting.ForecastingTask",
                            "__main__.SequenceSumTask")]:
        text = (run / name).read_text()
        assert old in text
        (run / name).write_text(text.replace(old, new))
    for as_template in (False, True):
        with pytest.raises(UserError, match=re.escape(
                f"{run} was trained by __main__.SequenceSumTask, a template of its own (task "
                f"'sequence_sum'); define or import that class and load the run with "
                f"SequenceSumTask.load({str(run)!r})")):
            Task.load(run, as_template=as_template)


def test_path_values_may_be_paths(prices_csv):
    task = ForecastingTask.from_recipe("price_forecasting", {"data.path": prices_csv})
    assert task.config.data.path == str(prices_csv)


@pytest.mark.parametrize("inputs, message", [
    (["good", None], "`text` must be strings, got NoneType None"),
    ([1, 2], "`text` must be strings, got int 1"),
    ({"txt": ["good"]}, "the inputs are named 'text', got 'txt'"),
    (None, "`text` must be a string or a list of strings, got NoneType None"),
    (5, "`text` must be a string or a list of strings, got int 5"),
    (["bad \ud800 film"], "text 0 ('bad \\ud800 film') is not valid UTF-8"),
    ([b"\xff\xfe"], "text 0 (b'\\xff\\xfe') is not valid UTF-8"),
])
def test_text_predict_refuses_what_is_not_text(sentiment_run, inputs, message):
    with pytest.raises(UserError, match=re.escape(message)):
        sentiment_run[0].predict(inputs)


def test_a_data_frame_given_as_a_file_to_score_says_where_it_goes(sentiment_run):
    task, _, _ = sentiment_run
    with pytest.raises(UserError, match=re.escape("got a DataFrame; a DataFrame goes in data=")):
        task.evaluate_file(pd.DataFrame({"text": ["a fine film"], "category": ["fresh"]}))


def test_text_predict_reads_a_data_frames_text_column(sentiment_run, translation_run):
    texts = ["A gorgeous, witty film.", "Dull and far too long."]
    for task in (sentiment_run[0], translation_run[0]):
        column = task.table_text_column()
        frame = pd.DataFrame({"id": [1, 2], column: texts})
        from_frame, from_list = task.predict(frame), task.predict(texts)
        for name, values in from_list.items():
            np.testing.assert_array_equal(from_frame[name], values)
        with pytest.raises(UserError, match=f"the data frame lacks column\\(s\\) '{column}'"):
            task.predict(frame.drop(columns=column))


@pytest.mark.parametrize("template, cell", [("forecasting", "minlstm"), ("sentiment", "mingru"),
                                            ("captioning", "minlstm")])
def test_every_template_takes_the_parallel_cells(template, cell, prices_csv, reviews_csv,
                                                 captions_csv):
    """`model.cell = "mingru" / "minlstm"` trains and predicts in each template (one epoch)."""
    from tests import test_captioning, test_sentiment

    setups = {"forecasting": (ForecastingTask, "price_forecasting", TINY, prices_csv),
              "sentiment": (SentimentTask, "sentiment", test_sentiment.TINY, reviews_csv),
              "captioning": (CaptioningTask, "captioning", test_captioning.TINY, captions_csv)}
    task_class, recipe, tiny, path = setups[template]
    task = task_class.from_recipe(recipe, {**tiny, "train.epochs": 1, "model.cell": cell,
                                           "data.path": str(path)})
    task.fit(verbose=0)
    metrics = task.evaluate()
    assert all(np.isfinite(v) for v in metrics.values() if isinstance(v, float))
    assert {"mingru": "LayerNormMinGRU", "minlstm": "LayerNormMinLSTM"}[cell] in task.model.to_json()


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_under_mixed_precision_outputs_are_float32_and_raw_values_do_not_overflow(
        mixed_float16, prices_csv, reviews_csv, tmp_path):
    """float16 tops out at 65,504: a history at 70,000 read in float16 forecast NaN."""
    import tensorflow as tf

    from rnn_tasks.templates import forecast_model
    from tests import test_sentiment

    task = ForecastingTask.from_recipe("price_forecasting", {**TINY, "train.epochs": 1,
                                                             "data.path": str(prices_csv)})
    task.fit(verbose=0)
    history = 70_000 * (1 + 0.001 * np.arange(TINY["data.window"]))[:, None]
    forecast = task.predict(history)["forecast"]
    assert forecast.dtype == np.float32 and np.isfinite(forecast).all()
    assert np.abs(forecast / history[-1] - 1).max() < 0.5  # near the last price, not rounded off
    served = tf.saved_model.load(str(task.export(tmp_path / "models"))).signatures["serving_default"]
    assert served.structured_outputs["forecast"].dtype == tf.float32
    task.save(tmp_path / "run")
    keras.mixed_precision.set_global_policy("float32")  # a process without the policy loads it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = Task.load(tmp_path / "run")  # warned "Skipping variable loading for optimizer"
    assert [str(w.message) for w in caught] == []
    np.testing.assert_array_equal(loaded.predict(history)["forecast"], forecast)
    keras.mixed_precision.set_global_policy("mixed_float16")
    future = SimpleNamespace(future_columns=["promo"], calendar=[])  # known-future raw values
    encoded = forecast_model.encode_future(np.array([[[7e4], [1.2e5]]], "float32"), None, future,
                                           {"future_mean": [1e5], "future_scale": [1e4]})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(encoded).ravel(), [-3, 2], rtol=1e-3)

    sentiment = SentimentTask.from_recipe("sentiment", {**test_sentiment.TINY, "train.epochs": 1,
                                                        "data.path": str(reviews_csv)})
    sentiment.fit(verbose=0)
    assert sentiment.predict(["a fine film"])["probability"].dtype == np.float32


def test_translation_with_min_gru_serves_in_a_tensorflow_only_process(pairs_tsv, tmp_path):
    """Two layers each side; the decoder steps one token at a time from the scan layer's
    state, inside the exported beam search."""
    from tests.helpers import serve_in_tensorflow_only_process
    from tests.test_translation import TINY as TRANSLATION_TINY

    task = TranslationTask.from_recipe("translation", {
        **TRANSLATION_TINY, "train.epochs": 1, "model.cell": "mingru", "model.layers": 2,
        "data.path": str(pairs_tsv)})
    task.fit(verbose=0)
    texts = ["March 3, 2021", "", "unknown words " * 20]
    served = serve_in_tensorflow_only_process(task.export(tmp_path / "models"), {"text": texts},
                                              tmp_path)
    assert served["translation"] == task.generate(texts)


@pytest.mark.parametrize("inputs, message", [
    (None, "`image_bytes` must be the bytes of a PNG/JPEG file or a list of them, got NoneType"),
    ([np.zeros((8, 8, 3), "uint8")], "image 0 is a ndarray: images are the bytes of a PNG or JPEG file"),
])
def test_image_predict_refuses_what_is_not_image_bytes(captioning_run, inputs, message):
    with pytest.raises(UserError, match=re.escape(message)):
        captioning_run[0].predict(inputs)


def test_a_data_frame_takes_the_place_of_the_recipe_files_data_path(tmp_path):
    """As `Task.load(run, data=frame)`: a recipe file of one's own names its file, and a
    frame given in Python is read instead; an override naming a path as well is refused."""
    from rnn_tasks.recipes import write_recipe

    write_recipe(ForecastingTask.from_recipe("price_forecasting", {"data.path": "gone.csv"}).recipe,
                 tmp_path / "mine.toml")
    frame = pd.read_csv(write_prices(tmp_path / "p.csv", rows=80))
    task = ForecastingTask.from_recipe(tmp_path / "mine.toml", TINY, data=frame)
    assert not task.config.data.path
    assert task.read_frame().equals(frame)
    with pytest.raises(UserError, match="give the data once"):
        ForecastingTask.from_recipe(tmp_path / "mine.toml", {"data.path": "p.csv"}, data=frame)
