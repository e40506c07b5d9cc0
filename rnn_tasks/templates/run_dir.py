"""The run directory: what `train` writes and `Task.load` reads back.

    recipe.toml       the resolved recipe
    model.keras       the raw-in, raw-out model
    template.json     the class that trained it (`module.QualifiedName`), its inputs, the
                      recipe's [model] and model.keras's sha256 (to tell a mixed-up run)
    warmup.tfrecord   real validation inputs, the export's TF Serving warmup requests
    metrics.json      test metrics; plots/*.png; report.md; history.csv; logs/; checkpoints/
"""

import codecs
import hashlib
import json
import locale
import shutil
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from rnn_tasks.checks import MODEL_FILE, RECIPE_FILE, check_changeable, finished_run_recipe
from rnn_tasks.data.catalog import sha256_of
from rnn_tasks.errors import UserError, path_argument
from rnn_tasks.metrics import metrics_json
from rnn_tasks.recipes import (
    as_overrides,
    builtin_recipes,
    load_recipe,
    toml_repr,
    without_data_path,
    write_recipe,
)
from rnn_tasks.schemas import resolve_recipe

TEMPLATE_FILE, WARMUP_FILE = "template.json", "warmup.tfrecord"


def class_name(cls):
    """`module.QualifiedName` of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def write_run(task, run_dir, metrics=None, overwrite=False):
    """Writes `task` (and `metrics`, with plots and a report) into `run_dir`; a finished
    run there is refused, or with `overwrite` replaced, old results removed."""
    from rnn_tasks.export.saved_model import write_warmup_requests

    run = path_argument("run_dir", run_dir)
    if not isinstance(overwrite, bool):
        raise UserError(f"save: overwrite must be True or False, got {overwrite!r}")
    if metrics is not None and not isinstance(metrics, dict):
        raise UserError(f"save: metrics must be the dict evaluate() returned, or None; got "
                        f"{type(metrics).__name__} {metrics!r:.60}")
    if run.is_file():
        raise UserError(f"save: {run} is a file, not a folder")
    if (run / MODEL_FILE).is_file():
        if not overwrite:
            raise UserError(f"save: {run} already holds a finished run; save to another folder "
                            "or pass overwrite=True to replace it")
        for stale in ("metrics.json", "report.md", *(p.name for p in run.glob("backtest*.csv"))):
            (run / stale).unlink(missing_ok=True)
        shutil.rmtree(run / "plots", ignore_errors=True)
    run.mkdir(parents=True, exist_ok=True)
    write_recipe(task.recipe, run / RECIPE_FILE)
    # model.keras, which makes the run finished, comes last, whole (written aside, then
    # renamed): a kill before leaves a run that --resume scores and saves again.
    unfinished = run / f".{MODEL_FILE}"
    task.model.save(unfinished)
    (run / TEMPLATE_FILE).write_text(json.dumps({
        "task": task.name, "class": class_name(type(task)), "inputs": model_inputs(task.model),
        "trained_on": "frame" if task.trained_on_frame else "recipe",
        "model": task.recipe["model"], "model_sha256": sha256_of(unfinished)}))
    if task.warmup_examples:
        write_warmup_requests(run / WARMUP_FILE, task.warmup_examples)
    history = history_frame(run, task.history)
    if history is not None:  # one row per epoch, also after an interrupted run resumed
        history.to_csv(run / "history.csv", index=False)
    if metrics is not None:
        (run / "metrics.json").write_text(metrics_json(metrics) + "\n")
        plots = run / "plots"
        plots.mkdir(exist_ok=True)
        if history is not None:
            plot_training_curves(history, plots / "training_curves.png")
        task.plot(plots, metrics)
        write_report(run / "report.md", report_title(task),
                     task.report_rows(metrics), metrics, task.report_notes(metrics))
    unfinished.replace(run / MODEL_FILE)
    shutil.rmtree(run / "checkpoints", ignore_errors=True)  # training finished
    (run / "checkpoints").mkdir(exist_ok=True)


def read_run(cls, run_dir, overrides=None, as_template=False, data=None):
    """The task saved in `run_dir`: recipe, model and warmup examples.

    Args:
        cls: the class `load` was called on.
        run_dir: a finished run directory.
        overrides: recipe overrides (`evaluate --set`).
        as_template: load a subclass's run as its built-in template (the
            command line does: it never imports code named in a file).
        data: a `pandas.DataFrame` to read in place of the recipe's data.

    Raises:
        UserError: not a finished run, a model that cannot be loaded safely,
            or a run trained by another class than `cls` (which it names).
    """
    from rnn_tasks.export.saved_model import read_warmup_requests

    run = path_argument("run_dir", run_dir)
    if not isinstance(as_template, bool):
        raise UserError(f"load: as_template must be True or False, got {as_template!r}")
    raw = finished_run_recipe(run, overrides)
    trained = _trained_by(run)
    if trained.get("task") not in (None, raw.get("task")):
        named = (f"is a {raw['task']} recipe" if raw.get("task") is not None
                 else "names no task (empty, or cut short?)")
        raise UserError(f"{run}: its model was trained as a {trained['task']} task but its "
                        f"{RECIPE_FILE} {named}; restore the run's own recipe or train again")
    trained_by = trained.get("class")
    _check_template_known(run, raw.get("task"), trained_by, cls)
    if data is not None:  # in place of the recipe's file, if it names one
        raw = without_data_path(raw)
    task = cls.from_dict(raw, data)  # an unknown override key is named as such here
    check_changeable(as_overrides(overrides), "load overrides")
    task.trained_on_frame = trained.get("trained_on") == "frame"
    if trained_by and not same_class(trained_by, type(task)) and not as_template:
        short = trained_by.rsplit(".", 1)[-1]
        raise UserError(f"{run} was trained by {trained_by}; load it with that class, "
                        f"{short}.load({str(run)!r}), to keep its overrides")
    import rnn_tasks.layers  # noqa: F401  registers the custom layers

    if not zipfile.is_zipfile(run / MODEL_FILE):
        raise UserError(f"{run / MODEL_FILE} is not a Keras model file (truncated or corrupt); "
                        "train the run again")
    check_same_run(run, trained, task.recipe["model"])
    try:
        with warnings.catch_warnings():  # a loaded task never steps the saved optimizer: `fit`
            # builds a new one, `--resume` reads checkpoints/; a run saved under another
            # mixed precision policy has other optimizer variables (a loss scale)
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            task.model = keras.saving.load_model(run / MODEL_FILE, safe_mode=True)
    except ValueError as error:  # e.g. a Lambda layer: arbitrary code is never loaded
        if "codec can't decode" in str(error) and not utf8_locale():  # Keras reads vocabularies
            raise UserError(f"{run / MODEL_FILE} cannot be loaded: its vocabulary is UTF-8 text, "
                            f"which this Python reads as {locale.getpreferredencoding(False)}; "
                            "run with PYTHONUTF8=1 or a UTF-8 locale (LANG=C.UTF-8)") from None
        raise UserError(f"{run / MODEL_FILE} cannot be loaded safely: "
                        f"{str(error).strip().splitlines()[0][:200]}") from None
    reads = model_inputs(task.model)
    if trained.get("inputs", reads) != reads:
        raise UserError(f"{run / MODEL_FILE} is not this run's model: it reads "
                        f"{', '.join(reads)}, the run's model read "
                        f"{', '.join(trained['inputs'])}; restore the run's own model.keras or "
                        "train again")
    if (run / WARMUP_FILE).is_file():
        task.warmup_examples = read_warmup_requests(run / WARMUP_FILE)
    task.history = history_frame(run, None)
    return task


def utf8_locale():
    """Whether files Python opens without an encoding are UTF-8 (Keras's vocabularies)."""
    return codecs.lookup(locale.getpreferredencoding(False)).name == "utf-8"


def check_vocabularies_saveable(preprocessing):
    """Raises `UserError` (before training) where Keras could not save a vocabulary: it
    writes them in the locale's encoding, which may lack their words (`LC_ALL=C` with
    `PYTHONUTF8=0`, a Latin-1 locale and Spanish targets).

    Args:
        preprocessing: what `build_preprocessing` returned: `{name: layer}`, or `None`.
    """
    if utf8_locale() or not isinstance(preprocessing, dict):
        return
    encoding = locale.getpreferredencoding(False)
    for layer in preprocessing.values():
        words = layer.get_vocabulary() if hasattr(layer, "get_vocabulary") else []
        try:
            "\n".join(map(str, words)).encode(encoding)
        except UnicodeEncodeError as error:
            raise UserError(f"the {layer.name} vocabulary has words that this Python, writing "
                            f"files as {encoding}, cannot save ({error.object[error.start]!r}); "
                            "run with PYTHONUTF8=1 or a UTF-8 locale (LANG=C.UTF-8)") from None


DATA_FINGERPRINT = "data.sha256"  # in checkpoints/, beside Keras's backups


def data_fingerprint(path, frame):
    """The sha256 of what a fit reads: a DataFrame's column names and cells, else the
    bytes of every file `path` (`data.path`, a file or a glob) names, in order (a file
    moved elsewhere is the same data); `None` for a catalog dataset (checked against its
    card's sha256 where it has one, or generated from the recipe) and for cells pandas
    cannot hash (lists, dicts).

    Example:
    >>> data_fingerprint(None, pd.DataFrame({"a": [1]})) == data_fingerprint(
    ...     None, pd.DataFrame({"a": [2]}))
    False
    """
    from rnn_tasks.data.readers import check_data_file, expand_paths

    digest = hashlib.sha256()
    if frame is not None:
        try:
            cells = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        except TypeError:
            return None
        digest.update(repr(list(frame.columns)).encode() + cells.tobytes())
    elif path:
        for one in expand_paths(path):
            check_data_file(one)  # not found, a folder, a pipe: named as reading it would
            digest.update(sha256_of(one).encode())
    else:
        return None
    return digest.hexdigest()


def record_data(run, fingerprint):
    """Writes the data's fingerprint beside a new fit's backups, for `prepare_resume`."""
    if fingerprint is not None:
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run / "checkpoints" / DATA_FINGERPRINT).write_text(fingerprint + "\n")


