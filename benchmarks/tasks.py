"""End-to-end task benchmarks: train time, test metrics, serving latency.

For each recipe: train it as `rnn-tasks train` would, evaluate it, export
it, then time batch-1 and batch-64 requests against the SavedModel loaded in
this process and against `task.predict`, alternating, median of `--repeats`.
One JSON line per recipe. For translation also: greedy against beam-search
serving latency (two exports of the same model) and the test BLEU of the
SavedModel's own translations; for the dates recipe,
exact match on hand-typed dates. For captioning also: BLEU and exact match
on scenes drawn with plain Pillow calls on white, grey and black canvases of
several sizes, not by the project's generator (both in `held_out.py`).
For sentiment with `model.ngrams`: the naive Bayes classifier its n-gram
weights start from, scored alone without training.
For forecasting: relative MAE (MAE / last-value MAE) and interval coverage
of the model and every baseline; for a recipe over every group (`data.group
= "*"`, e.g. stocks_global) also the global model against one model per
series trained on the same windows (MAE per series and pooled, total
training time).

    python benchmarks/tasks.py                          # the default recipes
    python benchmarks/tasks.py --recipes price_forecasting --set train.epochs=5
    python benchmarks/tasks.py --recipes stocks_global --repeats 5
    python benchmarks/tasks.py --recipes translation_fra --set data.path=fra_eng.tsv
"""

import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

from held_out import hand_drawn_scenes, held_out_dates
from rnn_tasks.cli import positive_int
from rnn_tasks.layers import BagOfNgrams
from rnn_tasks.metrics import classification_metrics, text_metrics
from rnn_tasks.templates import Task

RECIPES = ["price_forecasting", "temperature_forecasting", "stocks_global", "sentiment",
           "translation_dates", "captioning"]


def latency_ms(function, repeats):
    """Median milliseconds of `function()` after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def serving_batch(task, size):
    """`size` real test inputs as `{input name: array}` (repeated if the split is small)."""
    inputs = task.warmup_inputs(10**9)
    return {name: np.resize(value, (size, *value.shape[1:])) for name, value in inputs.items()}


def headline(task, metrics):
    """The template's key quality figures."""
    if task.name == "forecasting":
        last = metrics["baselines"]["last_value"]["mase"]
        best = min(v["mase"] for v in metrics["baselines"].values())
        figures = {"mase": metrics["mase"], "last_value_mase": last,
                   "mase_vs_last_value": metrics["mase"] / last,
                   "mase_vs_best_baseline": metrics["mase"] / best}
        for name, values in [("model", metrics), *metrics["baselines"].items()]:
            figures[f"relative_mae_{name}"] = round(values["relative_mae"], 4)
            if "coverage" in values:
                figures[f"coverage_{name}"] = round(values["coverage"], 4)
        return figures
    return {k: v for k, v in metrics.items() if isinstance(v, float)}


def benchmark(recipe, overrides, repeats):
    task = Task.from_recipe(recipe, overrides)
    start = time.perf_counter()
    task.fit(verbose=0)
    train_seconds = time.perf_counter() - start
    metrics = task.evaluate()
    with tempfile.TemporaryDirectory() as base:
        signature = tf.saved_model.load(str(task.export(base))).signatures["serving_default"]
        result = {"recipe": recipe, "train_seconds": round(train_seconds, 1),
                  "epochs_run": len(task.history.history["loss"]), **headline(task, metrics)}
        for size in (1, 64):
            batch = serving_batch(task, size)
            tensors = {k: tf.constant(v) for k, v in batch.items()}
            served = latency_ms(lambda: signature(**tensors), repeats)
            eager = latency_ms(lambda: task.predict(batch), repeats)
            result[f"batch{size}_ms"] = {"saved_model": round(served, 2), "task_predict": round(eager, 2),
                                         "task_predict_vs_saved_model": round(eager / served, 2)}
        if task.name == "translation":
            result["decoding_ms"] = decoding_latency(task, base, repeats)
            result["saved_model_test"] = served_text_metrics(task, signature)
        if task.recipe["data"].get("dataset") == "dates_en_es" and not task.recipe["data"]["path"]:
            result["held_out_dates"] = held_out_dates(signature, task.data.splits["train"][0])
        if task.name == "captioning":
            result["hand_drawn_scenes"] = hand_drawn_scenes(signature)
    if task.name == "sentiment" and task.config.model.ngrams:
        result["naive_bayes_alone"] = naive_bayes_alone(task)
    if task.name == "forecasting" and task.recipe["data"]["group"] == "*":
        result["global_vs_per_series"] = global_vs_per_series(task, metrics, train_seconds,
                                                              recipe, overrides)
    return result


