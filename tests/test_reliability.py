"""Reliability: every bad input is one clear line (exit 2), killed runs resume,
killed exports leave nothing, NaN stops training, unsafe models never load,
and the recipe and table readers survive arbitrary input."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn_tasks import checks
from rnn_tasks import cli as cli_module
from rnn_tasks.data.readers import read_table, wall_clock
from rnn_tasks.errors import UserError
from rnn_tasks.inputs import texts_from_arguments
from rnn_tasks.preprocessing.images import check_image_bytes
from rnn_tasks.recipes import (load_recipe, parse_overrides, read_toml, validate,
                               with_absolute_path)
from rnn_tasks.schemas import SCHEMAS, resolve_recipe
from rnn_tasks.templates import ForecastingTask, SentimentTask, Task
from rnn_tasks.templates.forecast_data import read_series
from rnn_tasks.templates.forecast_inputs import as_seconds
from rnn_tasks.templates.translation import read_pairs
from tests.helpers import RNN_TASKS, cli, shell
from tests.test_captioning import huge_png_header
from tests.test_forecasting import TINY, write_prices
from tests.test_sentiment import write_reviews

FAST = ["--set", "train.epochs=1", "--set", "model.units=4"]
TEMPLATES = ("forecasting", "sentiment", "translation", "captioning")


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path.name


def prices_with(tmp_path, name, edit):
    """Writes prices changed by `edit(frame) -> frame`; returns the file name."""
    edit(pd.read_csv(write_prices(tmp_path / name, rows=300))).to_csv(tmp_path / name, index=False)
    return name


def price_args(path):
    return ["train", "price_forecasting", "--set", f"data.path={path}", "--set", "data.window=20", *FAST]


HALF_A_JPEG = tf.io.encode_jpeg(np.random.default_rng(0).integers(
    0, 255, (32, 32, 3), dtype="uint8")).numpy()[:400]


def truncated_png(tmp_path):
    """A captions table whose one image is a PNG cut in half."""
    from tests.test_captioning import drawn_elsewhere

    image = drawn_elsewhere()[0]
    (tmp_path / "half.png").write_bytes(image[:len(image) // 2])
    write(tmp_path / "c.csv", "image,caption\nhalf.png,a red circle\n")
    return "c.csv"


# (case id, files to write {name: content or callable(tmp_path)}, command, expected message).
# "{forecasting}" etc. in a command stand for the session's tiny trained run of that template.
BAD_INPUTS = [
    # Recipes and --set: answered before TensorFlow starts.
    ("recipe missing", {}, ["train", "missing.toml"], "recipe 'missing.toml' not found"),
    ("recipe not TOML", {"bad.toml": "task = [\n"}, ["train", "bad.toml"], "bad.toml is not valid TOML"),
    ("recipe not UTF-8", {"bad.toml": b"task = '\xff'"}, ["train", "bad.toml"], "is not UTF-8 text"),
    ("recipe unknown task", {"bad.toml": 'task = "poetry"\n'}, ["train", "bad.toml"],
     "recipe: `task` must be one of"),
    ("recipe is a folder", {"sub/x.txt": ""}, ["train", "sub"], "recipe 'sub' not found"),
    ("unknown key", {}, ["train", "price_forecasting", "--set", "model.unit=3"],
     "unknown key `model.unit` (allowed in [model]: cell,"),
    ("wrong type", {}, ["train", "price_forecasting", "--set", "train.epochs=many"],
     "`train.epochs` must be an integer >= 1 and <= 1000000, got 'many'"),
    ("not a choice", {}, ["train", "sentiment", "--set", "model.cell=transformer"],
     "`model.cell` must be one of 'simple_rnn', 'lstm', 'gru', 'mingru', 'minlstm'"),
    ("minGRU without layer norm", {}, ["train", "sentiment", "--set", "model.cell=mingru",
                                       "--set", "model.layer_norm=false"],
     "`model.cell` 'mingru' exists only layer-normalized; set `model.layer_norm = true`"),
    ("jit_compile not a choice", {}, ["train", "price_forecasting", "--set", "train.jit_compile=yes"],
     "`train.jit_compile` must be one of 'auto', true, false, got 'yes'"),
    ("bad --set", {}, ["train", "price_forecasting", "--set", "epochs"],
     "--set expects section.key=value"),
    ("dropout 1.5", {}, ["train", "price_forecasting", "--set", "model.dropout=1.5"],
     "`model.dropout` must be a number >= 0.0 and < 1.0, got 1.5"),
    ("negative seed", {}, ["train", "price_forecasting", "--set", "data.seed=-1"],
     "`data.seed` must be an integer >= 0 and <= 4294967295, got -1"),
    ("no target columns", {}, ["train", "price_forecasting", "--set", "data.target_columns=[]"],
     "`data.target_columns` must be a non-empty list of strings, got []"),
    ("negative filters", {}, ["train", "captioning", "--set", "model.filters=[-3]"],
     "`model.filters` must be a list of 0 to 16 integers >= 1 and <= 65536, got [-3]"),
    ("learning rate 0", {}, ["train", "price_forecasting", "--set", "train.learning_rate=0"],
     "`train.learning_rate` must be a number > 0.0 and <= 10.0, got 0.0"),
    ("learning rate nan", {}, ["train", "sentiment", "--set", "train.learning_rate=nan"],
     "`train.learning_rate` must be a number > 0.0"),
    ("empty data.path", {}, ["train", "price_forecasting", "--set", "data.path="],
     "`data.path` must be a non-empty string, got ''"),
    ("one layer-normalized LSTM unit", {}, ["train", "price_forecasting", "--set", "model.units=1"],
     "`model.units` = 1 with a layer-normalized 'lstm': normalizing one unit leaves only its offset"),
    ("units beyond int32", {}, ["train", "translation_dates", "--set", "model.units=1099511627776"],
     "`model.units` must be an integer >= 1 and <= 65536"),
    ("two split fractions", {}, ["train", "sentiment", "--set", "data.split=[0.5, 0.5]"],
     "`data.split` must be a list of 3 numbers > 0.0"),
    ("infinite split fraction", {}, ["train", "price_forecasting", "--set", "data.split=[inf, 1.0, 1.0]"],
     "`data.split` must be a list of 3 numbers > 0.0, got [inf, 1.0, 1.0]"),
    ("season beyond window", {}, ["train", "price_forecasting", "--set", "data.season=90"],
     "`data.season` (90) must be <= `data.window` (60)"),
    ("pooling beyond image", {}, ["train", "captioning", "--set", "data.image_size=8",
                                  "--set", "model.filters=[4, 4, 4, 4]"],
     "4 convolution blocks halve a 8-pixel image 4 times, to nothing"),
    ("beam wider than vocabulary", {}, ["train", "translation_dates", "--set", "decode.beam_width=200",
                                        "--set", "data.vocabulary_size=100"],
     "`decode.beam_width` (200) must be <= `data.vocabulary_size` (100)"),
    ("vocabulary without room", {}, ["train", "captioning", "--set", "data.vocabulary_size=4"],
     "`data.vocabulary_size` must be an integer >= 5"),
    ("group without its column", {}, ["train", "price_forecasting", "--set", 'data.group_column=""'],
     "set both `data.group_column` and `data.group` (the series to forecast: one name, a list, or "
     "\"*\" for all), or neither; got group_column='', group='AAPL'"),
    ("three labels", {}, ["train", "sentiment", "--set", 'data.labels=["a", "b", "c"]'],
     "`data.labels` must be a list of 2 strings, integers or booleans, got ['a', 'b', 'c']"),
    ("caption column is the image column", {}, ["train", "captioning", "--set", "data.caption_column=image"],
     "`data.image_column` and `data.caption_column` must differ, both are 'image'"),
    ("same label twice", {}, ["train", "sentiment", "--set", "data.labels=[1, 1]"],
     "`data.labels` must be two different labels, negative first, got [1, 1]"),
    ("warmup over TF Serving's limit", {}, ["train", "sentiment", "--set", "export.warmup_examples=5000"],
     "`export.warmup_examples` must be an integer >= 0 and <= 1000"),
    ("usage error", {}, ["train"], "the following arguments are required: recipe"),
    ("a whole section as --set", {},  # {{ }}: the arguments are formatted with the runs
     ["train", "price_forecasting", "--set", "train={{epochs=1}}"],
     "--set train: `train` is a section; set its keys one by one (train.key=value)"),
    ("an option given twice", {}, ["export", "{forecasting}", "--to", "a", "--to", "b"],
     "argument --to: given twice ('a' and 'b'); give it once"),
    ("multi-worker without TF_CONFIG", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f)},
     [*price_args("p.csv"), "--set", "train.strategy=multi_worker"], "needs TF_CONFIG with"),
    ("empty --data", {}, ["evaluate", "{forecasting}", "--data", ""], "--data must not be empty"),
    ("empty --to", {}, ["export", "{forecasting}", "--to", ""], "--to must not be empty"),
    ("an image that is a device", {"c.csv": "image,caption\n/dev/zero,zeros\n"},
     ["train", "captioning", "--set", "data.path=c.csv", *FAST], "image /dev/zero is not a regular file"),
    # Paths and the environment.
    ("data file missing", {}, price_args("nope.csv"), "data file not found: nope.csv"),
    ("data path a folder", {"shards/a.txt": ""}, price_args("shards"), "data.path 'shards' is a folder"),
    ("glob matching nothing", {}, price_args("parts-*.csv"), "no file matches the pattern 'parts-*.csv'"),
    ("run dir a file", {"taken": "x"}, ["train", "price_forecasting", "--run-dir", "taken"],
     "run directory taken is a file, not a folder"),
    ("predict blank lines", {"b.txt": "witty\n\n  \ndull\n"}, ["predict", "{sentiment}", "b.txt"],
     "predict: error: b.txt line(s) 2, 3 are blank; give one text per line"),
    ("run dir a broken link", {"dangling": lambda tmp: (tmp / "dangling").symlink_to("gone")},
     ["train", "price_forecasting", "--run-dir", "dangling"],
     "run directory dangling is a broken symbolic link (to gone); remove it or name another folder"),
    ("run dir under a file", {"taken": "x"}, ["train", "price_forecasting", "--run-dir", "taken/run"],
     "run directory taken/run cannot be created: taken is a file"),
    ("resume without a run", {}, ["train", "price_forecasting", "--resume"], "--resume needs --run-dir"),
    ("run dir on a virtual file system", {}, ["train", "price_forecasting", "--run-dir", "/proc/run"],
     "run directory /proc/run cannot be created in /proc: "),
    ("export to a virtual file system", {}, ["export", "{forecasting}", "--to", "/proc/exports"],
     "--to /proc/exports cannot be created in /proc: "),
    ("predict text that is not UTF-8", {}, ["predict", "{sentiment}", "caf\udce9 \udcff"],
     "predict: error: the text b'caf? ?' is not UTF-8; give UTF-8 text"),
    ("predict an empty device", {}, ["predict", "{sentiment}", "/dev/null"],
     "predict: error: /dev/null has no texts"),
    ("resume with another template's recipe",
     {"r/recipe.toml": 'task = "forecasting"\n[data]\npath = "p.csv"\ntarget_columns = ["y"]\n'},
     ["train", "sentiment", "--run-dir", "r", "--resume"],
     "--resume: r is a forecasting run; the recipe 'sentiment' is sentiment"),
    ("resume a finished run", {}, ["train", "price_forecasting", "--resume", "--run-dir", "{forecasting}"],
     "is a finished run (it has model.keras)"),
    ("resume with fewer epochs than done",
     {"r/recipe.toml": 'task = "forecasting"\n[data]\npath = "p.csv"\ntarget_columns = ["y"]\n',
      "r/checkpoints/training_metadata.json": '{"epoch": 5, "batch": 0}'},
     ["train", "price_forecasting", "--run-dir", "r", "--resume", "--set", "train.epochs=3"],
     "--resume: r has 5 epochs done; `train.epochs` = 3 asks for fewer (set it to 5 or more)"),
    ("resume with a damaged history",
     {"r/recipe.toml": 'task = "forecasting"\n[data]\npath = "p.csv"\ntarget_columns = ["y"]\n',
      "r/history.csv": "garbage\n"},
     ["train", "price_forecasting", "--run-dir", "r", "--resume"],
     "--resume: r/history.csv is damaged (its first line should name the columns, starting with epoch"),
    ("resume with a key the run fixed",
     {"r/recipe.toml": 'task = "forecasting"\n[data]\npath = "p.csv"\ntarget_columns = ["y"]\n'},
     ["train", "price_forecasting", "--run-dir", "r", "--resume", "--set", "model.units=16"],
     "--resume --set model.units: fixed by the interrupted run; when resuming only train.epochs "
     "and train.patience may change"),
    # Data: refused, never trained on.
    ("data file empty", {"empty.csv": ""}, price_args("empty.csv"), "cannot read empty.csv as CSV"),
    ("binary garbage", {"garbage.csv": bytes(range(256)) * 4}, price_args("garbage.csv"),
     "garbage.csv is a binary file (it has NUL bytes), not CSV text"),
    ("not UTF-8", {"latin.csv": "Date,Adj Close\n2001-01-01,caf\xe9\n".encode("latin-1")},
     price_args("latin.csv"), "latin.csv is not UTF-8 text (invalid continuation byte: "
                              "b'\\xe9'); save it as UTF-8"),
    ("header only", {"h.csv": "Ticker,Date,Adj Close\n"}, price_args("h.csv"), "h.csv has no data rows"),
    ("a column named twice", {"d.csv": "Date,Adj Close,Adj Close\n2001-01-01,1,2\n"}, price_args("d.csv"),
     "d.csv names column(s) 'Adj Close' more than once"),
    ("a device as data", {}, price_args("/dev/null"), "data.path '/dev/null' is not a regular file"),
    ("a recipe with a byte-order mark and a bad key", {"r.toml": "\ufefftask = 'forecasting'\n[data]\nwindo = 3\n"},
     ["train", "r.toml"], "unknown key `data.windo`"),
    ("tpu without a TPU", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f)},
     [*price_args("p.csv"), "--set", "train.strategy=tpu"], "train.strategy = 'tpu' needs a TPU"),
    ("corrupt xz", {"p.csv.xz": b"\xfd7zXZ\x00\x00" + bytes(range(200))}, price_args("p.csv.xz"),
     "cannot read p.csv.xz as CSV"),
    ("group cells empty", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        Ticker=f["Ticker"].where(f.index % 2 == 0, None).where(f.index % 2 == 1, "IBM")))},
     price_args("p.csv"), "data: column 'Ticker' (data.group_column) has 150 empty cell(s), first "
     "in row 2; name the series of every row, or drop the column for a table of one series"),
    ("missing columns", {"cols.csv": "Date,Close\n2001-01-01,1\n"}, price_args("cols.csv"),
     "cols.csv lacks column(s) 'Adj Close'"),
    ("missing group column", {"one.csv": "Date,Adj Close\n2001-01-01,1\n"}, price_args("one.csv"),
     "data: no column 'Ticker' (data.group_column; the data has: 'Date', 'Adj Close'); name the "
     "column that tells the series apart, or for one series --set data.group_column='' --set data.group=''"),
    ("wrong dtype", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        **{"Adj Close": f["Adj Close"].astype(object).where(f.index != 5, "n/a")}))},
     price_args("p.csv"), "column 'Adj Close' has 1 missing or non-numeric values (first: a missing cell "
                          "on 2001-01-06)"),
    ("thousands separators", {"p.csv": "Ticker,Date,Adj Close\nAAPL,2001-01-01,\"5,012.34\"\n"},
     price_args("p.csv"), "(first: '5,012.34' on 2001-01-01); fill or drop them "
                          "first (the model reads no missing values; write numbers without thousands "
                          "separators, with a decimal point)"),
    ("missing values", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        **{"Adj Close": f["Adj Close"].where(f.index != 7)}))},
     price_args("p.csv"), "has 1 missing or non-numeric values (first: a missing cell on 2001-01-08)"),
    ("infinite value", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        **{"Adj Close": f["Adj Close"].where(f.index != 290, float("inf"))}))},
     price_args("p.csv"), "column 'Adj Close' has 1 infinite or too large values (first: inf"),
    ("changes beyond float32", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        **{"Adj Close": np.where(f.index % 2 == 0, 3e38, -3e38)}))},
     [*price_args("p.csv"), "--set", "data.scaling=difference"],
     "data: column 'Adj Close' changes from one step to the next by more than float32 holds "
     "(3.4e+38) in "),
    ("beyond float32", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        **{"Adj Close": f["Adj Close"].where(f.index != 9, 1e39)}))},
     price_args("p.csv"), "infinite or too large values (first: 1e+39"),
    ("series too short", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.iloc[:24])},
     price_args("p.csv"), "too few for window=20 + horizon=5 (series length 24); give more rows, "
                          "or train with a smaller data.window or data.horizon"),
    ("every series too short", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: pd.concat(
        [f.iloc[:24], f.iloc[:10].assign(Ticker="IBM")]))},
     [*price_args("p.csv"), "--set", 'data.group="*"'], "too few for window=20 + horizon=5"),
    ("a True/False target", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        **{"Adj Close": f.index % 3 == 0}))}, price_args("p.csv"),
     "data: target column 'Adj Close' holds True/False values, not numbers"),
    ("bad date", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        Date=f["Date"].where(f.index != 3, "someday")))}, price_args("p.csv"),
     "column 'Date' has a non-date value 'someday'"),
    ("a tab inside a sentence", {"p.tsv": "".join(f"Hi {i}.\tHola {i}.\tCC-BY\n" for i in range(8))
                                 + "Tab\there.\tAqu\u00ed.\tCC-BY\n"},
     ["train", "translation", "--set", "data.path=p.tsv", *FAST],
     "p.tsv:9: 1 line(s) (9) have more tab-separated fields than the other lines' 3; a tab inside "
     "a sentence? Remove it"),
    ("an empty date", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        Date=f["Date"].where(f.index != 3, " ")))}, price_args("p.csv"),
     "data: column 'Date' has 1 empty cell(s); every row needs a date: fill or drop those rows"),
    ("day-first dates", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        Date=pd.to_datetime(f["Date"]).dt.strftime("%d/%m/%Y")))}, price_args("p.csv"),
     "has a non-date value '01/01/2001'; expected ISO 8601 (2020-12-31, 2020-12-31 23:59); "
     "for other formats set `data.date_format`"),
    ("dates not in date_format", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f)},
     [*price_args("p.csv"), "--set", "data.date_format=%d/%m/%Y"],
     "has a non-date value '2001-01-01'; expected the format '%d/%m/%Y' of `data.date_format`"),
    ("labels outside `labels`", {"r.csv": lambda t: write_reviews(t / "r.csv").name},
     ["train", "sentiment", "--set", "data.path=r.csv", "--set", 'data.labels=["bad", "good"]', *FAST],
     "needs both labels ['bad', 'good'] (found: 'fresh', 'plot', 'rotten')"),
    ("one class only", {"r.csv": "category,text,movie_name\nfresh,good,a\nfresh,fine,b\n"},
     ["train", "sentiment", "--set", "data.path=r.csv", *FAST], "needs both labels"),
    ("texts without words", {"r.csv": "category,text,movie_name\nfresh,!!,a\nrotten,...,b\n"},
     ["train", "sentiment", "--set", "data.path=r.csv", *FAST],
     "after dropping texts without words, column 'category' no longer has both labels"),
    ("line without a tab", {"p.tsv": "Hello.\tHola.\nGood night. Buenas noches.\n"},
     ["train", "translation", "--set", "data.path=p.tsv", *FAST],
     "p.tsv:2: expected source<TAB>target with both sides non-empty"),
    ("files joined with cat", {"p.csv": "source,target\nHello.,Hola.\nsource,target\nYes.,Sí.\n"},
     ["train", "translation", "--set", "data.path=p.csv", *FAST],
     "p.csv: data row 2 repeats the header (source, target): files joined with `cat`?"),
    ("empty side", {"p.tsv": "Hello.\tHola.\n\t¡Adiós!\n"},
     ["train", "translation", "--set", "data.path=p.tsv", *FAST], "p.tsv:2: expected source<TAB>target"),
    ("unreadable image", {"c.csv": "image,caption\nnote.png,a note\n", "note.png": "just text"},
     ["train", "captioning", "--set", "data.path=c.csv", *FAST], "note.png is not a PNG or JPEG image"),
    ("truncated JPEG to predict", {"half.jpg": HALF_A_JPEG}, ["predict", "{captioning}", "half.jpg"],
     "half.jpg cannot be decoded: Invalid JPEG data, size "),  # libjpeg's own line stays off
    ("truncated image", {"c.csv": truncated_png}, ["train", "captioning", "--set", "data.path=c.csv", *FAST],
     "half.png cannot be decoded"),
    ("missing image", {"c.csv": "image,caption\ngone.png,a thing\n"},
     ["train", "captioning", "--set", "data.path=c.csv", *FAST],
     "names 1 image file(s) not in {tmp_path} (the table's folder), e.g. 'gone.png'; set data.image_dir"),
    # Trained runs: evaluate, predict, export.
    ("evaluate without a model", {}, ["evaluate", "."], "is not a finished run directory"),
    ("predict without a model", {}, ["predict", ".", "x.csv"], "is not a finished run directory"),
    ("export without a model", {}, ["export", ".", "--to", "exports"], "is not a finished run directory"),
    ("backtest on sentiment", {}, ["evaluate", "{sentiment}", "--backtest", "3"],
     "--backtest applies to forecasting runs"),
    ("backtest zero", {}, ["evaluate", "{forecasting}", "--backtest", "0"],
     "argument --backtest: expected a positive integer"),
    ("evaluate changes the model", {}, ["evaluate", "{forecasting}", "--set", "model.units=3"],
     "evaluate --set model.units: fixed by the trained model"),
    ("evaluate changes a shape", {}, ["evaluate", "{translation}", "--set", "data.vocabulary_size=50"],
     "evaluate --set data.vocabulary_size: fixed by the trained model"),
    ("evaluate another split of the training data", {},
     ["evaluate", "{forecasting}", "--set", "data.split=[0.5, 0.25, 0.25]"],
     "evaluate --set data.split: another split of the data the run trained on would test on rows "
     "it trained on; change it only with other data (--set data.path=FILE)"),
    ("evaluate a file's group", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f)},
     ["evaluate", "{forecasting}", "--data", "p.csv", "--set", "data.group=IBM"],
     "evaluate --data p.csv scores every series of the file; --set data.group chooses among the "
     "recipe's data only (give a file of the series to score)"),
    ("evaluate a file with a bad value", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f.assign(
        **{"Adj Close": f["Adj Close"].where(f.index != 7)}))},
     ["evaluate", "{forecasting}", "--data", "p.csv"],
     "p.csv: column 'Adj Close' has 1 missing or non-numeric values (first: a missing cell on "),
    ("evaluate two data sources", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f)},
     ["evaluate", "{forecasting}", "--data", "p.csv", "--set", "data.path=q.csv"],
     "give the data once: --data p.csv or --set data.path, not both"),
    ("evaluate a missing file", {}, ["evaluate", "{sentiment}", "--data", "gone.csv"],
     "data file not found: gone.csv"),
    ("predict a missing image", {}, ["predict", "{captioning}", "gone.png"], "predict: error: image file not found: gone.png"),
    ("predict an image of too many pixels", {"big.png": huge_png_header(10_000, 10_000)},
     ["predict", "{captioning}", "big.png"],
     "big.png has 100,000,000 pixels, more than the 89,478,485 allowed"),
    ("predict a folder of texts", {"texts/a.txt": "fine"}, ["predict", "{sentiment}", "texts"],
     "predict: error: texts is a folder"),
    ("evaluate swaps the labels", {}, ["evaluate", "{sentiment}", "--set", 'data.labels=["fresh", "rotten"]'],
     "['fresh', 'rotten'] swaps the trained labels ['rotten', 'fresh']"),
    ("a broken JSON line", {"r.jsonl": '{"text": "fine", "category": "fresh"}\n{"text": "bad" "category": 1}\n'},
     ["evaluate", "{sentiment}", "--data", "r.jsonl"],
     "cannot read r.jsonl as JSONL: line 2, column 16: Expecting ',' delimiter"),
    ("texts that are objects", {"r.jsonl": '{"text": {"t": "fine"}, "category": "fresh"}\n'},
     ["evaluate", "{sentiment}", "--data", "r.jsonl"], "column 'text' must hold text, got a dict"),
    ("image column of numbers", {"c.csv": "image,caption\n0,a red square\n"},
     ["evaluate", "{captioning}", "--data", "c.csv"],
     "column 'image' must hold image file names (or PNG/JPEG bytes), got int values"),
    ("truncated image to evaluate", {"c.csv": truncated_png}, ["evaluate", "{captioning}", "--data", "c.csv"],
     "half.png cannot be decoded: "),
    ("predict a short history", {"h.csv": "Date,Adj Close\n2001-01-01,3\n"}, ["predict", "{forecasting}", "h.csv"],
     "h.csv: has 1 rows, the model needs the last 20"),
    ("evaluate a short file with repeated dates", {"p.csv": lambda t: prices_with(
        t, "p.csv", lambda f: pd.concat([f.iloc[:12], f.iloc[:3]]))},
     ["evaluate", "{forecasting}", "--data", "p.csv"],
     "p.csv: has 15 rows (3 repeat a date and were dropped, 12 left), too few for window=20"),
    ("export to a file", {"taken": "x"}, ["export", "{forecasting}", "--to", "taken"],
     "--to taken is a file, not a folder"),
    ("export version zero", {}, ["export", "{forecasting}", "--to", "e", "--version", "0"],
     "argument --version: expected a positive integer"),
    ("models config a folder", {"cfg/x": ""},
     ["export", "{forecasting}", "--to", "e", "--models-config", "cfg"], "--models-config cfg is a folder"),
    ("models config garbage", {"m.config": "not { a config"},
     ["export", "{forecasting}", "--to", "e", "--models-config", "m.config"],
     "m.config is not a TF Serving model config"),
    ("name without a models config", {}, ["export", "{forecasting}", "--to", "e", "--name", "m"],
     "--name only applies with --models-config"),
    ("serving base not absolute", {}, ["export", "{forecasting}", "--to", "e", "--models-config", "m.config",
                                       "--serving-base", "models/x"],
     "--serving-base must be the absolute path the server sees"),
    ("model name with a slash", {}, ["export", "{forecasting}", "--to", "e", "--models-config", "m.config",
                                     "--name", "a/b"], "--name must be a model name of letters"),
    ("a default model name that is not one", {},
     ["export", "{forecasting}", "--to", "my prices", "--models-config", "m.config"],
     "--name must be a model name of letters, digits, '_', '.' and '-' (clients call "
     "/v1/models/<name>); the default, --to's folder name, is 'my prices'; pass --name"),
    ("predict a missing text file", {}, ["predict", "{sentiment}", "reviews.txt"],
     "predict: error: file not found: reviews.txt"),
    ("train into a finished run", {}, ["train", "price_forecasting", "--run-dir", "{forecasting}"],
     "holds a finished run; train into a new --run-dir, or evaluate or export this one"),
    ("predict an empty text file", {"empty.txt": ""}, ["predict", "{sentiment}", "empty.txt"],
     "predict: error: empty.txt has no texts"),
    ("predict a table with empty cells", {"t.csv": 'text,x\nfine,1\n,2\n"  ",3\n'},
     ["predict", "{sentiment}", "t.csv"],
     "predict: error: t.csv row(s) 2, 3 have no text in column 'text'; give a text in every row"),
    ("predict an empty argument", {}, ["predict", "{forecasting}", ""],
     "predict: error: input 1 is empty (''); give a data file"),
    ("predict an empty text", {}, ["predict", "{sentiment}", "fine", " "],
     "predict: error: input 2 is empty (' ')"),
    ("predict with an empty model directory", {}, ["predict", "", "x.csv"],
     "predict: error: the model directory is empty ('')"),
    ("evaluate an empty run directory", {}, ["evaluate", ""], "the run directory is empty ('')"),
    ("truncated model file", {"run/recipe.toml": 'task = "forecasting"\n[data]\npath = "x.csv"\n'
                                                  'target_columns = ["x"]\n',
                              "run/model.keras": b"PK\x03\x04 cut short"},
     ["evaluate", "run"], "run/model.keras is not a Keras model file (truncated or corrupt)"),
    ("models config a device", {}, ["export", "{forecasting}", "--to", "e", "--models-config", "/dev/null"],
     "--models-config /dev/null is not a regular file"),
    ("models config inside --to", {}, ["export", "{forecasting}", "--to", "e", "--models-config", "e/m.config"],
     "--models-config e/m.config is inside --to e"),
    ("template.json corrupt", {"run/recipe.toml": 'task = "forecasting"\n[data]\npath = "x.csv"\n'
                                                   'target_columns = ["x"]\n',
                               "run/model.keras": b"PK\x05\x06" + bytes(18), "run/template.json": "{oops"},
     ["evaluate", "run"], "run/template.json is not the JSON rnn-tasks wrote"),
    ("template.json of other types", {"run/recipe.toml": 'task = "forecasting"\n[data]\npath = "x.csv"\n'
                                                         'target_columns = ["x"]\n',
                                      "run/model.keras": b"PK\x05\x06" + bytes(18),
                                      "run/template.json": '{"class": 42, "model_sha256": null}'},
     ["evaluate", "run"], "run/template.json is not the JSON rnn-tasks wrote"),
    ("predict a table without the text column", {"p.csv": "Date,Adj Close\n2001-01-01,3\n"},
     ["predict", "{sentiment}", "p.csv"], "p.csv lacks column(s) 'text' (it has: 'Date', 'Adj Close'); "
     "the model reads its texts from column 'text', as in training: rename that column, or give a "
     "text file, one text per line"),
    ("a text starting with a dash", {}, ["predict", "{sentiment}", "-terrible-"],
     "a text that starts with '-' goes after --"),
    ("target is the date column", {}, ["train", "price_forecasting", "--set", 'data.target_columns=["Date"]'],
     "`data.date_column` 'Date' cannot also be a target, feature or future column"),
    ("a spreadsheet as data", {"p.xlsx": b"PK\x03\x04" + bytes(40)}, price_args("p.xlsx"),
     "p.xlsx: .xlsx files are not read; save the table as CSV"),
    ("texts that are all emoji", {"r.csv": "category,text,movie_name\nfresh,\U0001F600,a\nrotten,\U0001F61E,b\n"},
     ["train", "sentiment", "--set", "data.path=r.csv", *FAST],
     "(0 of 2 labelled rows have words in column 'text')"),
    # Many series, known-future inputs, quantiles.
    ("group a number the data lacks", {}, ["train", "price_forecasting", "--set", "data.group=3"],
     "data: `group` must be one of the values of column 'Ticker' ('AAPL', 'FB', 'GOOG', 'IBM', "
     "'MSFT'), got '3'"),
    ("group a fraction", {}, ["train", "price_forecasting", "--set", "data.group=1.5"],
     "`data.group` must be a string of characters, an integer or a list of strings or integers, "
     "got 1.5"),
    ("group named twice", {}, ["train", "price_forecasting", "--set", 'data.group=["IBM", "IBM"]'],
     "`data.group` names a group twice, got ['IBM', 'IBM']"),
    ("every group in a list", {}, ["train", "price_forecasting", "--set", 'data.group=["*", "IBM"]'],
     '`data.group` "*" means every group; give it alone, not in a list'),
    ("a group the data lacks", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f)},
     [*price_args("p.csv"), "--set", 'data.group=["AAPL", "IBM"]'],
     "`group` must be one of the values of column 'Ticker' ('AAPL'), got 'IBM'"),
    ("calendar feature unknown", {}, ["train", "price_forecasting", "--set", 'data.calendar=["week"]'],
     "`data.calendar` must be a list of one of 'day_of_week', 'day_of_month', 'month', "
     "'day_of_year', 'hour', got ['week']"),
    ("calendar twice", {}, ["train", "price_forecasting", "--set", 'data.calendar=["hour", "hour"]'],
     "`data.calendar` names a feature twice"),
    ("calendar without dates", {"r.toml": 'task = "forecasting"\n[data]\npath = "x.csv"\n'
                                          'target_columns = ["y"]\ncalendar = ["hour"]\n'},
     ["train", "r.toml"], "`data.calendar` ['hour'] is computed from the dates; set `data.date_column`"),
    ("future column also a target", {}, ["train", "price_forecasting", "--set",
                                         'data.future_columns=["Adj Close"]'],
     "column(s) 'Adj Close' named twice in `data.target_columns` + `data.feature_columns` + "
     "`data.future_columns`"),
    ("future column not in the data", {"p.csv": lambda t: prices_with(t, "p.csv", lambda f: f)},
     [*price_args("p.csv"), "--set", 'data.future_columns=["promo"]'], "p.csv lacks column(s) 'promo'"),
    ("quantile 1.0", {}, ["train", "price_forecasting", "--set", "model.quantiles=[0.5, 1.0]"],
     "`model.quantiles` must be a list of 0 to 99 numbers > 0.0 and < 1.0, got [0.5, 1.0]"),
    ("quantiles without the median", {}, ["train", "price_forecasting", "--set", "model.quantiles=[0.1, 0.9]"],
     "`model.quantiles` must hold 0.5 (the point forecast) and at least one other level"),
    ("quantiles not increasing", {}, ["train", "price_forecasting", "--set",
                                      "model.quantiles=[0.9, 0.5, 0.1]"],
     "`model.quantiles` must be increasing, got [0.9, 0.5, 0.1]"),
    ("quantiles with another loss", {}, ["train", "price_forecasting", "--set",
                                         "model.quantiles=[0.1, 0.5, 0.9]"],
     'train with the quantile loss; set `train.loss = "pinball"` (got \'mae\')'),
    ("calibrate without quantiles", {}, ["train", "price_forecasting", "--set", "model.calibrate=true"],
     "`model.calibrate` shifts quantile forecasts; set `model.quantiles`"),
    ("pinball without quantiles", {}, ["train", "price_forecasting", "--set", "train.loss=pinball"],
     '`train.loss = "pinball"` needs `model.quantiles`'),
    ("evaluate changes the calendar", {}, ["evaluate", "{forecasting}", "--set", 'data.calendar=["hour"]'],
     "evaluate --set data.calendar: fixed by the trained model"),
    ("backtest beyond the data", {}, ["evaluate", "{forecasting}", "--backtest", "999"],
     "evaluate: error: a backtest over 999 forecast origins asks for more than the data allows"),
    ("evaluate --set of an unknown key", {}, ["evaluate", "{forecasting}", "--set", "train.epoch=2"],
     "unknown key `train.epoch`"),
    ("option unknown to the subcommand", {}, ["train", "price_forecasting", "--bogus"],
     "rnn-tasks train: error: unrecognized arguments: --bogus (see rnn-tasks train --help)"),
    ("empty recipe argument", {}, ["train", ""], "recipe must be a path, got an empty string ''"),
    ("Python's True", {}, ["train", "price_forecasting", "--set", "model.layer_norm=True"],
     "`model.layer_norm` must be a boolean (true or false), got 'True'"),
    ("models config binary", {"m.config": b"\x00\x01binary"},
     ["export", "{forecasting}", "--to", "e", "--models-config", "m.config"],
     "m.config is not a TF Serving model config: 1:1 : '\\x00\\x01binary'"),
    ("models config custom", {"m.config": 'custom_model_config { type_url: "x" }\n'},
     ["export", "{forecasting}", "--to", "e", "--models-config", "m.config"],
     "m.config holds a custom_model_config; rnn-tasks adds models to a model_config_list only"),
]


def snapshot(*folders):
    """Every path under `folders`, to compare before and after a command."""
    return sorted(str(p) for folder in folders for p in Path(folder).rglob("*"))


@pytest.mark.parametrize("files, args, message", [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_in_a_real_shell_is_one_line_exit_2_and_writes_nothing(
        tmp_path, request, files, args, message):
    for name, content in files.items():
        if callable(content):
            content(tmp_path)
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            write(tmp_path / name, content)
    runs = {name: request.getfixturevalue(f"{name}_run")[1] for name in TEMPLATES
            if any(f"{{{name}}}" in a for a in args)}
    args = [a.format(**runs) for a in args]
    before = snapshot(tmp_path, *runs.values())
    result = shell(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and message.replace("{tmp_path}", str(tmp_path.resolve())) in lines[0], \
        result.stderr
    assert snapshot(tmp_path, *runs.values()) == before  # no run dir, no export, no lock


def test_a_text_with_a_space_is_a_text_even_ending_like_a_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    texts = ["I hated this movie, see review.txt", "Open notes.txt"]
    assert texts_from_arguments(texts, "text").tolist() == texts
    with pytest.raises(UserError, match="predict: file not found: notes.txt"):
        texts_from_arguments(["notes.txt"], "text")


@pytest.mark.parametrize("name, content, message", [
    ("u16.csv", "Date,Adj Close\n2001-01-01,1\n".encode("utf-16"),
     "u16.csv is UTF-16 text (Excel's \"Unicode Text\" is UTF-16); save it as UTF-8"),
    ("u32.csv", "Date,Adj Close\n".encode("utf-32"),
     "u32.csv is UTF-32 text (Excel's \"Unicode Text\" is UTF-16); save it as UTF-8"),
    ("lines.json", b'{"Date": "2001-01-01", "Adj Close": 1}\n{"Date": "2001-01-02", "Adj Close": 2}\n',
     "cannot read lines.json as JSON: Trailing data at position 38; one JSON object per line? "
     "name the file .jsonl"),
])
def test_tables_in_a_near_miss_format_say_what_they_are(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError) as error:
        read_table(tmp_path / name)
    assert str(error.value).replace(f"{tmp_path}/", "") == message


def test_excel_empty_rows_at_the_end_are_not_data(tmp_path):
    """Excel writes `,` lines for formatted empty rows: they were a 'non-date value nan'."""
    (tmp_path / "p.csv").write_text("Date,Adj Close\n2001-01-01,1\n,\n2001-01-03,3\n,\n,\n")
    frame = read_table(tmp_path / "p.csv")
    assert frame["Date"].tolist()[::2] == ["2001-01-01", "2001-01-03"] and len(frame) == 3


def test_a_double_star_glob_reads_shards_at_any_depth(tmp_path):
    for part, folder in enumerate(["", "2024/", "2024/q4/"]):
        (tmp_path / "shards" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "shards" / folder / f"part{part}.csv").write_text(f"a\n{part}\n")
    frame = read_table(tmp_path / "shards" / "**" / "*.csv")  # was: no file matches
    assert sorted(frame["a"]) == [0, 1, 2]


def test_text_files_end_in_blank_lines_and_pair_files_are_pairs_throughout(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("texts.txt").write_text("Good.\nBad.\n\n\n")  # an editor's blank lines at the end
    assert texts_from_arguments(["texts.txt"], "text").tolist() == ["Good.", "Bad."]
    Path("mac.txt").write_bytes(b"Good.\rBad.\r")  # classic Mac OS line ends: was one text
    assert texts_from_arguments(["mac.txt"], "text").tolist() == ["Good.", "Bad."]
    Path("mixed.tsv").write_text("Hello.\tHola.\nMarch 17,\t2021\nGood night.\n")
    pairs = lambda path: True  # noqa: E731  (as translation reads a file without a header)
    # The text after a tab used to be dropped unseen where other lines had none.
    with pytest.raises(UserError, match=r"^predict: mixed.tsv line\(s\) 1, 2 are source<TAB>"
                                        r"target pairs and line\(s\) 3 have no tab"):
        texts_from_arguments(["mixed.tsv"], "text", pairs)
    Path("excel.txt").write_bytes("Hello.\tHola.\n".encode("utf-16"))  # "Unicode Text"
    with pytest.raises(UserError, match=r"^excel.txt is UTF-16 text"):
        texts_from_arguments(["excel.txt"], "text", pairs)
    Path("pairs.tsv").write_text("Hello.\tHola.\nYes.\tSí.\n\n")
    assert texts_from_arguments(["pairs.tsv"], "text", pairs).tolist() == ["Hello.", "Yes."]


def test_a_dash_reads_texts_from_standard_input(sentiment_run, tmp_path):
    _, run_dir, _ = sentiment_run
    piped = subprocess.run([sys.executable, "-m", "rnn_tasks.cli", "predict", str(run_dir), "-"],
                           input="A moving, funny film.\nDull.\n", capture_output=True, text=True)
    assert piped.returncode == 0, piped.stderr
    listed = subprocess.run([sys.executable, "-m", "rnn_tasks.cli", "predict", str(run_dir),
                             "A moving, funny film.", "Dull."], capture_output=True, text=True)
    assert json.loads(piped.stdout) == json.loads(listed.stdout)
    assert len(json.loads(piped.stdout)["label"]) == 2


def test_a_file_of_one_series_trains_the_grouped_recipe_with_the_group_unset(tmp_path):
    path = tmp_path / "one.csv"
    pd.read_csv(write_prices(path)).drop(columns="Ticker").to_csv(path, index=False)
    task = ForecastingTask.from_recipe("price_forecasting", [
        f"data.path={json.dumps(str(path))}", "data.group_column=", "data.group=", "data.window=20"])
    task.prepare()
    assert [series.name for series in task.data.series] == [None]


def test_dates_with_utc_offsets_keep_the_wall_clock_time_they_name():
    # Daily rows at local midnight across a daylight-saving change, as pandas writes a
    # tz-aware index: the offset changes, the calendar day must not.
    text = ["2024-03-30T00:00:00+01:00", "2024-03-31T00:00:00+02:00", "2024-04-01T00:00:00Z",
            "2024-04-02", "2024-04-03T00:00:00-11:00"]
    expected = pd.Series(pd.to_datetime([cell[:10] for cell in text]))
    pd.testing.assert_series_equal(wall_clock(pd.Series(text, name="Date")), expected,
                                   check_names=False)
    tokyo = pd.Series(pd.date_range("2024-01-01", periods=3, freq="D", tz="Asia/Tokyo"))
    assert wall_clock(tokyo).dt.day.tolist() == [1, 2, 3]
    assert wall_clock(tokyo.astype(str)).dt.day.tolist() == [1, 2, 3]
    assert as_seconds(np.array(text[:2])).tolist() == [1711756800, 1711843200]  # 2024-03-30, -31
    with pytest.raises(UserError, match="^predict: `future_dates` has a missing or non-date value "
                                        "'soon'; give one ISO 8601 date per forecast step$"):
        as_seconds(np.array(["2024-03-30T00:00:00+01:00", "soon"]))


def test_an_hour_that_daylight_saving_time_repeats_is_two_rows_in_order():
    # Berlin, 2024-10-27: 02:00-02:59 happens twice (+02:00, then +01:00).
    hours = pd.Series(pd.date_range("2024-10-26 22:00", periods=8, freq="h", tz="Europe/Berlin"))
    frame = pd.DataFrame({"Ticker": "AAPL", "Date": hours.map(lambda t: t.isoformat()),
                          "Adj Close": np.arange(1.0, 9.0)}).iloc[::-1]  # unsorted
    task = ForecastingTask.from_recipe("price_forecasting", {"data.path": "unused.csv"})
    series = read_series(frame, task.config.data, "AAPL")
    assert series.values[:, 0].tolist() == list(range(1, 9)) and series.dropped_duplicates == 0
    local_hours = (series.seconds // 3600 % 24).tolist()
    assert local_hours == [22, 23, 0, 1, 2, 2, 3, 4]  # the calendar's hours: local


def test_calendar_features_refuse_dates_outside_pandas_years_before_training():
    """Such dates trained, then every forecast failed on its `future_dates` (after the
    hour of training, leaving an unfinished run); without a calendar they serve."""
    frame = pd.DataFrame({"Ticker": "AAPL", "Date": [f"{year}-01-01" for year in range(1600, 1700)],
                          "Adj Close": np.arange(1.0, 101.0)})
    task = ForecastingTask.from_recipe("price_forecasting", {"data.path": "unused.csv",
                                                             "data.calendar": ["month"]})
    with pytest.raises(UserError, match=r"^data: column 'Date' has the date '1600-01-01T00:00:00'; "
                                        r"calendar features \(data.calendar\) take dates in the "
                                        r"years 1677 to 2262"):
        read_series(frame, task.config.data, "AAPL")
    plain = ForecastingTask.from_recipe("price_forecasting", {"data.path": "unused.csv"})
    assert len(read_series(frame, plain.config.data, "AAPL").values) == 100


def test_resume_takes_the_original_commands_own_values():
    recipe, _ = checks.training_recipe("price_forecasting", ["data.path=p.csv"])
    units = recipe["model"]["units"]
    checks.check_resume_overrides([f"model.units={units}", "data.path=p.csv", "train.epochs=99"],
                                  recipe)
    written = with_absolute_path(recipe)  # as recipe.toml keeps it
    assert written["data"]["path"] == os.path.abspath("p.csv")
    checks.check_resume_overrides(["data.path=p.csv", f"data.path={os.path.abspath('p.csv')}"],
                                  written)
    for change in (f"model.units={units + 1}", "data.path=q.csv"):
        with pytest.raises(UserError, match=f"--resume --set {change.split('=')[0]}: fixed by"):
            checks.check_resume_overrides([change], recipe)


def test_series_too_short_for_a_split_are_named_in_one_notice(tmp_path):
    prices = pd.read_csv(write_prices(tmp_path / "p.csv", rows=200))
    pd.concat([prices, prices.iloc[:10].assign(Ticker="IBM"), prices.iloc[:12].assign(Ticker="XYZ")]
              ).to_csv(tmp_path / "p.csv", index=False)
    result = shell(*price_args("p.csv"), "--set", 'data.group="*"', "--run-dir", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ("notice: 2 of 3 series are too short for window=20 + horizon=5 "
                                     "in a split and left out of it: 'IBM' (every split), "
                                     "'XYZ' (every split)")
    assert set(json.loads((tmp_path / "run" / "metrics.json").read_text())["groups"]) == {"AAPL"}


@pytest.mark.parametrize("delay", [0.15, 0.4, 1.0, 2.0])
def test_ctrl_c_while_the_libraries_load_is_one_line_exit_130(tmp_path, delay):
    """From the first import of NumPy and pandas through TensorFlow's start-up, and later."""
    prices = write_prices(tmp_path / "p.csv")
    process = subprocess.Popen([RNN_TASKS, "train", "price_forecasting", "--run-dir", "run",
                                "--set", f"data.path={prices}"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err.strip() == "rnn-tasks: interrupted", err
    assert not (tmp_path / "run").exists()


def interrupted(*args, **kwargs):
    """Stands in for a step of `train` that Ctrl-C stops."""
    raise KeyboardInterrupt


def test_a_train_stopped_before_its_first_backup_leaves_no_run(tmp_path, monkeypatch, capsys):
    """The data's fingerprint, written before the first epoch, kept the half-made run; a
    folder the user made kept recipe.toml and logs/, and the same command then refused it."""
    from rnn_tasks.templates import training

    monkeypatch.setattr(training, "fit_core", interrupted)
    prices = write_prices(tmp_path / "p.csv")
    status, _, err = cli(capsys, "train", "price_forecasting", "--run-dir", tmp_path / "run",
                         "--set", f"data.path={prices}", *FAST)
    assert status == 130 and err == "rnn-tasks: interrupted\n", err
    assert not (tmp_path / "run").exists()
    (tmp_path / "mine").mkdir()  # a folder of the user's stays, as empty as it was
    assert cli(capsys, "train", "price_forecasting", "--run-dir", tmp_path / "mine",
               "--set", f"data.path={prices}", *FAST)[0] == 130
    assert list((tmp_path / "mine").iterdir()) == []


def test_a_train_stopped_while_saving_resumes_to_scoring(tmp_path, monkeypatch, capsys):
    """model.keras was written first, in place: a kill while saving left a run that
    looked finished (refused by --resume) with a cut model or no report."""
    from rnn_tasks.templates import run_dir

    prices = write_prices(tmp_path / "p.csv")
    train = ["train", "price_forecasting", "--run-dir", tmp_path / "run",
             "--set", f"data.path={prices}", *FAST]
    with monkeypatch.context() as patched:
        patched.setattr(run_dir, "write_report", interrupted)
        assert cli(capsys, *train)[0] == 130
    assert not (tmp_path / "run" / "model.keras").exists()
    status, _, err = cli(capsys, *train, "--resume")
    assert status == 0, err
    saved = {path.name for path in (tmp_path / "run").iterdir()}
    assert {"model.keras", "metrics.json", "report.md"} <= saved and ".model.keras" not in saved


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt),
                                             (signal.SIGTERM, cli_module.Terminated)])
