"""Runs each template on one device and on two logical CPUs (MirroredStrategy).

Run as a script: logical devices must be set before TensorFlow starts, so
`tests/test_distribute.py` calls it in a fresh process. Prints one JSON
object: `{template: {"single": losses, "mirrored": losses, "replicas": n}}`, plus
`"sentiment_naive_bayes"`: the naive Bayes n-gram start built on each replica.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf


def datasets(folder):
    """Small files of each template's format, written with the tests' helpers."""
    from tests.test_captioning import write_captions_table
    from tests.test_forecasting import write_prices
    from tests.test_sentiment import write_reviews
    from tests.test_translation import write_pairs

    return {
        "price_forecasting": write_prices(folder / "prices.csv"),
        "sentiment": write_reviews(folder / "reviews.csv", rows=300),
        "translation": write_pairs(folder / "pairs.tsv", count=300),
        "captioning": write_captions_table(folder, count=60),
    }


SMALL = {"model.units": 8, "model.dropout": 0.0, "train.epochs": 2, "train.patience": 0,
         "export.warmup_examples": 1}
EXTRA = {"captioning": {"model.filters": [8], "data.image_size": 32},
         "translation": {"model.embedding_dim": 8},
         # No dropout noise; n-gram weights from 0: naive Bayes's separate these texts at
         # once, leaving a loss of 1e-5 that float rounding alone moves by percents.
         "sentiment": {"model.embedding_dim": 8, "model.embedding_dropout": 0.0,
                       "model.ngram_initializer": "zeros"}}


def main():
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from rnn_tasks.templates import Task

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for recipe, path in datasets(Path(folder)).items():
            runs = {}
            for strategy, batch_size in (("auto", 32), ("mirrored", 16)):
                task = Task.from_recipe(recipe, {**SMALL, **EXTRA.get(recipe, {}), "data.path": str(path),
                                                 "train.strategy": strategy,
                                                 "train.batch_size": batch_size})
                task.fit(verbose=0)
                runs[strategy] = task.history.history["loss"]
                runs[f"{strategy}_replicas"] = task.strategy.num_replicas_in_sync
            results[recipe] = runs
            if recipe == "sentiment":
                results["sentiment_naive_bayes"] = naive_bayes_replicas(path)
    json.dump(results, sys.stdout)


def naive_bayes_replicas(path):
    """The naive Bayes n-gram start built under MirroredStrategy: each replica's table, as
    `{"replica_sums": [sum of |weights| per replica], "single_sum": one device's}`."""
    from rnn_tasks.templates import Task

    sums = {}
    for strategy in ("auto", "mirrored"):
        task = Task.from_recipe("sentiment", {**SMALL, **EXTRA["sentiment"], "data.path": str(path),
                                              "train.strategy": strategy,
                                              "model.ngram_initializer": "naive_bayes"})
        task.prepare()
        with task.strategy.scope():
            table = task.build_model().get_layer("ngrams").table
        replicas = getattr(table.value, "values", None) or [table.value]
        sums[strategy] = [float(np.abs(np.asarray(values)).sum()) for values in replicas]
    return {"replica_sums": sums["mirrored"], "single_sum": sums["auto"][0]}


if __name__ == "__main__":
    main()
