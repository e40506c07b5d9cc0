"""Checks of recipes, paths and options that need no data and no TensorFlow.

The command line runs these first, so a typo in a recipe, a missing file or
a folder it cannot write is answered in about a second, before TensorFlow's
start-up and long before training. Each raises `UserError` with one line.

Example:
>>> recipe, name = training_recipe("price_forecasting", ["train.epochs=2"])
>>> recipe["train"]["epochs"], name
(2, 'price_forecasting')
"""

import contextlib
import fcntl
import json
import os
import re
import socket
import tempfile
import threading
from pathlib import Path

from rnn_tasks.data.readers import check_data_file, expand_paths
from rnn_tasks.errors import UserError, path_argument
from rnn_tasks.recipes import (apply_overrides, as_overrides, load_recipe, read_toml,
                               with_absolute_path)
from rnn_tasks.schemas import resolve_recipe

RECIPE_FILE, MODEL_FILE, LOCK_FILE = "recipe.toml", "model.keras", ".lock"
# What Keras's BackupAndRestore writes in a run's checkpoints/ (not a public constant of
# Keras): the epochs done, and the weights; each with a `.bkp` copy of the epoch before.
BACKUP_FILES = ("training_metadata.json", "latest.weights.h5")
EXPORTED_RECIPE = "rnn_tasks_recipe.toml"  # an export's recipe, in its assets.extra/
LARGEST_VERSION = 2**63 - 1  # TF Serving's model versions are int64
CLUSTER_JOBS = ("worker", "chief")  # the TF_CONFIG tasks MultiWorkerMirroredStrategy runs
# Keys older run directories may hold that their template no longer reads.
RETIRED = {"translation": [("train", "loss")], "captioning": [("train", "loss")]}
# Keys `evaluate --set` may change: what data is read and how it is decoded. The
# rest (the network, the shapes its preprocessing was fitted to) is the trained model.
FIXED_BY_TRAINING = {"window", "horizon", "scaling", "target_columns", "feature_columns",
                     "future_columns", "calendar",
                     "vocabulary_size", "sequence_length", "image_size", "max_caption_length",
                     "max_source_length", "max_target_length"}


def training_recipe(source, overrides=None):
    """The resolved recipe `train` would run, and its name; every key checked."""
    raw, name = load_recipe(source, overrides)
    return resolve_recipe(raw), name


def check_changeable(changes, where):
    """Overrides of a trained run may change the data read and the decoding, nothing the
    trained model fixed."""
    for section, *key in changes:
        name = ".".join([section, *key])
        if not (section == "decode" or (section == "data" and key and key[0] not in FIXED_BY_TRAINING)):
            raise UserError(f"{where} {name}: fixed by the trained model; a trained run may change "
                            "[data] keys that choose the data, and [decode] keys (train again to "
                            "change the rest)")


RESUMABLE_CHANGES = (("train", "epochs"), ("train", "patience"))


def check_resume_overrides(overrides, recipe):
    """`--resume` continues the run's own `recipe`: only how long it trains may change
    (the original command's `--set` of a value the run already has passes)."""
    for change, value in as_overrides(overrides).items():
        same = (with_absolute_path(apply_overrides(recipe, {change: value}))
                == with_absolute_path(recipe))  # data.path: the run keeps it absolute
        if tuple(change) not in RESUMABLE_CHANGES and not same:
            raise UserError(f"--resume --set {'.'.join(change)}: fixed by the interrupted run; "
                            "when resuming only train.epochs and train.patience may change "
                            "(train into a new --run-dir to change the rest)")


