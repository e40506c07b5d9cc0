"""Is the input pipeline ever the bottleneck? Input throughput vs training throughput.

For each recipe, in one process: examples per second of one pass over the
training `tf.data` pipeline alone (the first, cold pass: parsing, decoding
and vectorizing included; cached pipelines are faster afterwards), and of
the second training epoch (the first traces the graph). A ratio well above
1 means the model, not the input, sets the pace.

    python benchmarks/pipeline.py
    python benchmarks/pipeline.py --recipes sentiment --set train.batch_size=256
"""

import argparse
import json
import time

import keras

from rnn_tasks.templates import Task

RECIPES = ["price_forecasting", "sentiment", "translation_dates", "captioning"]


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def measure(recipe, overrides):
    task = Task.from_recipe(recipe, overrides)
    task.prepare()
    examples = len(task.data.splits["train"][0]) if hasattr(task.data, "splits") \
        else len(task.data.windows["train"][0])
    with task.strategy.scope():
        core = task.build_model()
        task.compile_model(core)
    task.model = task.assemble(core)
    dataset = task.as_dataset(task.training_data("train"), shuffle=True)
    start = time.perf_counter()
    for _ in dataset:
        pass
    pipeline_seconds = time.perf_counter() - start
    timer = EpochTimer()
    core.fit(dataset, epochs=2, callbacks=[timer], verbose=0)
    pipeline_rate, train_rate = examples / pipeline_seconds, examples / timer.seconds
    return {"recipe": recipe, "train_examples": examples,
            "pipeline_examples_per_s": round(pipeline_rate), "training_examples_per_s": round(train_rate),
            "pipeline_vs_training": round(pipeline_rate / train_rate, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    for recipe in args.recipes:
        print(json.dumps(measure(recipe, args.overrides)), flush=True)


if __name__ == "__main__":
    main()
