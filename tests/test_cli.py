"""The command line as a user runs it: the installed `rnn-tasks` in its own process,
stderr read as a terminal shows it, against the session's tiny trained runs."""

import json
import os
import re
import stat
import subprocess

import numpy as np
import pandas as pd
import pytest

from rnn_tasks.errors import UserError
from tests.helpers import RNN_TASKS, shell
from tests.test_forecasting import write_prices
from tests.test_sentiment import write_reviews
from tests.test_translation import write_pairs


def test_training_prints_nothing_on_stderr(tmp_path):
    """No TensorFlow start-up lines, no known-harmless Keras warnings (the decoder's mask,
    `shuffle` with a dataset): a training's stderr is empty; progress goes to stdout."""
    pairs = write_pairs(tmp_path / "pairs.tsv", count=200)
    sets = {"data.path": pairs, "train.epochs": 1, "model.units": 8, "model.embedding_dim": 8,
            "decode.beam_width": 2, "export.warmup_examples": 2}
    result = shell("train", "translation", "--run-dir", "run",
                   *[x for k, v in sets.items() for x in ("--set", f"{k}={v}")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "run" / "model.keras").is_file()
    # stdout is a pipe, as a log file is: one plain line per epoch, no bar redrawn with \r
    progress = [line for line in result.stdout.splitlines() if "step - loss" in line]
    assert len(progress) == 1 and "\r" not in result.stdout and "\x1b[" not in result.stdout, progress
    assert not (tmp_path / "run" / ".lock").exists()


def test_forecasting_evaluate_and_predict_take_a_file_without_the_group_column(
        forecasting_run, tmp_path):
    task, run_dir, _ = forecasting_run
    rows, window, horizon = 80, 20, 3
    frame = pd.read_csv(write_prices(tmp_path / "p.csv", rows=rows, seed=3)).drop(columns="Ticker")
    frame.to_csv(tmp_path / "p.csv", index=False)

    result = shell("evaluate", run_dir, "--data", "p.csv", "--backtest", "2", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n_examples"] == rows - window - horizon + 1  # every origin in the file
    assert [row["origin"][:10] for row in metrics["backtest"]] == [
        str(d)[:10] for d in pd.to_datetime(frame["Date"])[[rows - horizon - 1 - horizon, rows - horizon - 1]]]
    # The last-value baseline against NumPy: each origin's last close held for `horizon`
    # steps, scored by MASE with the file's own one-step naive error.
    close = frame["Adj Close"].to_numpy()
    origins = np.arange(window - 1, rows - horizon)
    actual = np.stack([close[o + 1:o + 1 + horizon] for o in origins])
    scale = np.abs(np.diff(close)).mean()
    expected = np.mean(np.abs(actual - close[origins][:, None]) / scale)
    assert abs(metrics["baselines"]["last_value"]["mase"] - expected) < 1e-9

    result = shell("predict", run_dir, "p.csv", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert np.array(json.loads(result.stdout)["forecast"]).shape == (1, horizon, 1)


def test_forecasting_predicts_and_evaluates_every_series_of_a_file(forecasting_run, tmp_path):
    """A model trained on AAPL forecasts a file of IBM and MSFT (a series it never saw,
    and two in one file): one forecast per series, named, each as from a file of its own."""
    task, run_dir, _ = forecasting_run
    frames = {ticker: pd.read_csv(write_prices(tmp_path / f"{ticker}.csv", rows=60, seed=seed,
                                               ticker=ticker))
              for seed, ticker in enumerate(["MSFT", "IBM"], 4)}
    pd.concat(frames.values()).to_csv(tmp_path / "both.csv", index=False)
    result = shell("predict", run_dir, "both.csv", "IBM.csv", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    outputs = json.loads(result.stdout)
    assert outputs["series"] == ["IBM", "MSFT", "IBM"]  # sorted within a file, files in order
    alone = {ticker: task.predict(frame)["forecast"][0] for ticker, frame in frames.items()}
    np.testing.assert_allclose(outputs["forecast"], [alone["IBM"], alone["MSFT"], alone["IBM"]],
                               rtol=1e-5)
    last = {ticker: pd.Timestamp(frame["Date"].iloc[-1]) for ticker, frame in frames.items()}
    following = {ticker: [str((day + pd.Timedelta(days=k)).date()) for k in (1, 2, 3)]
                 for ticker, day in last.items()}  # daily data: the next three days
    assert outputs["dates"] == [following["IBM"], following["MSFT"], following["IBM"]]
    from_frame = task.predict(pd.concat(frames.values()))
    assert from_frame["series"].tolist() == ["IBM", "MSFT"]
    assert from_frame["dates"].tolist() == [following["IBM"], following["MSFT"]]
    with pytest.raises(UserError, match="^predict: the data frame has no rows; give the last 20 rows"):
        task.predict(frames["IBM"].head(0))
    unnamed = frames["IBM"].copy()
    unnamed.loc[59, "Ticker"] = None  # the last row's series: not the one before's
    with pytest.raises(UserError, match="^data: column 'Ticker' \\(data.group_column\\) has 1 empty "
                                        "cell\\(s\\), first in row 60; name the series of every row"):
        task.predict(unnamed)
    weekdays = frames["IBM"].assign(Date=pd.bdate_range(end="2024-05-10", periods=60))  # ends on a Friday
    assert task.predict(weekdays)["dates"].tolist() == [["2024-05-13", "2024-05-14", "2024-05-15"]]
    holiday = weekdays.drop(index=50)  # a market holiday: infer_freq calls it irregular
    assert task.predict(holiday)["dates"].tolist() == [["2024-05-13", "2024-05-14", "2024-05-15"]]
    older_gap = frames["IBM"].assign(**{"Adj Close": frames["IBM"]["Adj Close"].where(
        frames["IBM"].index > 5)})  # missing values before the window it reads
    np.testing.assert_array_equal(task.predict(older_gap)["forecast"], alone["IBM"][None])
    broken = pd.concat([frames["MSFT"], older_gap.assign(**{"Adj Close": older_gap["Adj Close"].where(
        older_gap.index != 50)})])
    with pytest.raises(UserError, match=re.escape(
            "predict: the data frame (series 'IBM'): column 'Adj Close' has 1 missing")):
        task.predict(broken)
    after = [str((last["IBM"] + pd.Timedelta(days=k)).date()) for k in (1, 2)]
    to_forecast = pd.concat([frames["IBM"], pd.DataFrame({"Date": after, "Ticker": "IBM"})])
    with pytest.raises(UserError, match=re.escape(  # Darts' layout, to a model without future inputs
            "predict: the data frame (series 'IBM'): the last 2 row(s) (by date) have no 'Adj Close' "
            "value: rows to forecast? This model reads no known-future inputs "
            "(data.future_columns); give the history only")):
        task.predict(to_forecast)
    padded = pd.concat([frames["MSFT"].assign(Ticker="01"), frames["IBM"].assign(Ticker="1")])
    padded.to_csv(tmp_path / "padded.csv", index=False)  # ids a CSV reader would take as numbers
    _, labels = task.labelled_inputs_from_files([tmp_path / "padded.csv"])
    assert labels["series"] == ["01", "1"]  # two series, named as written
    numbered = pd.concat([frames["MSFT"].assign(Ticker=10), frames["IBM"].assign(Ticker=2)])
    assert task.predict(numbered)["series"].tolist() == ["2", "10"]  # numbers in numeric order

    result = shell("evaluate", run_dir, "--data", "both.csv", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert set(json.loads(result.stdout)["groups"]) == {"IBM", "MSFT"}


def test_sentiment_evaluate_takes_a_file_without_the_group_column_and_empty_labels(
        sentiment_run, tmp_path):
    _, run_dir, _ = sentiment_run
    frame = pd.read_csv(write_reviews(tmp_path / "r.csv", rows=100, seed=2)).drop(columns="movie_name")
    frame.loc[3, "category"] = None  # an empty label cell: dropped and counted, like other labels
    frame.to_csv(tmp_path / "r.csv", index=False)
    result = shell("evaluate", run_dir, "--data", "r.csv", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n_examples"] == 99 and metrics["dropped_other_labels"] == 5 + 1

    frame[frame["category"] == "fresh"].to_csv(tmp_path / "fresh.csv", index=False)
    result = shell("evaluate", run_dir, "--data", "fresh.csv", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    metrics = json.loads(result.stdout)  # one class: accuracy is defined, AUC is not
    assert metrics["auc"] is None and 0 <= metrics["accuracy"] <= 1


def test_export_is_readable_by_other_users(forecasting_run, tmp_path):
    _, run_dir, _ = forecasting_run
    result = shell("export", run_dir, "--to", "models", "--models-config", "models.config",
                   cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    version = tmp_path / "models" / "1"
    paths = [version, *version.rglob("*")]
    assert len(paths) > 4
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


def test_translation_evaluate_reads_a_pairs_file_whatever_the_recipe_columns(
        translation_run, pairs_tsv, tmp_path):
    """`translation_dates` names the generated table's columns; a source<TAB>target file
    (no header with those names) is still read as pairs, as the README shows."""
    _, run_dir, _ = translation_run
    lines = pairs_tsv.read_text(encoding="utf-8").splitlines()[:30]
    (tmp_path / "other.tsv").write_text("\ufeff" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    result = shell("evaluate", run_dir, "--data", "other.tsv", "--set", "data.source_column=source",
                   "--set", "data.target_column=target", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert json.loads(result.stdout)["n_pairs"] == 30  # a byte-order mark and CRLF are fine


def test_runs_from_before_a_key_was_retired_still_load(translation_run, tmp_path):
    """`train.loss` left the sequence templates' recipes; older run directories have it."""
    import shutil

    _, run_dir, _ = translation_run
    old = shutil.copytree(run_dir, tmp_path / "old")
    recipe = (old / "recipe.toml").read_text()
    (old / "recipe.toml").write_text(recipe.replace("[train]\n", '[train]\nloss = "sparse_categorical_crossentropy"\n'))
    result = shell("predict", old, "March 3, 2021", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(json.loads(result.stdout)["translation"]) == 1


def test_verbose_brings_tensorflow_log_lines_back(sentiment_run, tmp_path):
    _, run_dir, _ = sentiment_run
    quiet = shell("predict", run_dir, "A gorgeous, witty film.", cwd=tmp_path)
    verbose = shell("predict", run_dir, "A gorgeous, witty film.", "--verbose", cwd=tmp_path)
    assert quiet.returncode == verbose.returncode == 0
    assert quiet.stderr == "" and verbose.stderr.strip() != ""  # TensorFlow's start-up lines
    assert json.loads(quiet.stdout) == json.loads(verbose.stdout)


def test_predict_on_an_ascii_terminal_writes_json_escapes(translation_run, tmp_path):
    """`PYTHONIOENCODING=ascii` (an old terminal) made printing `sábado` a traceback."""
    task, run_dir, _ = translation_run
    texts = ["Saturday, March 6, 2021", "Wednesday, the 3rd of March 2021", "sábado"]
    expected = task.generate(texts)
    assert not all(text.isascii() for text in expected)  # else the test tests nothing
    result = shell("predict", run_dir, *texts, cwd=tmp_path,
                   env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.isascii() and json.loads(result.stdout)["translation"] == expected


def test_predict_prints_the_same_text_from_a_run_and_its_export(translation_run, tmp_path):
    """A loaded signature returns its outputs in an order that changes with the process's
    string hash seed: the export printed `log_probability` first in some processes."""
    task, run_dir, _ = translation_run
    export = task.export(tmp_path / "exports")
    printed = {shell("predict", model, "March 3, 2021", cwd=tmp_path,
                     env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for model, seed in [(run_dir, "0"), (export, "0"), (export, "3")]}
    assert len(printed) == 1 and list(json.loads(printed.pop())) == ["log_probability",
                                                                     "translation"]


def test_a_text_model_under_an_ascii_locale_says_how_to_load_it(translation_run, tmp_path):
    """Keras reads the vocabulary in the locale's encoding: the error named only "2 objects
    could not be loaded"."""
    _, run_dir, _ = translation_run  # its Spanish vocabulary has "sábado"
    result = shell("predict", run_dir, "March 3, 2021", cwd=tmp_path,
                   env={**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"})
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f"rnn-tasks predict: error: {run_dir}/model.keras cannot be loaded: its vocabulary is "
        "UTF-8 text, which this Python reads as ANSI_X3.4-1968; run with PYTHONUTF8=1 or a "
        "UTF-8 locale (LANG=C.UTF-8)"], result.stderr


def test_a_text_model_under_an_ascii_locale_is_refused_before_training(tmp_path):
    """Keras writes the vocabulary in the locale's encoding: 'sábado' failed the save,
    a traceback after the whole training."""
    pairs = write_pairs(tmp_path / "pairs.tsv", count=200)
    result = shell("train", "translation", "--run-dir", "run", "--set", f"data.path={pairs}",
                   cwd=tmp_path, env={**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"})
    assert result.returncode == 2 and result.stderr.startswith(
        "rnn-tasks train: error: the target_vectorizer vocabulary has words that this Python, "
        "writing files as ANSI_X3.4-1968, cannot save ("), result.stderr
    assert result.stderr.endswith("); run with PYTHONUTF8=1 or a UTF-8 locale (LANG=C.UTF-8)\n")
    assert not (tmp_path / "run").exists()


def test_translation_evaluate_reads_a_json_lines_table(translation_run, pairs_tsv, tmp_path):
    _, run_dir, _ = translation_run
    pairs = [line.split("\t")[:2] for line in pairs_tsv.read_text(encoding="utf-8").splitlines()[:20]]
    pd.DataFrame(pairs, columns=["source", "target"]).to_json(tmp_path / "p.jsonl", orient="records",
                                                               lines=True, force_ascii=False)
    result = shell("evaluate", run_dir, "--data", "p.jsonl", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert json.loads(result.stdout)["n_pairs"] == 20


def test_a_reader_that_leaves_early_gets_no_error_line(tmp_path):
    """`rnn-tasks recipes | head -1`: stop quietly with SIGPIPE's status, as shell tools do."""
    result = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{RNN_TASKS}' recipes | true"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (141, "")


def test_predict_reads_texts_from_a_pipe(sentiment_run, tmp_path):
    """`... | rnn-tasks predict RUN /dev/stdin`: the piped lines, not the text "/dev/stdin"."""
    _, run_dir, _ = sentiment_run
    piped = subprocess.run(["bash", "-c", f"printf 'dull tedious\\nwitty\\n' | '{RNN_TASKS}' predict "
                            f"'{run_dir}' /dev/stdin"], cwd=tmp_path, capture_output=True, text=True)
    direct = shell("predict", run_dir, "dull tedious", "witty", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == json.loads(direct.stdout)


def test_ctrl_c_inside_tensorflow_native_code_is_an_interruption(monkeypatch, capsys):
    """pybind11 turns a KeyboardInterrupt raised in C++ (e.g. while a SavedModel is written)
    into a RuntimeError; it is reported as Ctrl-C, not as a traceback."""
    from rnn_tasks import cli

    def interrupted(args):
        raise RuntimeError("pybind11::error_already_set: MISMATCH of original and normalized "
                           "active exception types: ORIGINAL KeyboardInterrupt REPLACED BY "
                           "KeyboardInterrupt: <EMPTY MESSAGE>")

    monkeypatch.setattr(cli, "run_recipes", interrupted)
    assert cli.main(["recipes"]) == 130
    assert capsys.readouterr().err == "rnn-tasks: interrupted\n"