def check_cluster(recipe, resume=False):
    """`train.strategy = "multi_worker"` needs a `TF_CONFIG` whose cluster lists `host:port`
    addresses of 'worker' (and 'chief') tasks, this task among them; such a run cannot
    be resumed (Keras's backups would need a file system every worker shares)."""
    if recipe["train"]["strategy"] != "multi_worker":
        return
    if resume:
        raise UserError("--resume: multi-worker runs (train.strategy = 'multi_worker') cannot be "
                        "resumed; start a new run in a new --run-dir")
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "null")
    except ValueError as error:
        raise UserError(f"TF_CONFIG is not valid JSON ({error})") from None
    if not (isinstance(config, dict) and isinstance(config.get("cluster"), dict)
            and isinstance(config.get("task"), dict)):
        raise UserError("train.strategy = 'multi_worker' needs TF_CONFIG with \"cluster\" and "
                        "\"task\", e.g. {\"cluster\": {\"worker\": [\"host1:2222\", "
                        "\"host2:2222\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}")
    task = config["task"]
    jobs = [("task type", task.get("type"))] + [("cluster job", job) for job in config["cluster"]]
    for kind, job in jobs:
        if job not in CLUSTER_JOBS:
            raise UserError(f"TF_CONFIG: {kind} {job!r} is not one MultiWorkerMirroredStrategy "
                            "runs ('worker' tasks, and at most one 'chief'); make every task a "
                            "'worker'")
    for job, members in config["cluster"].items():
        if not isinstance(members, list) or (job == "chief" and len(members) != 1):
            raise UserError(f"TF_CONFIG: the cluster's {job!r} tasks must be a list of host:port "
                            f"addresses{' (one chief)' if job == 'chief' else ''}, got {members!r}")
        for address in members:
            if not _is_address(address):
                raise UserError(f"TF_CONFIG: cluster address {address!r} (a {job!r} task) must be "
                                "a string host:port, e.g. \"host1:2222\"")
    members = config["cluster"].get(task["type"])
    index = task.get("index")
    if not isinstance(members, list) or isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(members):
        count = len(members) if isinstance(members, list) else 0
        listed = f"indexes 0 to {count - 1}" if count else "none"
        raise UserError(f"TF_CONFIG: task {task['type']!r} index {index!r} is not in the cluster "
                        f"(its {task['type']!r} tasks: {listed})")


def _is_address(address):
    """Whether `address` is `host:port`, as TF_CONFIG's cluster lists its tasks."""
    if not isinstance(address, str):
        return False
    host, _, port = address.rpartition(":")
    return bool(host) and port.isascii() and port.isdigit() and 0 < int(port) < 65536


def check_data(recipe):
    """The recipe's data file exists (each file of a glob), or its dataset is in the catalog."""
    from rnn_tasks.data.catalog import cache_dir, load_card

    data = recipe["data"]
    if not data["dataset"] and not data["path"]:
        raise UserError("recipe: set `data.dataset` (a catalog name) or `data.path` (a file)")
    if data["path"]:
        return check_data_files(data["path"], "data.path")
    card = load_card(data["dataset"])
    cache = cache_dir()
    if card["source"].get("kind") in ("url", "pypi") and not cache.is_dir():
        check_writable(cache, "the download cache (RNN_TASKS_CACHE)")


def check_data_files(pattern, what):
    """Every file a path or glob names exists and is a file; `what` names the option."""
    if not pattern:
        raise UserError(f"{what} must not be empty")
    for path in expand_paths(pattern):
        check_data_file(path, what)


def check_keras_backend(backend):
    """The templates run on TensorFlow: another Keras backend is refused before any work.

    Example:
    >>> check_keras_backend("jax")
    Traceback (most recent call last):
    ...
    rnn_tasks.errors.UserError: the task templates run on the TensorFlow backend (their tf.data pipelines, serving graphs and SavedModels are TensorFlow), got KERAS_BACKEND='jax'; unset it or set KERAS_BACKEND=tensorflow (the layers of rnn_tasks.layers run on every backend)
    """
    if backend and backend != "tensorflow":
        raise UserError("the task templates run on the TensorFlow backend (their tf.data "
                        "pipelines, serving graphs and SavedModels are TensorFlow), got "
                        f"KERAS_BACKEND={backend!r}; unset it or set KERAS_BACKEND=tensorflow "
                        "(the layers of rnn_tasks.layers run on every backend)")