def prepare_resume(run, fingerprint, path):
    """Before an interrupted run in `run` goes on: its data must be the same, and a
    history.csv row cut by the interruption goes.

    Args:
        run: the run directory.
        fingerprint: `data_fingerprint` of the data given now.
        path: `data.path`, or `None` for a DataFrame (for the message).

    Raises:
        UserError: the run trained on other data than `fingerprint` names: its
            vocabularies and scaling were fitted on that data, so the backed-up
            weights would go on with words or units that now mean something else.
            (Runs interrupted before fingerprints were recorded are not checked.)
    """
    recorded = run / "checkpoints" / DATA_FINGERPRINT
    if fingerprint is not None and recorded.is_file() \
            and recorded.read_text().strip() != fingerprint:
        what = "the data frame" if path is None else f"data.path {str(path)!r}"
        raise UserError(f"fit: resume=True, but {what} is not the data the run in {run} was "
                        "trained on (it changed since); restore that data, or train a new run")
    history = run / "history.csv"  # a row is written before its epoch's backup: that
    rows = history.read_bytes() if history.is_file() else b""  # epoch is trained again
    if rows and not rows.endswith(b"\n"):  # the next row would be appended onto it
        history.write_bytes(rows[:rows.rfind(b"\n") + 1])


def check_same_run(run, trained, model_recipe):
    """Raises `UserError` if the run's model.keras is not the file the run saved, or its
    recipe's `[model]` is not the one the model was trained with (`trained`: its
    template.json; runs saved before it recorded them are not checked)."""
    if "model_sha256" in trained and sha256_of(run / MODEL_FILE) != trained["model_sha256"]:
        raise UserError(f"{run / MODEL_FILE} is not this run's model: it changed after the run "
                        "saved it; restore the run's own model.keras or train again")
    trained_with = trained.get("model", {})
    changed = [key for key in trained_with
               if key in model_recipe and trained_with[key] != model_recipe[key]]
    if changed:
        key = changed[0]
        raise UserError(f"{run / RECIPE_FILE} is not this run's recipe: its model.{key} is "
                        f"{model_recipe[key]!r}, the model was trained with "
                        f"{trained_with[key]!r}; restore the run's own recipe.toml or train again")


