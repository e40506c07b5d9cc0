"""The `rnn-tasks` command: train, evaluate, predict, export, list recipes and datasets.

Bad input (recipe, data, paths, network) prints one line on stderr and exits
with status 2; nothing half-written is left behind.
"""

import argparse
import contextlib
import errno
import itertools
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from rnn_tasks.errors import UserError, notice

# NumPy, pandas and TensorFlow are imported inside the commands, within `main`'s
# handling of Ctrl-C: pressed while they load, it ends as one line, exit 130.

EXIT_BAD_INPUT = 2
RESUMED_FIT = "fit: resume=True, but "  # how Task.fit's refusals to resume begin
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def main(argv=None):
    """Entry point of `rnn-tasks`; returns the exit status.

    Every failure a user can cause, `UserError` or one from the file system
    (a folder that cannot be written, a full disk), ends here as one line;
    so does Ctrl-C (exit 130), even while the libraries are still loading.
    """
    previous = signal.signal(signal.SIGINT, _interrupt)
    previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("rnn-tasks: interrupted", file=sys.stderr)
        return 130
    except Terminated:  # raised while `_main` was already ending (its `except` blocks)
        print("rnn-tasks: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        _cancel_resends()
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
        INTERRUPTS.clear()


INTERRUPTS = []  # Ctrl-C presses of this run, kept even where a library swallowed them


def _interrupt(signum, frame):
    INTERRUPTS.append(signum)
    raise KeyboardInterrupt


def _unraisable(unraisable):
    """Python's hook for exceptions it can only print (a signal that lands in a weakref
    or `__del__` callback). Our signals' are not printed: a timer thread sends the
    signal again 10 ms later, when its handler raises where the program is, so the
    command stops instead of running to its end (and if it ends first,
    `INTERRUPTS` and `TERMINATIONS` still report them)."""
    ours = _our_signal(unraisable.exc_value)
    if ours:
        signum = signal.SIGINT if isinstance(ours, KeyboardInterrupt) else signal.SIGTERM
        timer = threading.Timer(0.01, _resend, (signum,))
        timer.daemon = True
        with RESENDING:
            RESENDS.append(timer)
        timer.start()
    else:
        sys.__unraisablehook__(unraisable)


def _our_signal(error):
    """The `KeyboardInterrupt` or `Terminated` that `error` is or was raised from (as the
    `SystemError` of a signal landing inside an import is), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (KeyboardInterrupt, Terminated)):
            return error
        seen.add(id(error))
        error = error.__cause__
    return None


RESENDS = []  # timers sending a swallowed signal again, until the command ends
RESENDING = threading.Lock()


def _resend(signum):
    with RESENDING:  # sent before `_cancel_resends` returns, while our handlers are installed
        if RESENDS:
            signal.raise_signal(signum)


def _cancel_resends():
    """Stops the timers: none sends a signal once this returns (the handlers go next)."""
    with RESENDING:
        for timer in RESENDS:
            timer.cancel()
        RESENDS.clear()


def check_interrupted():
    """Raises `KeyboardInterrupt` if Ctrl-C was pressed and a library's broad `except`
    (while loading, or while compiling the training step) took the exception."""
    if INTERRUPTS:
        raise KeyboardInterrupt


def _main(argv):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the subcommand's parser: `rnn-tasks train: error: ...`
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    for name in ("run_dir", "model_dir", "data", "to", "models_config"):  # "~/runs" quoted too
        if isinstance(getattr(args, name, None), str):
            setattr(args, name, os.path.expanduser(getattr(args, name)))
    if not args.verbose:
        from rnn_tasks.quiet import silence_libraries

        silence_libraries()
    previous = signal.signal(signal.SIGTERM, _terminate)  # clean up as for Ctrl-C
    try:
        if args.command in ("train", "evaluate", "predict", "export"):
            from rnn_tasks.checks import check_keras_backend

            check_keras_backend(os.environ.get("KERAS_BACKEND"))  # before Keras loads
        status = args.run(args) or 0
        if TERMINATIONS:  # the signal landed where Python could only print it (see _unraisable)
            return _terminated(args.command)
        check_interrupted()
        return status
    except Terminated:
        return _terminated(args.command)
    except Exception as error:
        if TERMINATIONS:  # the signal, which a library caught and re-raised as its own error
            return _terminated(args.command)
        return _failed(args.command, error)
    finally:
        _cancel_resends()
        signal.signal(signal.SIGTERM, previous)
        TERMINATIONS.clear()


def _failed(command, error):
    """The exit status of a failed command, its one line printed; `error` re-raised when
    it is a bug (a traceback, exit 1) or Ctrl-C inside TensorFlow's C++."""
    if isinstance(error, UserError):
        return _fail(command, error)
    if isinstance(error, BrokenPipeError):  # the reader left (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        hint = "; free some space or write elsewhere" if error.errno in DISK_FULL else ""
        return _fail(command, f"{error.strerror or error}{where}{hint}")
    if INTERRUPTS or isinstance(error, RuntimeError) and "KeyboardInterrupt" in str(error):
        raise KeyboardInterrupt from None  # a library wrapped it (pybind11); `main` reports it
    raise error


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so `finally` blocks remove partial output.

    A `BaseException`, as `KeyboardInterrupt` is: libraries' `except Exception`
    blocks (TensorFlow's SavedModel writer wraps what it catches in a
    `ValueError`) let it through.
    """


TERMINATIONS = []  # SIGTERMs of this run, kept even where a library wrapped the exception


def _terminate(signum, frame):
    TERMINATIONS.append(signum)
    raise Terminated()


def _terminated(command):
    print(f"rnn-tasks {command}: terminated", file=sys.stderr)
    return 128 + signal.SIGTERM


def _fail(command, message):
    # The Python API's messages name the method (`predict: ...`), which is the command
    # here, and `fit(resume=True)` is `train --resume`.
    message = str(message).removeprefix(f"{command}: ")
    if message.startswith(RESUMED_FIT):
        message = f"--resume: {message.removeprefix(RESUMED_FIT)}"
    print(f"rnn-tasks {command}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def templates(args):
    """`rnn_tasks.templates.Task`, imported after the checks that need no TensorFlow."""
    from rnn_tasks.quiet import import_tensorflow

    with signals_held():
        import_tensorflow(args.verbose)
        from rnn_tasks.templates import Task

    check_interrupted()
    return Task


@contextlib.contextmanager
def signals_held():
    """Ctrl-C and SIGTERM are noted while the block runs, and take effect when it ends.

    For TensorFlow's import: a `KeyboardInterrupt` raised inside it can crash the
    process (SIGSEGV) or leave a module half-imported (a traceback), instead of
    ending it with one line. Held for the few seconds of the import, the signal
    lands after it; a second press of the same signal takes effect at once (a hung
    import). (Masking the signal would not do: it goes to another thread.)
    """
    caught = []

    def note(signum, frame):
        if signum in caught:  # pressed again: the import hangs (a network drive), stop now
            signal.signal(signum, previous[signum])
            signal.raise_signal(signum)  # by the held handler (or the default action, or none)
        caught.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:  # raised by the handler now in place
            signal.raise_signal(caught[0])


def positive_int(text):
    """argparse type: an integer from 1 to 2**63 - 1 (TF Serving's version numbers are int64)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a positive integer below 2**63, got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (usage itself stays in `--help`)."""

    def error(self, message):
        if "required: inputs" in message:  # e.g. `predict RUN -terrible-`
            message += "; a text that starts with '-' goes after --"
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Once(argparse.Action):
    """Stores an option given once; a second value is refused (argparse keeps the last).
    Its default is `None`: a value there means the option was given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.default is not None:
            raise ValueError(f"Once: {self.dest} needs the default None, got {self.default!r}")

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest) is not None:
            raise argparse.ArgumentError(self, f"given twice ({getattr(namespace, self.dest)!r} "
                                               f"and {values!r}); give it once")
        setattr(namespace, self.dest, values)


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and library log lines")
    parser = OneLineParser(
        prog="rnn-tasks", description="Train, evaluate and export recurrent-network tasks.")
    from rnn_tasks import __version__

    parser.add_argument("--version", action="version", version=f"rnn-tasks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, help, run):
        sub = commands.add_parser(name, help=help, parents=[common])
        sub.set_defaults(run=run, command_parser=sub)
        return sub

    def overrides(sub):
        sub.add_argument("--set", dest="overrides", action="append", default=[],
                         metavar="SECTION.KEY=VALUE", help="override a recipe value (repeatable)")

    train = command("train", "train a recipe into a run directory", run_train)
    train.add_argument("recipe", help="recipe file (tasks/*.toml) or built-in recipe name")
    train.add_argument("--run-dir", action=Once,
                       help="output folder (default: runs/<recipe>-<time>)")
    overrides(train)
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run in --run-dir from its last epoch")

    evaluate = command("evaluate", "test metrics of a trained run", run_evaluate)
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data", action=Once, help="another data file of the same format")
    overrides(evaluate)
    evaluate.add_argument("--backtest", action=Once, type=positive_int, metavar="K",
                          help="forecasting: also report K rolling forecast origins")

    predict = command("predict", "predict raw inputs with a run or an export", run_predict)
    predict.add_argument("model_dir", help="run directory or export version directory")
    predict.add_argument("inputs", nargs="+", help=(
        "texts, or files of them (one per line, or a table's text column); '-' reads texts from "
        "standard input; forecasting: history tables; captioning: image files"))

    export = command("export", "export a run as a TF Serving SavedModel", run_export)
    export.add_argument("run_dir")
    export.add_argument("--to", action=Once, required=True, metavar="BASE_DIR",
                        help="model base path")
    export.add_argument("--version", action=Once, type=positive_int,
                        help="version number (default: next free)")
    export.add_argument("--models-config", action=Once, metavar="FILE",
                        help="also add or update this model in a TF Serving model config file")
    export.add_argument("--name", action=Once,
                        help="model name in --models-config (default: the base folder's name)")
    export.add_argument("--serving-base", action=Once, metavar="PATH",
                        help="base path as the server sees it (default: --to, absolute)")

    command("recipes", "list the built-in recipes", run_recipes)
    command("datasets", "list the dataset catalog", run_datasets)
    return parser


def run_train(args):
    from rnn_tasks import checks
    from rnn_tasks.metrics import metrics_json
    from rnn_tasks.recipes import write_recipe

    if args.resume and not args.run_dir:
        raise UserError("--resume needs --run-dir pointing at an interrupted run (with recipe.toml)")
    if args.resume:  # first: what to resume decides which recipe is read
        checks.check_training_run_dir(args.run_dir, resume=True)
    if args.run_dir == "":
        raise UserError("--run-dir must not be empty (leave it out for runs/<recipe>-<time>)")
    source = Path(args.run_dir) / checks.RECIPE_FILE if args.resume else args.recipe
    if args.resume:
        checks.check_resume_overrides(args.overrides, checks.training_recipe(source)[0])
    recipe, name = checks.training_recipe(source, args.overrides)
    if args.resume:
        checks.check_resume_epochs(args.run_dir, recipe["train"]["epochs"])
    if args.resume and args.recipe:
        given, _ = checks.training_recipe(args.recipe, args.overrides)
        if given["task"] != recipe["task"]:
            raise UserError(f"--resume: {args.run_dir} is a {recipe['task']} run; the recipe "
                            f"{args.recipe!r} is {given['task']} (resume with the run's own recipe)")
    run_dir = Path(args.run_dir or f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    multi_worker = recipe["train"]["strategy"] == "multi_worker"
    if not args.run_dir and not multi_worker:  # a new folder is claimed below
        checks.check_writable(run_dir, "run directory")
    elif not multi_worker:  # workers share one --run-dir that only the chief writes
        checks.check_training_run_dir(run_dir, args.resume)
    checks.check_data(recipe)
    checks.check_cluster(recipe, args.resume)
    task = templates(args).from_recipe(source, args.overrides)
    with interrupt_ends_process() if multi_worker else contextlib.nullcontext():
        task.strategy  # a multi-worker strategy must exist before any other TensorFlow work
    if not task.is_chief:
        return _train_as_worker(task)
    if multi_worker and args.run_dir:
        checks.check_training_run_dir(run_dir, args.resume)
    task.prepare()  # bad data fails here, before anything is written
    created = not args.run_dir or not run_dir.exists()
    if args.run_dir:
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = claim_new_folder(run_dir)
    try:
        with checks.run_lock(run_dir):
            write_recipe(task.recipe, run_dir / checks.RECIPE_FILE)  # what --resume reads
            with cluster_left_is_one_line() if multi_worker else contextlib.nullcontext():
                task.fit(run_dir=run_dir, resume=args.resume, verbose=progress_verbosity())
            check_interrupted()  # the run stays resumable, not written as finished
            metrics = task.evaluate()
            task.save(run_dir, metrics)
    except BaseException:
        if not args.resume and not (run_dir / "checkpoints" / checks.BACKUP_FILES[0]).exists():
            _remove_unstarted_run(run_dir, created)
        raise
    print(metrics_json(metrics))
    print(f"run directory: {run_dir}")


@contextlib.contextmanager
def interrupt_ends_process():
    """For a block that waits inside TensorFlow's runtime holding Python's lock (joining
    a cluster), where no Python signal handler can run: Ctrl-C ends the process at once
    (the shell reports 130). Nothing is written before it. (SIGTERM is TensorFlow's
    there: its coordination service takes it as a preemption notice.)"""
    kept = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, kept)


def _remove_unstarted_run(run_dir, created):
    """Undoes a new run stopped before its first backup: the folder goes if `train`
    created it, else it is emptied again (a new run starts only in an empty one)."""
    if created or not run_dir.is_dir():
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for path in run_dir.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def claim_new_folder(path):
    """Creates the folder `path`, or `path-2`, `path-3`, ... where another process took
    it first (two `train` started in the same second).

    Args:
        path: the folder's `Path`; its parents are created if missing.

    Returns:
        The `Path` of the folder created, new and empty.

    Example:
    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp()) / "runs" / "x-20260101-000000"
    >>> [claim_new_folder(base).name for _ in range(2)]
    ['x-20260101-000000', 'x-20260101-000000-2']
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for number in itertools.count(1):
        candidate = path if number == 1 else path.with_name(f"{path.name}-{number}")
        try:
            candidate.mkdir()  # atomic: one process gets each name
            return candidate
        except FileExistsError:
            continue


def progress_verbosity():
    """Keras's progress bar on a terminal; one line per epoch where stdout is a file or a
    pipe (a log, a batch job), which the bar's carriage returns and colours would garble."""
    return "auto" if sys.stdout.isatty() else 2


def _train_as_worker(task):
    """A non-chief multi-worker process: trains in step with the chief, writes nothing to
    keep."""
    scratch = tempfile.mkdtemp(prefix="rnn-tasks-worker-")
    try:
        with cluster_left_is_one_line():
            task.fit(run_dir=scratch, verbose=progress_verbosity())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def cluster_left_is_one_line():
    """Multi-worker training: a task that stops (the chief refusing its --run-dir, Ctrl-C
    on any task) ends the others with one line, not a traceback of collective ops."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.UnavailableError as error:  # the collective ops lost a peer
        reason = error.message.strip().splitlines()[0][:200] if error.message.strip() else "gone"
        raise UserError(f"training stopped: a task of the cluster left ({reason}); its own "
                        "output says why") from None


def run_evaluate(args):
    from rnn_tasks import checks
    from rnn_tasks.metrics import metrics_json

    checks.check_evaluate_options(args.run_dir, args.overrides, args.backtest, args.data)
    task = templates(args).load(args.run_dir, args.overrides, as_template=True)
    kwargs = {"backtest": args.backtest} if args.backtest else {}
    metrics = task.evaluate_file(args.data, **kwargs) if args.data else task.evaluate(**kwargs)
    print(metrics_json(metrics))
    if args.backtest:
        name = "backtest.csv" if not args.data else f"backtest-{file_label(args.data)}.csv"
        _write_backtest(task, metrics, Path(args.run_dir) / name)  # the run's own kept


def file_label(path):
    """A data path as part of a file name: `shards/part-*.csv` -> `part-_`.

    Example:
    >>> file_label("other prices.csv")
    'other_prices'
    """
    return re.sub(r"[^\w.-]", "_", Path(path).stem)


def _write_backtest(task, metrics, path):
    """The backtest as a labelled table in `path` (stdout stays JSON with the same rows,
    stderr stays empty on success)."""
    try:
        task.backtest_table(metrics).to_csv(path, index=False, float_format="%.6g")
    except OSError as error:
        raise UserError(f"cannot write the backtest table {path}: {error.strerror}") from None


def run_predict(args):
    from rnn_tasks import checks
    from rnn_tasks.inputs import format_outputs

    if not args.model_dir.strip():
        raise UserError(f"predict: the model directory is empty ({args.model_dir!r}); give a run "
                        "directory or an export version folder")
    for number, argument in enumerate(args.inputs, 1):
        if not argument.strip():  # `Path("")` is ".": it would be read as the current folder
            raise UserError(f"predict: input {number} is empty ({argument!r}); give a data file "
                            "(or, to a text model, the text itself)")
    model_dir = Path(args.model_dir)
    if (model_dir / "saved_model.pb").is_file():
        return _predict_export(model_dir, args)
    versions = sorted((p for p in model_dir.glob("*/saved_model.pb") if p.parent.name.isdigit()),
                      key=lambda p: int(p.parent.name))  # 10 after 9, as TF Serving counts
    if versions and not (model_dir / checks.RECIPE_FILE).is_file():
        raise UserError(f"predict: {model_dir} is an export base folder; give one of its versions, "
                        f"e.g. {versions[-1].parent}")
    checks.check_predict_files(checks.finished_run_recipe(model_dir).get("task"), args.inputs)
    task = templates(args).load(model_dir, as_template=True)
    inputs, labels = task.labelled_inputs_from_files(args.inputs)
    print(format_outputs(labels, task.predict(inputs), sys.stdout.encoding))


def _predict_export(export_dir, args):
    from rnn_tasks.checks import EXPORTED_RECIPE, check_predict_files
    from rnn_tasks.recipes import read_toml

    recipe = read_toml(export_dir / "assets.extra" / EXPORTED_RECIPE)
    check_predict_files(recipe.get("task"), args.inputs)
    task_class = templates(args)  # TensorFlow's import, quietly
    import tensorflow as tf

    from rnn_tasks.inputs import format_outputs

    task = task_class.from_dict(recipe)
    signature = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    inputs, labels = task.labelled_inputs_from_files(args.inputs)
    outputs = signature(**{name: tf.constant(value) for name, value in inputs.items()})
    print(format_outputs(labels, {name: value.numpy() for name, value in outputs.items()},
                         sys.stdout.encoding))


def run_export(args):
    from rnn_tasks import checks

    checks.finished_run_recipe(args.run_dir)
    checks.check_export_options(args.to, args.version, args.models_config, args.name,
                                args.serving_base)
    task = templates(args).load(args.run_dir, as_template=True)
    if args.models_config:  # a bad config fails before anything is exported
        from rnn_tasks.export.saved_model import (read_models_config, unserved_version,
                                                  update_models_config)

        read_models_config(args.models_config)
    exported = task.export(args.to, args.version)
    print(exported)
    if args.models_config:
        name = args.name or Path(args.to).resolve().name
        update_models_config(args.models_config, name, args.to, args.serving_base)
        print(f"{args.models_config}: model {name!r} -> {args.serving_base or Path(args.to).resolve()}")
        unserved = unserved_version(args.models_config, name, int(exported.name))
        if unserved:
            notice(unserved)


def run_recipes(args):
    from rnn_tasks.recipes import builtin_recipes, read_toml

    for name, path in builtin_recipes().items():
        recipe = read_toml(path)
        print(f"{name:28s} {recipe.get('task', '?'):12s} {recipe.get('description', '')}")


def run_datasets(args):
    from rnn_tasks.data.catalog import list_cards

    for card in list_cards():
        print(f"{card['name']:28s} {card['task']:12s} {card['source']['kind']:9s} {card['description']}")


def console():
    """The `rnn-tasks` command: `main`, then exit with its status. Once the command is
    done, a late Ctrl-C or SIGTERM (while the libraries shut down, which takes
    TensorFlow a moment) no longer turns its outcome into a kill by that signal."""
    for stream in (sys.stdout, sys.stderr):  # an ASCII terminal (PYTHONIOENCODING=ascii)
        if hasattr(stream, "reconfigure"):  # gets \xe9, not a traceback (None when closed)
            stream.reconfigure(errors="backslashreplace")
    status = main()
    # Ignored, not handled: Python's own shutdown resets handled signals to their
    # default action, a kill, before TensorFlow's runtime is torn down.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)


if __name__ == "__main__":
    console()