def check_fit_arguments(run_dir, resume, verbose, callbacks=()):
    """`Task.fit`'s arguments, checked as the command line checks `train`'s options.

    Returns:
        `(run_dir, callbacks)`: `run_dir` as a `Path`, `~` expanded (`None` stays
        `None`), and `callbacks` as a list.

    Example:
    >>> check_fit_arguments(None, True, "auto")
    Traceback (most recent call last):
    ...
    rnn_tasks.errors.UserError: fit: resume=True needs run_dir, the interrupted run to continue
    """
    import keras

    if not isinstance(resume, bool):
        raise UserError(f"fit: resume must be True or False, got {resume!r}")
    if verbose not in ("auto", 0, 1, 2):  # True and False are 1 and 0, as in Keras's fit
        raise UserError(f"fit: verbose must be 'auto', 0, 1 or 2 (as Keras's fit), got {verbose!r}")
    callbacks = [callbacks] if isinstance(callbacks, keras.callbacks.Callback) else callbacks
    if not isinstance(callbacks, (list, tuple)) or not all(
            isinstance(callback, keras.callbacks.Callback) for callback in callbacks):
        raise UserError(f"fit: callbacks must be a keras.callbacks.Callback or a list of them, "
                        f"got {repr(callbacks).splitlines()[0][:80]}")
    if run_dir is None:
        if resume:
            raise UserError("fit: resume=True needs run_dir, the interrupted run to continue")
        return None, list(callbacks)
    if not isinstance(run_dir, (str, os.PathLike)):  # fit(x, y), as Keras's
        raise UserError(f"fit: run_dir must be a path, got {type(run_dir).__name__}; a task "
                        "trains on its recipe's data, or on a DataFrame given to "
                        "from_recipe(source, overrides, data=frame), not on arrays passed to fit")
    run = path_argument("run_dir", run_dir)
    check_writable(run, "fit: run_dir")
    if (run / MODEL_FILE).is_file():
        raise UserError(f"fit: {run} already holds a finished run ({MODEL_FILE}); train into "
                        "another folder")
    backups = run / "checkpoints"  # `train` writes the recipe first: a run cut in epoch 1
    if resume and not (backups.is_dir() and any(backups.iterdir())) \
            and not (run / RECIPE_FILE).is_file():
        raise UserError(f"fit: resume=True, but {run} holds no interrupted run (no backup in "
                        f"{backups.name}/, no {RECIPE_FILE}); fit without resume starts one")
    return run, list(callbacks)


def reachable(host, port, timeout):
    """Whether a TCP connection to `host:port` opens within `timeout` seconds, name
    lookup included (it runs in a thread, as `socket`'s own timeout leaves DNS out).

    Args:
        host: a host name or address.
        port: the port number.
        timeout: seconds to wait at most.

    Returns:
        `True` if something accepted the connection.
    """
    opened = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.append(True)
        except (OSError, OverflowError):  # OverflowError: a port beyond 65535
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened)


