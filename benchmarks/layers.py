"""Training throughput of the LayerNorm* sequence layers against Keras's layers.

For each shape and each layer kind, three one-layer models are trained on the
same random batch, in the same process, in alternating rounds:

- `ours`: `LayerNormLSTM` (or GRU, SimpleRNN), the sequence layer with its
  default `precompute_inputs="auto"` (per-step projection on CPU);
- `ours_precomputed`: the same with `precompute_inputs=True` (the inputs of
  all steps projected and normalized at once, outside the loop);
- `cell`: `keras.layers.RNN(LayerNormLSTMCell)`, the same cell in Keras's loop;
- `keras`: `keras.layers.LSTM` (no normalization).

Each round times `--steps` training steps of every model; the median over
rounds is reported. One JSON line per (shape, kind) with milliseconds per
step and the throughput ratios `ours_vs_keras` (>= 0.9 is the target) and
`ours_vs_cell`.

`--norm-cost` explains the LSTM's gap instead: the same model is trained
with a plain Keras-order LSTM cell whose three normalizations (of the input
projection, of the recurrent projection, of the cell state) are switched on
one at a time, each computed as in the loop of `LayerNormLSTM` (one
variance per row of a centered projection), all in `keras.layers.RNN`, beside
`keras.layers.LSTM`. It prints each normalization's cost as a fraction of
the plain cell's training step.

Run (any backend through KERAS_BACKEND):

    python benchmarks/layers.py                      # both shapes, ~10 min on 2 cores
    python benchmarks/layers.py --shapes small --rounds 3
    python benchmarks/layers.py --norm-cost --shapes small
    KERAS_BACKEND=jax python benchmarks/layers.py
"""

import argparse
import json
import statistics
import time

import keras
import numpy as np
from keras import ops

from rnn_tasks import layers as ln
from rnn_tasks.layers.base import centered_norm, layer_norm

SHAPES = {  # name: (batch, time, features, units)
    "small": (64, 100, 32, 128),
    "large": (128, 200, 256, 512),
}
KINDS = {  # kind: (our sequence layer, our cell, Keras's layer)
    "lstm": (ln.LayerNormLSTM, ln.LayerNormLSTMCell, keras.layers.LSTM),
    "gru": (ln.LayerNormGRU, ln.LayerNormGRUCell, keras.layers.GRU),
    "simple_rnn": (ln.LayerNormSimpleRNN, ln.LayerNormSimpleRNNCell, keras.layers.SimpleRNN),
}
NORMS = ("input", "recurrent", "state")


class AblationLSTMCell(keras.layers.Layer):
    """A Keras-order LSTM cell with any subset of the three normalizations.

    Args:
        units: size of `h` and `c`.
        norms: which of `NORMS` to apply.
        epsilon: the normalizations' epsilon.
    """

    def __init__(self, units, norms=(), epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.units, self.norms, self.epsilon = units, tuple(norms), epsilon
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        size = 4 * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], size), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, size), name="recurrent_kernel",
                                                initializer="orthogonal")
        self.bias = self.add_weight(shape=(size,), name="bias", initializer="zeros")
        self.gammas = {name: self.add_weight(shape=(self.units if name == "state" else size,),
                                             name=f"{name}_gamma", initializer="ones")
                       for name in self.norms}
        self.state_beta = self.add_weight(shape=(self.units,), name="state_beta",
                                          initializer="zeros")

    def projection(self, x, kernel, name):
        if name not in self.norms:
            return ops.matmul(x, kernel)
        # The kernel counts as centered: the sequence layers center it once
        # per sequence, outside the loop timed here.
        return centered_norm(ops.matmul(x, kernel), self.gammas[name], self.epsilon)

    def call(self, inputs, states):
        h, c = states
        z = (self.projection(inputs, self.kernel, "input")
             + self.projection(h, self.recurrent_kernel, "recurrent") + self.bias)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        shown = c
        if "state" in self.norms:
            shown = layer_norm(c, self.gammas["state"], self.state_beta, self.epsilon)
        h = ops.sigmoid(o) * ops.tanh(shown)
        return h, [h, c]


