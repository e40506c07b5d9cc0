"""One device against MirroredStrategy on two logical CPU devices, per recipe.

Trains each recipe's model twice in one process with the same global batch
(one replica x 2B, two replicas x B) and prints the losses and the
milliseconds per training step of the last epoch. On a 2-core CPU the two
"devices" share the cores, so this measures the strategy's overhead and
checks agreement; real speed-ups need separate GPUs or machines.

    python benchmarks/distribute.py
    python benchmarks/distribute.py --recipes sentiment --set train.epochs=3
"""

import argparse
import json
import time

import keras
import tensorflow as tf

from rnn_tasks.cli import positive_int

RECIPES = ["price_forecasting", "sentiment", "translation_dates", "captioning"]


class StepTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.ms_per_step = 1000 * (time.perf_counter() - self.start) / self.steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--batch-size", type=positive_int, default=64, help="global batch size")
    args = parser.parse_args()
    if args.batch_size < 2:
        parser.error(f"--batch-size is the global batch, split over two replicas; give 2 or more, "
                     f"got {args.batch_size}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from rnn_tasks.templates import Task

    for recipe in args.recipes:
        result = {"recipe": recipe}
        for strategy, replicas in (("auto", 1), ("mirrored", 2)):
            task = Task.from_recipe(recipe, ["train.epochs=2", "train.patience=0", "model.dropout=0.0",
                                             f"train.strategy={strategy}",
                                             f"train.batch_size={args.batch_size // replicas}",
                                             *args.overrides])
            timer = StepTimer()
            own_callbacks = task.callbacks
            task.callbacks = lambda *args, **kwargs: [*own_callbacks(*args, **kwargs), timer]
            task.fit(verbose=0)
            result[strategy] = {"replicas": task.strategy.num_replicas_in_sync,
                                "loss": [round(v, 5) for v in task.history.history["loss"]],
                                "ms_per_step": round(timer.ms_per_step, 1)}
        result["mirrored_vs_one_device_step_time"] = round(
            result["mirrored"]["ms_per_step"] / result["auto"]["ms_per_step"], 2)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
