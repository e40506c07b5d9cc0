"""Test metrics of every template in one place, and how they are written.

Each function takes plain NumPy values (or lists of strings) and returns a
dict of floats, the keys of `metrics.json`.
"""

import json
import time

import numpy as np

from rnn_tasks.errors import notice


def forecast_metrics(actual, predicted, naive_scale):
    """MAE, RMSE, MAPE (%), sMAPE (%) and MASE over all examples, steps and targets.

    MAPE leaves out actual values of 0, and MASE the examples whose naive scale
    is 0 (a series constant over its training span), where they are undefined;
    with none left the metric is NaN (`null` in metrics.json).

    Args:
        actual, predicted: `(n, horizon, n_targets)` in raw units.
        naive_scale: MASE's denominator, the mean absolute one-step change on
            the training span, `(n_targets,)` or per example `(n, 1, n_targets)`.

    Returns:
        dict of floats.

    Example:
    >>> a = np.array([[[1.0], [2.0]]]); p = np.array([[[1.5], [2.0]]])
    >>> forecast_metrics(a, p, np.array([0.5]))["mase"]
    0.5
    """
    error = predicted - actual
    absolute = np.abs(error)
    defined = np.broadcast_to(np.asarray(naive_scale) > 0, absolute.shape)
    scaled = absolute[defined] / np.broadcast_to(naive_scale, absolute.shape)[defined]
    nonzero = actual != 0
    denominator = np.abs(actual) + np.abs(predicted)
    return {
        "mae": float(absolute.mean()),
        "rmse": float(np.sqrt((error ** 2).mean())),
        "mape": float(100 * (absolute[nonzero] / np.abs(actual[nonzero])).mean())
        if nonzero.any() else float("nan"),
        "smape": float(100 * np.mean(np.where(denominator == 0, 0.0, 2 * absolute / np.where(
            denominator == 0, 1, denominator)))),  # 0 / 0 counts as 0; NaN stays NaN
        "mase": float(scaled.mean()) if scaled.size else float("nan"),
    }


def interval_metrics(actual, quantiles, levels):
    """Coverage and width of the outermost interval, and the mean pinball loss.

    Args:
        actual: `(n, horizon, n_targets)` in raw units.
        quantiles: `(n, horizon, n_targets, Q)` forecast quantiles, increasing.
        levels: the `Q` quantile levels.

    Returns:
        `{coverage, interval_width, pinball}`: the share of actual values in
        `[first quantile, last quantile]`, the mean distance between the two
        (target units), and the pinball loss averaged over levels (target units).

    Example:
    >>> a = np.array([[[1.0], [5.0]]]); q = np.array([[[[0.0, 2.0]], [[0.0, 2.0]]]])
    >>> {k: round(v, 6) for k, v in interval_metrics(a, q, [0.1, 0.9]).items()}
    {'coverage': 0.5, 'interval_width': 2.0, 'pinball': 0.85}
    """
    low, high = quantiles[..., 0], quantiles[..., -1]
    error = actual[..., None] - quantiles
    levels = np.asarray(levels, dtype="float64")
    return {
        "coverage": float(np.mean((actual >= low) & (actual <= high))),
        "interval_width": float(np.mean(high - low)),
        "pinball": float(np.mean(np.maximum(levels * error, (levels - 1) * error))),
    }


def relative_mae(metrics, baselines):
    """Adds `relative_mae` (MAE / the last-value baseline's MAE) to a model's and each
    baseline's metrics, in place; returns `metrics`.

    Example:
    >>> m = relative_mae({"mae": 2.0}, {"last_value": {"mae": 4.0}})
    >>> m["relative_mae"], m["baselines"]["last_value"]["relative_mae"]
    (0.5, 1.0)
    """
    reference = baselines["last_value"]["mae"]
    with np.errstate(divide="ignore", invalid="ignore"):
        for values in [metrics, *baselines.values()]:
            values["relative_mae"] = float(np.float64(values["mae"]) / reference)
    metrics["baselines"] = baselines
    return metrics