def build_model(recurrent_layer, time_steps, features, jit_compile):
    """A one-layer regression model around `recurrent_layer`."""
    model = keras.Sequential([
        keras.Input((time_steps, features)),
        recurrent_layer,
        keras.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    return model


def time_steps_ms(model, x, y, steps):
    """Milliseconds per training step, after the step has been compiled."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(loss)  # wait for the last step
    return 1000 * (time.perf_counter() - start) / steps


def median_ms(models, shape, steps, rounds):
    """Median ms per training step of each model, timed in alternating rounds.

    Args:
        models: name -> compiled model taking the `shape`'s batch.
        shape: a key of `SHAPES`.
        steps: training steps per round.
        rounds: rounds over all models.

    Returns:
        name -> median milliseconds per step.
    """
    batch, time_steps, features, _ = SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, time_steps, features)).astype("float32")
    y = rng.standard_normal((batch, 1)).astype("float32")
    for model in models.values():  # compile outside the timing
        model.train_on_batch(x, y)
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            times[name].append(time_steps_ms(model, x, y, steps))
    return {name: statistics.median(values) for name, values in times.items()}


def benchmark(shape, kind, steps, rounds, jit_compile):
    _, time_steps, features, units = SHAPES[shape]
    sequence_layer, cell, keras_layer = KINDS[kind]
    models = {
        "ours": build_model(sequence_layer(units), time_steps, features, jit_compile),
        "ours_precomputed": build_model(sequence_layer(units, precompute_inputs=True),
                                        time_steps, features, jit_compile),
        "cell": build_model(keras.layers.RNN(cell(units)), time_steps, features, jit_compile),
        "keras": build_model(keras_layer(units), time_steps, features, jit_compile),
    }
    ms = median_ms(models, shape, steps, rounds)
    return {
        "backend": keras.backend.backend(),
        "shape": shape,
        "batch_time_features_units": SHAPES[shape],
        "kind": kind,
        "jit_compile": jit_compile,
        "ms_per_step": {k: round(v, 2) for k, v in ms.items()},
        "ours_vs_keras": round(ms["keras"] / ms["ours"], 3),
        "ours_vs_cell": round(ms["cell"] / ms["ours"], 3),
        "ours_precomputed_vs_keras": round(ms["keras"] / ms["ours_precomputed"], 3),
    }


def norm_cost(shape, steps, rounds, jit_compile):
    """Training ms/step of an LSTM cell with each normalization on, and their cost."""
    _, time_steps, features, units = SHAPES[shape]
    variants = {"plain": (), **{name: (name,) for name in NORMS}, "all": NORMS}
    models = {
        name: build_model(keras.layers.RNN(AblationLSTMCell(units, norms)), time_steps,
                          features, jit_compile)
        for name, norms in variants.items()
    }
    models["keras_lstm"] = build_model(keras.layers.LSTM(units), time_steps, features,
                                       jit_compile)
    ms = median_ms(models, shape, steps, rounds)
    return {
        "backend": keras.backend.backend(),
        "shape": shape,
        "batch_time_features_units": SHAPES[shape],
        "ms_per_step": {k: round(v, 2) for k, v in ms.items()},
        "cost_vs_plain": {name: round(ms[name] / ms["plain"] - 1, 3)
                          for name in (*NORMS, "all")},
        "keras_lstm_vs_all": round(ms["keras_lstm"] / ms["all"], 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per round (default: 10 small, 2 large)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--norm-cost", action="store_true",
                        help="time each LSTM normalization instead (--kinds is ignored)")
    args = parser.parse_args()
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    for shape in args.shapes:
        steps = args.steps or (10 if shape == "small" else 2)
        if args.norm_cost:
            print(json.dumps(norm_cost(shape, steps, args.rounds, jit)), flush=True)
            continue
        for kind in args.kinds:
            print(json.dumps(benchmark(shape, kind, steps, args.rounds, jit)), flush=True)


if __name__ == "__main__":
    main()