def check_writable(path, what):
    """`path` can be created or written: it is a folder (or absent) under a writable folder."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise UserError(f"{what} {path} is a broken symbolic link (to {os.readlink(path)}); "
                        "remove it or name another folder")
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder")
    existing = next(p for p in [path, *path.parents] if p.exists())
    if not existing.is_dir():
        raise UserError(f"{what} {path} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path} cannot be written: no write permission on {existing}")
    try:  # what access() cannot tell: read-only or virtual file systems (/proc), root's view
        os.rmdir(tempfile.mkdtemp(prefix=".rnn-tasks-probe-", dir=existing))
    except OSError as error:
        raise UserError(f"{what} {path} cannot be created in {existing}: "
                        f"{error.strerror.lower()}") from None


def check_training_run_dir(run_dir, resume):
    """A new run goes into an absent or empty folder; `--resume` into an unfinished run."""
    run = Path(run_dir)
    check_writable(run, "run directory")
    if _locked(run / LOCK_FILE):
        raise UserError(f"run directory {run} is in use by another rnn-tasks process")
    if resume:
        if not (run / RECIPE_FILE).is_file():
            raise UserError(f"--resume: {run} is not an interrupted run (it has no {RECIPE_FILE})")
        if (run / MODEL_FILE).is_file():
            raise UserError(f"--resume: {run} is a finished run (it has {MODEL_FILE}); "
                            "train into a new --run-dir, or evaluate or export this one")
        history = run / "history.csv"
        if history.is_file():
            with open(history, encoding="utf-8", errors="replace") as handle:
                header = handle.readline().strip().split(",")
            if header and header != [""] and "epoch" not in header:
                raise UserError(f"--resume: {history} is damaged (its first line should name the "
                                f"columns, starting with epoch; got {','.join(header)[:40]!r}); "
                                "delete it to resume without the earlier epochs' log")
    elif (run / MODEL_FILE).is_file():
        raise UserError(f"run directory {run} holds a finished run; train into a new --run-dir, "
                        "or evaluate or export this one")
    elif run.is_dir() and any(run.iterdir()):
        raise UserError(f"run directory {run} exists and is not empty "
                        "(use --resume to continue an interrupted run there)")


def check_resume_epochs(run_dir, epochs):
    """`--resume` continues from the epochs the run's backup holds; `train.epochs` below
    that would train nothing and pass the run off as shorter than it is."""
    path = Path(run_dir) / "checkpoints" / BACKUP_FILES[0]
    try:
        done = int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):  # no backup yet: nothing done
        return
    if epochs < done:
        raise UserError(f"--resume: {run_dir} has {done} epochs done; `train.epochs` = {epochs} "
                        f"asks for fewer (set it to {done} or more)")


def finished_run_recipe(run_dir, overrides=None):
    """The raw recipe of a finished run directory, with `overrides` applied.

    Keys that recipes no longer have (`RETIRED`) are dropped, so runs trained
    before they were retired still load.
    """
    if not str(run_dir).strip():  # `Path("")` is the current folder
        raise UserError(f"the run directory is empty ({str(run_dir)!r}); give a finished run "
                        "directory (e.g. runs/aapl)")
    run = Path(run_dir)
    if not (run / RECIPE_FILE).is_file() or not (run / MODEL_FILE).is_file():
        raise UserError(
            f"{run} is not a finished run directory (needs {RECIPE_FILE} and {MODEL_FILE})")
    raw = read_toml(run / RECIPE_FILE)
    for section, key in RETIRED.get(raw.get("task"), ()):
        if isinstance(raw.get(section), dict):
            raw[section].pop(key, None)
    return apply_overrides(raw, as_overrides(overrides))


def check_predict_files(task, arguments):
    """`predict`'s inputs to a forecasting or captioning model are files (history tables,
    images): each one exists, checked before TensorFlow starts. A text model's inputs may
    be texts or `-` (standard input), so they are read as they come.

    Args:
        task: the recipe's `task`.
        arguments: the command line's inputs.
    """
    if task not in ("forecasting", "captioning"):
        return
    files = "history tables (CSV, TSV or JSON lines)" if task == "forecasting" else "image files"
    for argument in arguments:
        if argument == "-":
            raise UserError(f"predict: '-' (standard input) gives texts to a text model; a {task} "
                            f"model reads {files}: give their paths")
        if task == "forecasting":
            check_data_files(argument, "predict")
        elif not Path(argument).exists():  # a folder is named when the images are read
            raise UserError(f"predict: image file not found: {argument}")


def check_evaluate_options(run_dir, overrides, backtest, data_path):
    """`evaluate`'s options fit the run: keys it may change, `--backtest` for forecasting."""
    raw = finished_run_recipe(run_dir)
    changes = as_overrides(overrides)
    recipe = resolve_recipe(apply_overrides(raw, changes))  # unknown keys named as such first
    check_changeable(changes, "evaluate --set")
    new_data = [".".join(key) for key in changes if key in (("data", "path"), ("data", "dataset"))]
    if data_path is not None and new_data:
        raise UserError(f"give the data once: --data {data_path} or --set {new_data[0]}, not both")
    if data_path is not None and ("data", "group") in changes:
        raise UserError(f"evaluate --data {data_path} scores every series of the file; "
                        "--set data.group chooses among the recipe's data only (give a file of "
                        "the series to score)")
    resplit = [".".join(key) for key in changes if key in (("data", "split"), ("data", "seed"))]
    if resplit and not new_data:
        raise UserError(f"evaluate --set {resplit[0]}: another split of the data the run trained on "
                        "would test on rows it trained on; change it only with other data "
                        "(--set data.path=FILE), or score a whole file with --data FILE")
    if recipe["task"] == "sentiment":
        trained = [str(label) for label in raw["data"]["labels"]]
        given = [str(label) for label in recipe["data"]["labels"]]
        if given != trained and sorted(given) == sorted(trained):
            raise UserError(f"evaluate --set data.labels: {given} swaps the trained labels "
                            f"{trained}; the model's negative label stays first")
    if backtest is not None:
        if recipe["task"] != "forecasting":
            raise UserError(f"--backtest applies to forecasting runs; {run_dir} is a "
                            f"{recipe['task']} run")
        if backtest < 1:
            raise UserError(f"--backtest must be a positive number of forecast origins, got {backtest}")
    if data_path is not None:
        check_data_files(data_path, "--data")