def test_a_signal_during_the_import_lands_after_it(signum, raised):
    """A `KeyboardInterrupt` inside TensorFlow's import crashed the process now and then
    (SIGSEGV, or a half-imported module's traceback): the import runs to its end first."""
    steps = []
    with the_commands_handlers():
        with pytest.raises(raised):
            with cli_module.signals_held():
                signal.raise_signal(signum)
                steps.append("the import went on")
            steps.append("not reached")
        assert signal.getsignal(signum) in (cli_module._interrupt, cli_module._terminate)
    assert steps == ["the import went on"]


@contextlib.contextmanager
def the_commands_handlers():
    """SIGINT and SIGTERM handled as `main` handles them, for the block. (A test process
    started in the background by a script inherits SIGINT ignored.)"""
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, cli_module._interrupt),
                signal.SIGTERM: signal.signal(signal.SIGTERM, cli_module._terminate)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        cli_module.INTERRUPTS.clear()
        cli_module.TERMINATIONS.clear()


def test_a_second_ctrl_c_during_a_hung_import_stops_it_at_once():
    steps = []
    with the_commands_handlers():
        with pytest.raises(KeyboardInterrupt):
            with cli_module.signals_held():
                signal.raise_signal(signal.SIGINT)
                steps.append("held")
                signal.raise_signal(signal.SIGINT)  # the import hangs: pressed again
                steps.append("not reached")
        assert signal.getsignal(signal.SIGINT) is cli_module._interrupt
    assert steps == ["held"]