def text_metrics(hypotheses, references):
    """Corpus BLEU and chrF (sacrebleu) and exact match against all references.

    Args:
        hypotheses: one generated text per example.
        references: one list of reference texts per example.

    Returns:
        `{bleu, chrf, exact_match, n_examples}`.
    """
    import sacrebleu

    width = max(len(refs) for refs in references)
    streams = [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
    return {
        "bleu": float(sacrebleu.corpus_bleu(hypotheses, streams).score),
        "chrf": float(sacrebleu.corpus_chrf(hypotheses, streams).score),
        "exact_match": float(np.mean([h in refs for h, refs in zip(hypotheses, references)])),
        "n_examples": len(hypotheses),
    }


def classification_metrics(labels, probability):
    """Accuracy, ROC AUC, F1 of the positive label, binary cross-entropy and the
    majority-class accuracy.

    Args:
        labels: `(n,)` 0/1.
        probability: `(n,)` predicted probability of label 1.

    Returns:
        `{accuracy, auc, f1, loss, majority_accuracy, n_examples}`; `auc` is NaN
        (`null` in metrics.json) when only one label is present.

    Example:
    >>> classification_metrics(np.array([0, 1]), np.array([0.2, 0.9]))["accuracy"]
    1.0
    """
    from sklearn.metrics import f1_score, roc_auc_score

    labels = np.asarray(labels)
    probability = np.asarray(probability, dtype="float64")
    predicted = (probability >= 0.5).astype("int32")
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)  # as Keras's binary cross-entropy
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "auc": float(roc_auc_score(labels, probability)) if len(set(labels)) == 2 else float("nan"),
        "f1": float(f1_score(labels, predicted, zero_division=0.0)),
        "loss": float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))),
        "majority_accuracy": float(max(labels.mean(), 1 - labels.mean())),
        "n_examples": int(len(labels)),
    }


def dropped_counts(dropped):
    """`{reason: count}` -> metrics keys `dropped_<reason>`, zero counts left out.

    Example:
    >>> dropped_counts({"other_labels": 3, "texts_without_words": 0})
    {'dropped_other_labels': 3}
    """
    return {f"dropped_{reason}": count for reason, count in dropped.items() if count}


def note_dropped(data):
    """A `notice:` line on stderr when reading the data left out 1 % of its rows or more
    (a third label, captions too long, texts without words; metrics.json counts each
    reason as `dropped_<reason>`).

    Args:
        data: what `load_data` returned; its `dropped` (`{reason: count}`) and
            `splits` (`{split: (inputs, targets)}`) are read where it has them.
    """
    dropped = {reason: count for reason, count in getattr(data, "dropped", {}).items() if count}
    if not dropped or not hasattr(data, "splits"):
        return
    left_out = sum(dropped.values())
    rows = left_out + sum(len(part[0]) for part in data.splits.values())
    if left_out >= 0.01 * rows:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in dropped.items())
        notice(f"{left_out} of {rows} rows were left out of the data ({reasons}); "
               "metrics.json counts them as dropped_<reason>")


def timed(evaluate):
    """Decorator for `evaluate`: adds `seconds` to the returned metrics."""
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        metrics = evaluate(self, *args, **kwargs)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
        return metrics

    wrapper.__doc__ = evaluate.__doc__
    wrapper.__name__ = evaluate.__name__
    return wrapper


def remember_metrics(evaluate):
    """Decorator for a template's `evaluate`: times it (`seconds`) and keeps the
    metrics on the task for `save`."""
    timed_evaluate = timed(evaluate)

    def wrapper(self, *args, **kwargs):
        self.require_model(evaluate.__name__)  # named as called, not as the predict inside
        self.metrics = timed_evaluate(self, *args, **kwargs)
        return self.metrics

    wrapper.__doc__, wrapper.__name__ = evaluate.__doc__, evaluate.__name__
    return wrapper


def metrics_json(metrics):
    """Metrics as strict JSON text: a value that is not a finite number (an AUC with one
    class present, a MAPE with every actual value zero) is written as `null`.

    Example:
    >>> print(metrics_json({"auc": float("nan"), "n": 3}))
    {
      "auc": null,
      "n": 3
    }
    """
    def finite(value):
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [finite(v) for v in value]
        if isinstance(value, float) and not np.isfinite(value):
            return None
        return value

    return json.dumps(finite(metrics), indent=2, allow_nan=False)