def next_version(base_dir):
    """One more than the largest integer version in `base_dir` (1 if none)."""
    base = Path(base_dir)
    versions = [int(p.name) for p in base.iterdir() if p.name.isdigit()] if base.is_dir() else []
    return max(versions, default=0) + 1


def automatic_version(base_dir):
    """`next_version(base_dir)`, the version an export takes without `--version`; refused
    past TF Serving's largest version (int64)."""
    version = next_version(base_dir)
    if version > LARGEST_VERSION:
        raise UserError(f"the highest version in {base_dir}, {version - 1}, already reaches the "
                        "largest TF Serving allows (2**63 - 1); pass --version with a free, lower "
                        "number, or export to another base folder")
    return version


def check_export_options(to, version, models_config, name, serving_base):
    """`export`'s options, all checked before anything is written."""
    if not to:
        raise UserError("--to must not be empty (the model base folder, e.g. exports/prices)")
    check_writable(to, "--to")
    if version is None:
        automatic_version(to)
    elif (Path(to) / str(version)).exists():
        raise UserError(f"{Path(to) / str(version)} already exists; versions are never overwritten "
                        f"(next free: {next_version(to)})")
    if not models_config:
        given = [option for option, value in (("--name", name), ("--serving-base", serving_base))
                 if value is not None]
        if given:
            verb = "apply" if len(given) > 1 else "applies"
            raise UserError(f"{' and '.join(given)} only {verb} with --models-config")
        return
    path = Path(models_config)
    if path.is_dir():
        raise UserError(f"--models-config {path} is a folder; give the config file's path "
                        "(e.g. exports/models.config)")
    if path.exists() and not path.is_file():
        raise UserError(f"--models-config {path} is not a regular file (a device or a pipe)")
    if path.resolve() == Path(to).resolve() or Path(to).resolve() in path.resolve().parents:
        raise UserError(f"--models-config {path} is inside --to {to}, where TF Serving expects "
                        "only version folders; put it beside the model folders")
    check_writable(path.parent, "--models-config's folder")
    folder = Path(to).resolve().name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", folder if name is None else name):
        given = (f"the default, --to's folder name, is {folder!r}; pass --name" if name is None
                 else f"got {name!r}")
        raise UserError(f"--name must be a model name of letters, digits, '_', '.' and '-' "
                        f"(clients call /v1/models/<name>); {given}")
    if serving_base is not None and not serving_base.startswith("/"):
        raise UserError(f"--serving-base must be the absolute path the server sees (e.g. "
                        f"/models/prices), got {serving_base!r}")


def _locked(path):
    """Whether another process holds the lock file at `path`."""
    if not path.is_file():
        return False
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def run_lock(run_dir):
    """Holds `run_dir/.lock` for the block: a second process training into the same
    folder stops with one line instead of both writing it."""
    path = Path(run_dir) / LOCK_FILE
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"run directory {run_dir} is in use by another rnn-tasks process") from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()