def _check_template_known(run, task, trained_by, cls):
    """A run of a template of one's own loads only with its class, which this process
    may not have defined or imported yet (`Task.load` knows only built-in tasks)."""
    from rnn_tasks.templates.task import TASKS, Task

    if cls is Task and trained_by and task not in TASKS:
        short = trained_by.rsplit(".", 1)[-1]
        raise UserError(f"{run} was trained by {trained_by}, a template of its own (task "
                        f"{task!r}); define or import that class and load the run with "
                        f"{short}.load({str(run)!r})")


def same_class(trained_by, cls):
    """Whether `trained_by` (`class_name` of the class that trained a run) names `cls`:
    the same module and name, or a class of that name defined in a notebook or script
    (`__main__`) that has since moved to a module; never one of rnn_tasks's own
    templates, whose overrides would be lost."""
    if trained_by == class_name(cls):
        return True
    return (trained_by == f"__main__.{cls.__qualname__}"
            and not cls.__module__.startswith("rnn_tasks."))


def model_inputs(model):
    """The names of a Keras model's inputs, as template.json records them."""
    return [tensor.name for tensor in model.inputs]


def _trained_by(run):
    """The run's template.json, `{"task": ..., "class": ...}`, or `{}` (runs from before it
    existed)."""
    if not (run / TEMPLATE_FILE).is_file():
        return {}
    try:
        trained = dict(json.loads((run / TEMPLATE_FILE).read_text(encoding="utf-8")))
        kinds = {"task": str, "class": str, "inputs": list, "model": dict, "model_sha256": str}
        if any(not isinstance(trained[key], kind) for key, kind in kinds.items() if key in trained):
            raise TypeError("a value of another type than rnn-tasks writes")
        return trained
    except (ValueError, TypeError):
        raise UserError(f"{run / TEMPLATE_FILE} is not the JSON rnn-tasks wrote "
                        '({"task": ..., "class": ...}); restore it or train again') from None


