"""Training speed of the parallel-scan layers against the recurrent loops, by length.

For each sequence length T, one-layer models (layer -> Dense(1)) are trained on
the same random batch (B=32, D=64, U=128 by default) in the same process, in
alternating rounds:

- `mingru`, `minlstm`: `LayerNormMinGRU` / `LayerNormMinLSTM` (parallel scan);
- `gru`, `lstm`: `LayerNormGRU` / `LayerNormLSTM` (a loop over time);
- `keras_gru`, `keras_lstm`: Keras's own layers (no normalization);
- `mingru_no_scan` (asked for by `--kinds`): `LayerNormMinGRU` with the scan
  replaced by `h_t = b_t`. Not a layer anyone should train: the time that the
  projection, its normalization and the outputs take alone, which bounds how
  much faster any scan can make minGRU (`no_scan_vs_gru`).

Each round times `--steps` training steps of each model; the median over
rounds is reported. One JSON line per length: milliseconds per step, and the
ratios `mingru_vs_gru` and `minlstm_vs_lstm` (how many times faster the scan
trains; the target at T=1000 is >= 5). Loops slower than `--loop-budget`
seconds per step are timed for one step only.

Run (any backend through KERAS_BACKEND):

    python benchmarks/parallel.py                         # T = 100, 1000, 10000
    python benchmarks/parallel.py --lengths 1000 --rounds 3
    python benchmarks/parallel.py --lengths 1000 --kinds mingru gru mingru_no_scan
    KERAS_BACKEND=jax python benchmarks/parallel.py
"""

import argparse
import json
import statistics
import time

import keras
import numpy as np

from keras import ops

from rnn_tasks.cli import positive_int
from rnn_tasks.layers import (
    LayerNormGRU,
    LayerNormLSTM,
    LayerNormMinGRU,
    LayerNormMinLSTM,
    parallel,
)


class MinGRUWithoutScan(LayerNormMinGRU):
    """`LayerNormMinGRU` whose scan returns its offsets (`h_t = b_t`), for timing only."""

    def inner_loop(self, *args, **kwargs):
        scan = parallel.linear_scan
        parallel.linear_scan = lambda a, b: (ops.ones_like(a), b)
        try:  # traced once: the compiled step keeps the stand-in
            return super().inner_loop(*args, **kwargs)
        finally:
            parallel.linear_scan = scan


LAYERS = {
    "mingru": LayerNormMinGRU,
    "minlstm": LayerNormMinLSTM,
    "gru": LayerNormGRU,
    "lstm": LayerNormLSTM,
    "keras_gru": keras.layers.GRU,
    "keras_lstm": keras.layers.LSTM,
    "mingru_no_scan": MinGRUWithoutScan,
}
DEFAULT_KINDS = [kind for kind in LAYERS if kind != "mingru_no_scan"]


def build(kind, length, features, units):
    model = keras.Sequential([keras.Input((length, features)), LAYERS[kind](units),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def time_steps(model, x, y, steps):
    """Median seconds of `steps` training steps (after the call that compiles)."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(length, args):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, length, args.features)).astype("float32")
    y = rng.standard_normal((args.batch, 1)).astype("float32")
    models = {kind: build(kind, length, args.features, args.units) for kind in args.kinds}
    for model in models.values():
        model.train_on_batch(x, y)  # trace and compile
    rounds = {kind: [] for kind in models}
    for _ in range(args.rounds):
        for kind, model in models.items():
            slow = rounds[kind] and rounds[kind][-1] > args.loop_budget
            rounds[kind].append(time_steps(model, x, y, 1 if slow else args.steps))
    ms = {kind: round(1000 * statistics.median(times), 2) for kind, times in rounds.items()}
    result = {"backend": keras.backend.backend(), "T": length, "B": args.batch,
              "D": args.features, "U": args.units, "ms_per_step": ms}
    for fast, loop in (("mingru", "gru"), ("minlstm", "lstm")):
        if fast in ms and loop in ms:
            result[f"{fast}_vs_{loop}"] = round(ms[loop] / ms[fast], 2)
    if "mingru_no_scan" in ms and "gru" in ms:
        result["no_scan_vs_gru"] = round(ms["gru"] / ms["mingru_no_scan"], 2)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=positive_int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--kinds", nargs="+", choices=list(LAYERS), default=DEFAULT_KINDS)
    parser.add_argument("--batch", type=positive_int, default=32)
    parser.add_argument("--features", type=positive_int, default=64)
    parser.add_argument("--units", type=positive_int, default=128)
    parser.add_argument("--steps", type=positive_int, default=5)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--loop-budget", type=float, default=2.0,
                        help="seconds per step above which a model is timed one step per round")
    args = parser.parse_args()
    for length in args.lengths:
        print(json.dumps(measure(length, args)), flush=True)


if __name__ == "__main__":
    main()
