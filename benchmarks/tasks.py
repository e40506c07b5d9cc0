"""End-to-end task benchmarks: train time, test metrics, serving latency.

For each recipe: train it as `rnn-tasks train` would, evaluate it, export
it, then time batch-1 and batch-64 requests against the SavedModel loaded in
this process and against `task.predict`, alternating, median of `--repeats`.
One JSON line per recipe. For translation also: greedy against beam-search
serving latency (two exports of the same model); for the dates recipe,
exact match on hand-typed dates (`benchmarks/held_out.py`). For captioning also: how
often the SavedModel names the right colour and shape on scenes drawn here
with Pillow, not by the project's generator.

    python benchmarks/tasks.py                          # the default recipes
    python benchmarks/tasks.py --recipes price_forecasting --set train.epochs=5
"""

import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

from held_out import held_out_dates
from rnn_tasks.templates import Task

RECIPES = ["price_forecasting", "temperature_forecasting", "sentiment", "translation_dates",
           "captioning"]


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
        return {"mase": metrics["mase"], "last_value_mase": last,
                "mase_vs_last_value": metrics["mase"] / last,
                "mase_vs_best_baseline": metrics["mase"] / best}
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
        if task.recipe["data"].get("dataset") == "dates_en_es" and not task.recipe["data"]["path"]:
            result["held_out_dates"] = held_out_dates(signature, task.data.splits["train"][0])
        if task.name == "captioning":
            result["foreign_scenes"] = foreign_scenes(signature)
    return result


def foreign_scenes(signature, count=100, seed=1):
    """Share of single-shape scenes drawn with plain Pillow calls whose caption
    names the right colour and shape (and size)."""
    import io

    from PIL import Image, ImageDraw

    colours = {"red": (225, 35, 35), "green": (35, 195, 55), "blue": (45, 75, 240),
               "yellow": (240, 220, 35), "white": (240, 240, 240)}
    rng = np.random.default_rng(seed)
    images, truths = [], []
    for _ in range(count):
        colour, shape = rng.choice(list(colours)), rng.choice(["circle", "square", "triangle"])
        size = rng.choice(["small", "large"])
        half = int(rng.integers(4, 8) if size == "small" else rng.integers(10, 14))
        x, y = (int(v) for v in rng.integers(half + 2, 62 - half, 2))
        image = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(0, 40, 3)))
        draw = ImageDraw.Draw(image)
        box = [x - half, y - half, x + half, y + half]
        if shape == "circle":
            draw.ellipse(box, fill=colours[colour])
        elif shape == "square":
            draw.rectangle(box, fill=colours[colour])
        else:
            draw.polygon([(x, y - half), (x - half, y + half), (x + half, y + half)], fill=colours[colour])
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        images.append(buffer.getvalue())
        truths.append((colour, shape, size))
    captions = [c.decode() for c in signature(image_bytes=tf.constant(images))["caption"].numpy()]
    words = [caption.split() for caption in captions]
    return {
        "colour_and_shape": float(np.mean([c in w and s in w for (c, s, _), w in zip(truths, words)])),
        "colour_shape_size": float(np.mean([set(t) <= set(w) for t, w in zip(truths, words)])),
        "examples": dict(zip(captions[:3], [" ".join(t) for t in truths[:3]])),
    }


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
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    for recipe in args.recipes:
        print(json.dumps(benchmark(recipe, args.overrides, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