def global_vs_per_series(task, metrics, train_seconds, recipe, overrides):
    """The global model against one model per series (same recipe, `data.group` = that
    series): test MAE per series and pooled over all test windows, total training time."""
    per_series, seconds, errors = {}, 0.0, 0.0
    for name, figures in metrics["groups"].items():
        local = Task.from_recipe(recipe, [*overrides, f'data.group="{name}"'])
        start = time.perf_counter()
        local.fit(verbose=0)
        seconds += time.perf_counter() - start
        mae = local.evaluate()["mae"]
        per_series[name] = {"global_mae": round(figures["mae"], 4), "per_series_mae": round(mae, 4)}
        errors += mae * figures["n_examples"]
    pooled = errors / metrics["n_examples"]
    return {"series": per_series, "global_mae": round(metrics["mae"], 4),
            "per_series_mae": round(pooled, 4),
            "global_vs_per_series_mae": round(metrics["mae"] / pooled, 4),
            "global_train_seconds": round(train_seconds, 1),
            "per_series_train_seconds": round(seconds, 1)}


def naive_bayes_alone(task):
    """Test accuracy and AUC of the naive Bayes classifier the n-gram weights start from
    (same split, vocabulary and n-grams, with its class prior), without any training."""
    texts, labels = task.data.splits["train"]
    ngrams = BagOfNgrams(task.preprocessing.vocabulary_size(), task.config.model.ngrams)
    ngrams.fit_naive_bayes([(task.preprocessing(texts), labels)])
    prior = np.log(labels.mean() / (1 - labels.mean()))
    texts, labels = task.data.splits["test"]
    scores = ngrams(task.preprocessing(texts)).numpy()[:, 0] + prior
    metrics = classification_metrics(labels, 1 / (1 + np.exp(-scores)))
    return {k: round(metrics[k], 4) for k in ("accuracy", "auc")}


def served_text_metrics(task, signature, batch=64):
    """BLEU, chrF and exact match of the SavedModel's own translations of the test
    sources (the recipe's decoding, in TensorFlow alone) against all their references."""
    references = task.references(*task.data.splits["test"])
    sources = list(references)
    outputs = []
    for start in range(0, len(sources), batch):
        served = signature(text=tf.constant(sources[start:start + batch]))["translation"]
        outputs += [text.decode() for text in served.numpy()]
    return {k: round(v, 2) if isinstance(v, float) else v
            for k, v in text_metrics(outputs, list(references.values())).items()}


def decoding_latency(task, base, repeats):
    """Greedy vs beam search: batch-1 and batch-64 ms of SavedModels of one model."""
    signatures = {}
    for method in ("greedy", "beam"):
        variant = type(task)(task.recipe | {"decode": task.recipe["decode"] | {"method": method}})
        variant.model, variant.data = task.model, task.data
        path = variant.export(f"{base}/{method}")
        signatures[method] = tf.saved_model.load(str(path)).signatures["serving_default"]
    result = {}
    for size in (1, 64):
        text = tf.constant(serving_batch(task, size)["text"])
        times = {m: latency_ms(lambda s=s: s(text=text), repeats) for m, s in signatures.items()}
        result[f"batch{size}"] = {**{m: round(t, 2) for m, t in times.items()},
                                  "beam_vs_greedy": round(times["beam"] / times["greedy"], 2),
                                  "beam_width": task.recipe["decode"]["beam_width"]}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=positive_int, default=50)
    args = parser.parse_args()
    for recipe in args.recipes:
        print(json.dumps(benchmark(recipe, args.overrides, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