def test_a_task_index_outside_the_cluster_is_one_line(tmp_path):
    config = {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 5}}
    result = shell("train", "price_forecasting", "--run-dir", "r", "--set", "train.strategy=multi_worker",
                   cwd=tmp_path, env={**os.environ, "TF_CONFIG": json.dumps(config)})
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "rnn-tasks train: error: TF_CONFIG: task 'worker' index 5 is not in the cluster "
        "(its 'worker' tasks: indexes 0 to 0)"]


@pytest.mark.parametrize("swapped, message", [
    ("recipe.toml", "mixed: its model was trained as a forecasting task but its recipe.toml is a "
                    "sentiment recipe; restore the run's own recipe or train again"),
    ("model.keras", "mixed/model.keras is not this run's model: it changed after the run saved it; "
                    "restore the run's own model.keras or train again"),
])
def test_a_run_with_a_file_from_another_run_is_refused(forecasting_run, sentiment_run, tmp_path,
                                                        swapped, message):
    shutil.copytree(forecasting_run[1], tmp_path / "mixed")
    shutil.copy(sentiment_run[1] / swapped, tmp_path / "mixed" / swapped)
    for command in (["evaluate", "mixed"], ["export", "mixed", "--to", "e"]):
        result = shell(*command, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [f"rnn-tasks {command[0]}: error: {message}"]
    assert not (tmp_path / "e").exists()


def test_a_model_the_run_did_not_save_is_refused(forecasting_run, tmp_path):
    """The same template's model.keras, saved again (from another run, or retrained in a
    notebook): its recipe would drive another network than the one in the file."""
    shutil.copytree(forecasting_run[1], tmp_path / "mixed")
    forecasting_run[0].model.save(tmp_path / "mixed" / "model.keras")
    result = shell("export", "mixed", "--to", "e", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "rnn-tasks export: error: mixed/model.keras is not this run's model: it changed after "
        "the run saved it; restore the run's own model.keras or train again"]


def test_a_recipe_whose_model_is_not_the_runs_is_refused(forecasting_run, tmp_path):
    """Same template, other architecture: the run's model would be driven by the recipe's."""
    shutil.copytree(forecasting_run[1], tmp_path / "mixed")
    recipe = tmp_path / "mixed" / "recipe.toml"
    units = forecasting_run[0].config.model.units
    recipe.write_text(re.sub(r"(?m)^units = \d+$", f"units = {units + 1}", recipe.read_text()))
    result = shell("export", "mixed", "--to", "e", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f"rnn-tasks export: error: mixed/recipe.toml is not this run's recipe: its model.units is "
        f"{units + 1}, the model was trained with {units}; restore the run's own recipe.toml or "
        "train again"]


def unimportable(tmp_path, *modules):
    """The environment of a process in which importing `modules` fails: a check that
    answers before them, not a wall-clock limit that a busy machine would miss."""
    stubs = tmp_path / "unimportable"
    for module in modules:
        (stubs / module).mkdir(parents=True)
        (stubs / module / "__init__.py").write_text(f"raise ImportError('{module} was imported')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(stubs), os.environ.get("PYTHONPATH")]))}


@pytest.mark.parametrize("backend", ["jax", "bogus"])
def test_another_keras_backend_is_refused_before_keras_loads(tmp_path, backend):
    result = shell("train", "price_forecasting", "--run-dir", "r", cwd=tmp_path,
                   env={**unimportable(tmp_path, "keras", "tensorflow"), "KERAS_BACKEND": backend})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"rnn-tasks train: error: the task templates run on the TensorFlow backend (their tf.data "
        f"pipelines, serving graphs and SavedModels are TensorFlow), got KERAS_BACKEND={backend!r}; "
        "unset it or set KERAS_BACKEND=tensorflow (the layers of rnn_tasks.layers run on every backend)"]
    assert not (tmp_path / "r").exists()


def test_recipe_errors_are_answered_before_tensorflow_starts(tmp_path):
    result = shell("train", "price_forcasting", cwd=tmp_path,
                   env=unimportable(tmp_path, "keras", "tensorflow"))
    assert result.returncode == 2
    assert result.stderr.startswith("rnn-tasks train: error: recipe 'price_forcasting' not found: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("inputs, message", [
    (["missing.csv"], "data file not found: missing.csv"),
    (["-"], "'-' (standard input) gives texts to a text model; a forecasting model reads "
            "history tables (CSV, TSV or JSON lines): give their paths"),
    (["part-*.csv"], "no file matches the pattern 'part-*.csv'"),
])
def test_predict_names_a_missing_history_file_before_tensorflow_starts(
        forecasting_run, tmp_path, inputs, message):
    _, run_dir, _ = forecasting_run
    result = shell("predict", run_dir, *inputs, cwd=tmp_path,
                   env=unimportable(tmp_path, "keras", "tensorflow"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith(f"rnn-tasks predict: error: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_predict_names_a_missing_image_file(tmp_path):
    from rnn_tasks.checks import check_predict_files

    with pytest.raises(UserError, match="^predict: image file not found: cat.png$"):
        check_predict_files("captioning", ["cat.png"])
    check_predict_files("sentiment", ["-", "a text, not a file"])  # texts are read as they come


@pytest.mark.parametrize("limit", [100_000])  # saved_model.pb is ~250 kB
def test_a_full_disk_during_export_is_one_line_and_leaves_nothing(forecasting_run, tmp_path, limit):
    """A file-size limit stands in for a full disk: writes fail part-way (EFBIG), in Python's
    code or in TensorFlow's, at a point that depends on the limit."""
    import resource

    _, run_dir, _ = forecasting_run
    result = subprocess.run(
        [RNN_TASKS, "export", run_dir, "--to", "models"], cwd=tmp_path, capture_output=True, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "File too large" in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []  # no base folder, no staging folder


def test_a_run_directory_in_use_is_refused(forecasting_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with checks.run_lock(run):
        result = shell("train", "price_forecasting", "--run-dir", run, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"rnn-tasks train: error: run directory {run} is in use by " \
                                    "another rnn-tasks process"
    assert not (run / checks.LOCK_FILE).exists()  # released with the block


def test_dataset_that_needs_the_network_fails_in_seconds(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNN_TASKS_CACHE", str(tmp_path / "cache"))
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")  # nothing listens: as if offline
    start = time.perf_counter()
    status, _, err = cli(capsys, "train", "translation", "--run-dir", "run")
    assert status == 2 and time.perf_counter() - start < 30
    assert "needs the network to download" in err and "--set data.path=FILE" in err
    assert not (tmp_path / "run").exists()


# Killed processes -----------------------------------------------------------------------------


def start_cli(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "rnn_tasks.cli", *map(str, args)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition, process, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "the process ended before it could be killed"
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_training_killed_with_sigkill_resumes_from_its_last_epoch(tmp_path):
    prices = write_prices(tmp_path / "prices.csv", rows=400)
    run = tmp_path / "run"
    sets = ["--set", f"data.path={prices}", "--set", "data.window=20", "--set", "model.units=8",
            "--set", "train.epochs=12", "--set", "train.patience=0", "--set", "train.batch_size=16"]
    process = start_cli("train", "price_forecasting", "--run-dir", run, *sets, cwd=tmp_path)

    def epochs_logged():
        history = run / "history.csv"
        return history.is_file() and len(history.read_text().splitlines()) >= 4  # header + 3

    wait_for(epochs_logged, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(pd.read_csv(run / "history.csv"))
    assert done_before < 12 and not (run / "metrics.json").exists()

    resumed = subprocess.run([sys.executable, "-m", "rnn_tasks.cli", "train", "price_forecasting",
                              "--run-dir", run, "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == list(range(12))  # every epoch once, as if uninterrupted
    assert "Epoch 1/12" not in resumed.stdout  # it did not start over
    assert json.loads((run / "metrics.json").read_text())["mae"] > 0
    assert (run / "plots" / "training_curves.png").is_file()


def test_an_interrupt_after_the_last_epoch_leaves_a_run_that_resume_finishes(tmp_path, capsys,
                                                                             monkeypatch):
    prices = write_prices(tmp_path / "prices.csv")
    run = tmp_path / "run"
    sets = ["--set", f"data.path={prices}", "--set", "data.window=20", "--set", "model.units=4",
            "--set", "train.epochs=2", "--set", "train.patience=0"]

    with monkeypatch.context() as patch:  # Ctrl-C while the trained model is scored
        patch.setattr(ForecastingTask, "evaluate", interrupted)
        status, _, err = cli(capsys, "train", "price_forecasting", "--run-dir", run, *sets)
    assert (status, err) == (130, "rnn-tasks: interrupted\n")
    assert (run / "checkpoints" / "training_metadata.json").is_file()  # kept, not deleted
    status, out, _ = cli(capsys, "train", "price_forecasting", "--run-dir", run, "--resume")
    assert status == 0 and "Epoch 1/2" not in out  # nothing trained again
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [0, 1]
    assert json.loads((run / "metrics.json").read_text())["mae"] > 0


def test_trainings_started_in_the_same_second_get_their_own_default_folders(tmp_path, capsys,
                                                                           monkeypatch):
    """Without --run-dir the folder is runs/<recipe>-<time>, to the second: a sweep that
    starts two at once must not have the second refused as "in use"."""
    import rnn_tasks.cli

    monkeypatch.chdir(tmp_path)
    strftime = rnn_tasks.cli.time.strftime  # the time module's: Keras calls it too
    monkeypatch.setattr(rnn_tasks.cli.time, "strftime", lambda form, *when: "20260101-000000"
                        if form == "%Y%m%d-%H%M%S" and not when else strftime(form, *when))
    write_prices(tmp_path / "prices.csv")
    taken = tmp_path / "runs" / "price_forecasting-20260101-000000"
    taken.mkdir(parents=True)
    (taken / "history.csv").write_text("epoch,loss\n")  # another train, a moment ahead
    status, out, err = cli(capsys, *price_args("prices.csv"))
    assert status == 0, err
    assert out.splitlines()[-1] == "run directory: runs/price_forecasting-20260101-000000-2"
    assert (taken.with_name(taken.name + "-2") / "model.keras").is_file()
    assert [path.name for path in taken.iterdir()] == ["history.csv"]  # left alone


def test_a_quoted_tilde_is_the_home_folder_as_the_shell_would_have_it(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    write_prices(tmp_path / "cwd" / "prices.csv")
    status, _, err = cli(capsys, *price_args("prices.csv"), "--run-dir", "~/run")
    assert status == 0, err
    assert (tmp_path / "home" / "run" / "model.keras").is_file()
    assert not (tmp_path / "cwd" / "~").exists()
    # The run keeps its data's absolute path: it evaluates from any folder.
    monkeypatch.chdir(tmp_path)
    status, _, err = cli(capsys, "evaluate", "~/run")
    assert status == 0, err
    assert read_toml(tmp_path / "home" / "run" / "recipe.toml")["data"]["path"] == str(
        tmp_path / "cwd" / "prices.csv")
    status, _, err = cli(capsys, "export", "~/run", "--to", "~/exports")
    assert status == 0 and (tmp_path / "home" / "exports" / "1").is_dir(), err


def test_export_terminated_says_so_in_one_line_and_leaves_nothing(forecasting_run, tmp_path):
    _, run_dir, _ = forecasting_run
    for _ in range(3):  # on a busy machine the export may finish between seeing it and the signal
        process = subprocess.Popen([RNN_TASKS, "export", run_dir, "--to", "models"], cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: any(tmp_path.glob(".models.export-*")), process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        if process.returncode == 0:  # the export finished before the signal came
            shutil.rmtree(tmp_path / "models")
            continue
        break
    else:
        pytest.fail("every export finished before its SIGTERM")
    assert process.returncode == 143 and err.strip() == "rnn-tasks export: terminated", err[-3000:]
    # Nothing half-written: no staging folder, no empty base; a version only if it was
    # renamed into place, complete, before the signal took effect.
    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.iterdir())
    assert left in ([], ["models"]), left
    if left:
        assert [p.name for p in (tmp_path / "models").iterdir()] == ["1"]
        assert (tmp_path / "models" / "1" / "saved_model.pb").is_file()


def test_a_late_ctrl_c_does_not_turn_a_finished_command_into_a_kill():
    """The command's work is done and printed; TensorFlow then takes a moment to shut
    down, and Ctrl-C pressed there used to end the process by SIGINT (status 130)."""
    code = ("import tensorflow\n"  # its teardown takes a moment
            "import rnn_tasks.cli as cli\n"
            "cli.main = lambda: print('done', flush=True) or 0\n"
            "cli.console()\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert process.stdout.readline() == "done\n"
    time.sleep(0.02)  # past the fake main's return: Ctrl-C there would be the command's
    while process.poll() is None:  # Ctrl-C held down until the process is gone
        process.send_signal(signal.SIGINT)
        time.sleep(0.002)
    assert process.returncode == 0


def test_export_killed_leaves_no_base_and_the_next_export_clears_its_staging(forecasting_run,
                                                                             tmp_path):
    """`kill -9` runs no clean-up: the base is created only when the version moves in."""
    _, run_dir, _ = forecasting_run
    for _ in range(3):
        process = subprocess.Popen([RNN_TASKS, "export", run_dir, "--to", "models"], cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: any(tmp_path.glob(".models.export-*")), process)
        process.kill()
        process.wait(timeout=60)
        if not (tmp_path / "models").exists():
            break
        shutil.rmtree(tmp_path / "models")  # the export finished before the kill
    else:
        pytest.fail("every export finished before its SIGKILL")
    assert [path.name.startswith(".models.export-") for path in tmp_path.iterdir()] == [True]
    result = shell("export", run_dir, "--to", "models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["models"]


@pytest.mark.parametrize("caught", [Exception, BaseException])
def test_sigterm_caught_and_rewrapped_by_a_library_still_terminates(forecasting_run, tmp_path,
                                                                    monkeypatch, capsys, caught):
    """TensorFlow's SavedModel writer wraps any `Exception` it catches while tracing
    gradients in a `ValueError`, and C++ layers turn Python errors into their own;
    SIGTERM landing there must still end as "terminated", with nothing left behind."""
    from rnn_tasks.export import saved_model

    def write_as_a_library_does(task, path):
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here
            time.sleep(5)
        except caught as error:
            raise ValueError("Error when tracing gradients for SavedModel.") from error

    monkeypatch.setattr(saved_model, "_write_saved_model", write_as_a_library_does)
    _, run_dir, _ = forecasting_run
    status, _, err = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    assert status == 143 and err == "rnn-tasks export: terminated\n"
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()  # the next command in this process is not taken for terminated
    status, _, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    assert status == 0 and (tmp_path / "models" / "1").is_dir()


def raised_inside_an_import(handler):
    """`handler`, its exception wrapped as CPython wraps one raised inside `__import__`."""
    def wrapped(signum, frame):
        try:
            handler(signum, frame)
        except BaseException as error:
            raise SystemError("__import__ returned a result with an exception set") from error
    return wrapped


@pytest.mark.parametrize("handler, status, message", [
    (cli_module._terminate, 143, "rnn-tasks export: terminated\n"),
    (cli_module._interrupt, 130, "rnn-tasks: interrupted\n"),
    (raised_inside_an_import(cli_module._terminate), 143, "rnn-tasks export: terminated\n"),
    (raised_inside_an_import(cli_module._interrupt), 130, "rnn-tasks: interrupted\n")])
def test_a_signal_python_can_only_print_still_stops_the_command(forecasting_run, tmp_path, monkeypatch,
                                                                capsys, handler, status, message):
    """A signal handled inside a weakref callback (garbage collection) raises where Python
    can only print the exception: no traceback, and the command stops there, not at its end."""
    from rnn_tasks.export import saved_model

    write = saved_model._write_saved_model

    def collect_then_write(task, path):
        owner = type("Owner", (), {})()
        weakref.finalize(owner, handler, signal.SIGTERM, None)
        del owner  # the callback runs, and its exception is "ignored"
        for _ in range(400):  # the rest of a long export: 20 s
            time.sleep(0.05)
        write(task, path)

    monkeypatch.setattr(saved_model, "_write_saved_model", collect_then_write)
    _, run_dir, _ = forecasting_run
    started = time.perf_counter()
    code, _, err = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    assert (code, err) == (status, message)
    assert time.perf_counter() - started < 15 and list(tmp_path.iterdir()) == []
    monkeypatch.undo()  # no alarm is left to end the next command
    code, _, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    assert code == 0 and (tmp_path / "models" / "1").is_dir()


def test_export_killed_midway_leaves_the_base_as_it_was(tmp_path):
    prices = write_prices(tmp_path / "prices.csv")
    task = ForecastingTask.from_recipe("price_forecasting", {**TINY, "data.path": str(prices)})
    task.fit(verbose=0)
    task.save(tmp_path / "run", task.evaluate())
    base = tmp_path / "exports"
    task.export(base)
    process = start_cli("export", tmp_path / "run", "--to", base, cwd=tmp_path)
    wait_for(lambda: any(tmp_path.glob(".exports.export-*")), process)
    time.sleep(0.3)  # let it write part of the SavedModel
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert sorted(p.name for p in base.iterdir()) == ["1"]  # what TF Serving sees is unchanged
    assert task.export(base).name == "2"
    assert not any(tmp_path.glob(".exports.export-*"))  # the killed export's leftovers are gone


# Numbers and loading -----------------------------------------------------------------------------


class NaNForecaster(ForecastingTask):
    def loss(self):
        return lambda y, p: keras.ops.mean(p) * float("nan")


def test_nan_loss_stops_training_with_epoch_and_batch(tmp_path):
    task = NaNForecaster.from_recipe("price_forecasting",
                                     {**TINY, "data.path": str(write_prices(tmp_path / "p.csv"))})
    with pytest.raises(UserError, match="training stopped: the loss became nan at epoch 1, batch 1; "
                                        "lower train.learning_rate"):
        task.fit(verbose=0)
    assert task.model is None  # its weights are NaN: nothing to predict with, save or export
    with pytest.raises(UserError, match="^predict: the task has no model yet"):
        task.predict(np.ones((20, 1)))


def test_every_builtin_recipe_clips_gradients():
    from rnn_tasks.recipes import builtin_recipes

    for name in builtin_recipes():
        assert Task.from_recipe(name).recipe["train"]["clipnorm"] > 0, name


def test_a_model_with_code_inside_is_never_loaded(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.toml").write_text('task = "forecasting"\n[data]\npath = "x.csv"\ntarget_columns = ["x"]\n')
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(run / "model.keras")
    with pytest.raises(UserError, match="cannot be loaded safely"):
        Task.load(run)


# Fuzzing ---------------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                       max_size=4),
    max_leaves=12)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_read_toml_gives_a_dict_or_a_user_error(tmp_path, content):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(content)
    try:
        assert isinstance(read_toml(path), dict)
    except UserError:
        pass


@FUZZ
@given(st.dictionaries(st.sampled_from(["task", "data", "model", "train", "export", "extra"]),
                       toml_values, max_size=5))
def test_validate_gives_a_recipe_or_a_user_error(raw):
    raw = {"task": "forecasting", **raw}
    try:
        recipe = validate(raw, ForecastingTask.schema)
        assert set(recipe) >= {"data", "model", "train"}
    except UserError as error:
        assert "\n" not in str(error)


RECIPE_KEYS = [(name, section, key) for name, schema in SCHEMAS.items()
               for section, fields in schema.items() if section for key in fields]
BUILTIN = {"forecasting": "price_forecasting", "sentiment": "sentiment",
           "translation": "translation_dates", "captioning": "captioning"}


@FUZZ
@given(st.sampled_from(RECIPE_KEYS), toml_values)
def test_set_on_every_key_gives_a_recipe_or_one_line(case, value):
    """`--set section.key=value` on any key of any template, with any TOML value."""
    name, section, key = case
    raw, _ = load_recipe(BUILTIN[name], {f"{section}.{key}": value})
    try:
        recipe = resolve_recipe(raw)
        assert recipe[section][key] == SCHEMAS[name][section][key].check(key, recipe[section][key])
    except UserError as error:
        assert "\n" not in str(error) and str(error).startswith("recipe")


cells = st.none() | st.floats() | st.integers(-10**40, 10**40) | st.text(max_size=12)


@FUZZ
@given(st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=40))
def test_forecasting_series_gives_values_or_a_user_error(rows):
    task = ForecastingTask.from_recipe("price_forecasting", {"data.path": "unused.csv"})
    frame = pd.DataFrame(rows, columns=["Ticker", "Date", "Adj Close"]).assign(Ticker="AAPL")
    try:
        values = read_series(frame, task.config.data, "AAPL").values
        assert np.isfinite(values).all() and (np.abs(values) <= np.finfo("float32").max).all()
    except UserError as error:
        assert "\n" not in str(error)


@FUZZ
@given(st.lists(st.tuples(cells, cells), min_size=1, max_size=40))
def test_sentiment_texts_give_labelled_texts_or_a_user_error(rows):
    task = SentimentTask.from_recipe("sentiment", {"data.path": "unused.csv", "data.labels": [0, 1]})
    frame = pd.DataFrame(rows, columns=["text", "category"])
    try:
        texts, labels, _, _ = task.labelled_texts(frame)
        assert len(texts) == len(labels) and set(labels) == {0, 1}
    except UserError as error:
        assert "\n" not in str(error)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_read_pairs_gives_pairs_or_a_user_error(tmp_path, content):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(content)
    try:
        frame = read_pairs(path)
        assert (frame["source"].str.strip() != "").all() and (frame["target"].str.strip() != "").all()
    except UserError as error:
        assert "\n" not in str(error)


def png_bytes():
    from tests.test_captioning import drawn_elsewhere

    return drawn_elsewhere()[0]


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 400), st.booleans())
def test_image_check_accepts_only_what_decodes(noise, cut, corrupt):
    """Noise, truncated and bit-flipped PNGs are refused in one line; whole PNGs pass."""
    image = bytearray(png_bytes())
    data = bytes(noise) if cut == 0 else bytes(image[:len(image) - cut])
    if corrupt and len(data) > 40:
        data = data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]
    try:
        check_image_bytes(data, "x.png")
        tf.io.decode_image(data, channels=3, expand_animations=False)  # what training does
    except UserError as error:
        assert "\n" not in str(error)


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=4))
def test_parse_overrides_gives_overrides_or_a_user_error(items):
    try:
        assert isinstance(parse_overrides(items), dict)
    except UserError:
        pass


@FUZZ
@given(content=st.binary(max_size=400) | st.text(max_size=400).map(str.encode),
       suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".csv.gz", ".txt"]))
def test_read_table_gives_a_frame_or_a_user_error(tmp_path, content, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    try:
        frame = read_table(path, ["a"])
        assert "a" in frame.columns and len(frame) > 0
    except UserError as error:
        assert str(error)