def history_frame(run_dir, history):
    """Per-epoch history: the run's `history.csv` (last row per epoch), else a Keras
    `History`, as a DataFrame with an `epoch` column; `None` without either."""
    path = Path(run_dir) / "history.csv" if run_dir is not None else None
    if path is not None and path.is_file():
        return pd.read_csv(path).drop_duplicates("epoch", keep="last")
    if isinstance(history, pd.DataFrame):
        return history
    if history is not None and history.history:
        frame = pd.DataFrame(history.history)
        return frame.assign(epoch=np.arange(len(frame)))
    return None


def pyplot():
    """`matplotlib.pyplot` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(history, path):
    """Every `*loss` column of a history frame against the epoch, log scale."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for column in [c for c in history.columns if c.endswith("loss")]:
        ax.plot(history["epoch"] + 1, history[column], label=column)
    ax.set(xlabel="epoch", ylabel="loss", title="Training curves", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_title(task):
    """The report's title: the recipe's name and description. A built-in recipe's
    description tells its own data: where the run's `[data]` differs from it, or a
    DataFrame took its place, the title says so.

    Returns:
        e.g. `"price_forecasting: AAPL daily adjusted close: 60 days -> next 5 days (the
        recipe's description; run with data.window=20, on a DataFrame)"`.
    """
    recipe = task.recipe
    title = f"{task.recipe_name}: {recipe.get('description') or task.name}"
    changed = []
    if task.recipe_name in builtin_recipes():
        builtin = resolve_recipe(load_recipe(task.recipe_name)[0])
        if builtin["description"] == recipe.get("description"):
            changed = [f"data.{key}={toml_repr(value)}" for key, value in recipe["data"].items()
                       if builtin["data"].get(key) != value]
    changed += ["on a DataFrame"] if task.trained_on_frame else []
    return f"{title} (the recipe's description; run with {', '.join(changed)})" if changed \
        else title


def write_report(path, title, rows, metrics, notes=()):
    """`report.md`: the metrics table (rows `[(name, {metric: value})]`), `notes` (lines
    under it) and the plots."""
    columns = list(dict.fromkeys(k for _, values in rows for k in values))
    lines = [f"# {title}", "",
             f"Test split: {metrics.get('n_examples')} examples; "
             f"evaluation took {metrics.get('seconds', 0):.1f} s.", "",
             "| | " + " | ".join(columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    for name, values in rows:
        cells = [f"{values[c]:.4g}" if isinstance(values.get(c), (int, float)) else ""
                 for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [*notes, ""] if notes else []
    plots = sorted((Path(path).parent / "plots").glob("*.png"))
    lines += [f"![{p.stem}](plots/{p.name})" for p in plots]
    Path(path).write_text("\n".join(lines) + "\n")
