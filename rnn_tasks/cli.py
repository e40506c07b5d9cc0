"""The `rnn-tasks` command: train, evaluate, predict, export, list recipes and datasets.

Bad input (recipe, data, paths, network) prints one line on stderr and exits
with status 2; nothing half-written is left behind.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rnn_tasks.errors import UserError
from rnn_tasks.recipes import write_recipe

EXIT_BAD_INPUT = 2


def main(argv=None):
    """Entry point of `rnn-tasks`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return args.run(args) or 0
    except UserError as error:
        print(f"rnn-tasks {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("rnn-tasks: interrupted", file=sys.stderr)
        return 130


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rnn-tasks", description="Train, evaluate and export recurrent-network tasks.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a recipe into a run directory")
    train.add_argument("recipe", help="recipe file (tasks/*.toml) or built-in recipe name")
    train.add_argument("--run-dir", help="output folder (default: runs/<recipe>-<time>)")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="SECTION.KEY=VALUE", help="override a recipe value (repeatable)")
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run in --run-dir from its last epoch")
    train.set_defaults(run=run_train)

    evaluate = commands.add_parser("evaluate", help="test metrics of a trained run")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data", help="another data file of the same format")
    evaluate.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="SECTION.KEY=VALUE")
    evaluate.add_argument("--backtest", type=int, metavar="K",
                          help="forecasting: also report K rolling forecast origins")
    evaluate.set_defaults(run=run_evaluate)

    predict = commands.add_parser("predict", help="predict raw inputs with a run or an export")
    predict.add_argument("model_dir", help="run directory or export version directory")
    predict.add_argument("inputs", nargs="+", help="input files (forecasting: CSV history)")
    predict.set_defaults(run=run_predict)

    export = commands.add_parser("export", help="export a run as a TF Serving SavedModel")
    export.add_argument("run_dir")
    export.add_argument("--to", required=True, metavar="BASE_DIR", help="model base path")
    export.add_argument("--version", type=int, help="version number (default: next free)")
    export.add_argument("--models-config", metavar="FILE",
                        help="also add or update this model in a TF Serving model config file")
    export.add_argument("--name", help="model name in --models-config (default: the base folder's name)")
    export.add_argument("--serving-base", metavar="PATH",
                        help="base path as the server sees it (default: --to, absolute)")
    export.set_defaults(run=run_export)

    commands.add_parser("recipes", help="list the built-in recipes").set_defaults(run=run_recipes)
    commands.add_parser("datasets", help="list the dataset catalog").set_defaults(run=run_datasets)
    return parser


def run_train(args):
    from rnn_tasks.templates import Task

    if args.resume:
        if not args.run_dir or not (Path(args.run_dir) / "recipe.toml").is_file():
            raise UserError("--resume needs --run-dir pointing at an interrupted run (with recipe.toml)")
        task = Task.from_recipe(Path(args.run_dir) / "recipe.toml", args.overrides)
    else:
        task = Task.from_recipe(args.recipe, args.overrides)
    task.strategy  # a multi-worker strategy must exist before any other TensorFlow work
    if not task.is_chief:
        return _train_as_worker(task)
    run_dir = Path(args.run_dir or f"runs/{task.recipe_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run_dir.exists() and any(run_dir.iterdir()) and not args.resume:
        raise UserError(f"run directory {run_dir} exists and is not empty (use --resume to continue it)")
    task.prepare()  # bad data fails here, before anything is written
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        write_recipe(task.recipe, run_dir / "recipe.toml")
        task.fit(run_dir=run_dir, resume=args.resume)
        metrics = task.evaluate()
        task.save(run_dir, metrics)
    except BaseException:
        if created and not args.resume and not (run_dir / "checkpoints").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    print(json.dumps(metrics, indent=2))
    print(f"run directory: {run_dir}")


def _train_as_worker(task):
    """A non-chief multi-worker process: trains in step with the chief, writes nothing to keep."""
    scratch = tempfile.mkdtemp(prefix="rnn-tasks-worker-")
    try:
        task.fit(run_dir=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_evaluate(args):
    from rnn_tasks.templates import Task

    task = Task.load(args.run_dir, args.overrides)
    kwargs = {"backtest": args.backtest} if args.backtest else {}
    metrics = task.evaluate_file(args.data, **kwargs) if args.data else task.evaluate(**kwargs)
    print(json.dumps(metrics, indent=2))


def run_predict(args):
    model_dir = Path(args.model_dir)
    if (model_dir / "saved_model.pb").is_file():
        return _predict_export(model_dir, args.inputs)
    from rnn_tasks.templates import Task

    task = Task.load(model_dir)
    print(task.format_outputs(task.predict(task.inputs_from_files(args.inputs))))


def _predict_export(export_dir, inputs):
    import tensorflow as tf

    from rnn_tasks.export.saved_model import RECIPE_FILE
    from rnn_tasks.recipes import read_toml
    from rnn_tasks.templates import Task

    task = Task.from_dict(read_toml(export_dir / "assets.extra" / RECIPE_FILE))
    signature = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    outputs = signature(**{k: tf.constant(v) for k, v in task.inputs_from_files(inputs).items()})
    print(task.format_outputs({k: v.numpy() for k, v in outputs.items()}))


def run_export(args):
    from rnn_tasks.templates import Task

    task = Task.load(args.run_dir)
    if args.models_config:  # a bad config fails before anything is exported
        from rnn_tasks.export.saved_model import read_models_config, update_models_config

        read_models_config(args.models_config)
    task.prepare()  # warmup requests come from real validation inputs
    print(task.export(args.to, args.version))
    if args.models_config:
        name = args.name or Path(args.to).resolve().name
        update_models_config(args.models_config, name, args.to, args.serving_base)
        print(f"{args.models_config}: model {name!r} -> {args.serving_base or Path(args.to).resolve()}")


def run_recipes(args):
    from rnn_tasks.recipes import builtin_recipes, read_toml

    for name, path in builtin_recipes().items():
        recipe = read_toml(path)
        print(f"{name:28s} {recipe.get('task', '?'):12s} {recipe.get('description', '')}")


def run_datasets(args):
    from rnn_tasks.data.catalog import list_cards

    for card in list_cards():
        print(f"{card['name']:28s} {card['task']:12s} {card['source']['kind']:8s} {card['description']}")


if __name__ == "__main__":
    sys.exit(main())
