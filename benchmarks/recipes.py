"""Training time of each built-in recipe, XLA on against off (`train.jit_compile`).

Each recipe is trained as `rnn-tasks train` trains it (`Task.fit`: its own
data, model and batch size) for `--epochs` epochs with
`train.jit_compile=false` and `=true`, in one process, in alternating order
over `--rounds` rounds (off first in even rounds, on first in odd ones), so
load that comes and goes on a shared machine falls on both. Each epoch is
timed with its validation pass.

With XLA the first two epochs are not the steady state: the first compiles
the training step for the full and the smaller last batch and the validation
step, and the second was seen to compile the training step once more (once
Keras retraces it for any batch size). So a row reports, per setting,
medians over rounds of:

- `warmup_s`: the first two epochs;
- `epoch_s`: the median of the later epochs (the steady state);
- `train_s`: a whole run of the recipe's `train.epochs` by those figures,
  `warmup_s` + (epochs - 2) * `epoch_s`;

and `xla_speedup` (`epoch_s` off / on) and `xla_speedup_whole_run`
(`train_s` off / on); > 1 means XLA is faster. One JSON line per recipe,
with the device and `auto`, what `train.jit_compile = "auto"` picks there.

    python benchmarks/recipes.py                       # the default recipes, ~20 min on a shared 2-core CPU
    python benchmarks/recipes.py --recipes translation_dates --rounds 2
"""

import argparse
import json
import statistics
import time

import keras
import tensorflow as tf

from rnn_tasks.cli import positive_int
from rnn_tasks.templates import Task
from rnn_tasks.templates.training import xla_setting

RECIPES = ["price_forecasting", "temperature_forecasting", "sentiment", "translation_dates",
           "captioning"]


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall-clock seconds (its validation pass included)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def epoch_seconds(recipe, jit_compile, epochs, overrides):
    """`(seconds of each epoch, the recipe's train.epochs)` of one run of `recipe`."""
    task = Task.from_recipe(recipe, overrides)
    planned = task.recipe["train"]["epochs"]
    task = Task.from_recipe(recipe, [*overrides, f"train.epochs={epochs}",
                                     f"train.jit_compile={str(jit_compile).lower()}"])
    timer = EpochTimer()
    own_callbacks = task.callbacks
    task.callbacks = lambda *args, **kwargs: [*own_callbacks(*args, **kwargs), timer]
    task.fit(verbose=0)
    return timer.seconds, planned


def benchmark(recipe, epochs, rounds, overrides):
    """One JSON row: XLA off against on for `recipe`, alternating over `rounds`."""
    runs = {False: [], True: []}
    for round_ in range(rounds):
        for jit_compile in ((False, True) if round_ % 2 == 0 else (True, False)):
            seconds, planned = epoch_seconds(recipe, jit_compile, epochs, overrides)
            runs[jit_compile].append(seconds)
    warmup = {k: statistics.median(sum(r[:2]) for r in v) for k, v in runs.items()}
    steady = {k: statistics.median(statistics.median(r[2:]) for r in v) for k, v in runs.items()}
    train = {k: warmup[k] + max(planned - 2, 0) * steady[k] for k in runs}
    name = {False: "xla_off", True: "xla_on"}
    return {
        "recipe": recipe,
        "device": "gpu" if tf.config.list_logical_devices("GPU") else "cpu",
        "auto": xla_setting("auto"),
        "epochs_timed": epochs,
        "rounds": rounds,
        "recipe_epochs": planned,
        "warmup_s": {name[k]: round(v, 1) for k, v in warmup.items()},
        "epoch_s": {name[k]: round(v, 2) for k, v in steady.items()},
        "train_s": {name[k]: round(v, 1) for k, v in train.items()},
        "xla_speedup": round(steady[False] / steady[True], 3),
        "xla_speedup_whole_run": round(train[False] / train[True], 3),
        "all_epochs_s": {name[k]: [[round(s, 2) for s in r] for r in v] for k, v in runs.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--epochs", type=positive_int, default=3,
                        help="epochs per run (default: 3; the first two are the warm-up)")
    parser.add_argument("--rounds", type=positive_int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="section.key=value for every run")
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error("--epochs must be at least 3: the first two are the warm-up")
    for recipe in args.recipes:
        print(json.dumps(benchmark(recipe, args.epochs, args.rounds, args.overrides)), flush=True)


if __name__ == "__main__":
    main()
