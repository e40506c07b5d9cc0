"""Training speed and memory of the LayerNorm* sequence layers against Keras's layers.

For each shape, layer kind and dtype policy, these one-layer models are
trained on the same random batch, in the same process, in alternating rounds:

- `ours`: `LayerNormLSTM` (or GRU, SimpleRNN, ...), the sequence layer with
  its default `precompute_inputs="auto"` (per-step projection on a CPU, all
  steps at once on a GPU);
- `ours_precomputed`: the same with `precompute_inputs=True` (on a CPU only:
  on a GPU it is what `ours` does already);
- `cell`: `keras.layers.RNN(LayerNormLSTMCell)`, the same cell in Keras's loop;
- `keras`: `keras.layers.LSTM` (no normalization; cuDNN on a GPU, where Keras
  uses it);
- `torch`: on the PyTorch backend only, PyTorch's own `nn.LSTM` (`nn.GRU`,
  `nn.RNN`) with a linear head, trained with Adam (cuDNN on a GPU; under
  `torch.autocast` for a mixed policy).

Each round times `--steps` training steps of every model; the median over
rounds is reported. One JSON line per (shape, kind, policy) with milliseconds
per step, the throughput ratios `ours_vs_keras` (>= 0.9 is the target),
`ours_vs_cell`, `ours_vs_torch`, and `peak_mb`: the memory one training step
takes above what was in use before it (weights and optimizer slots are
before it). `memory` says how it was read: `rss` on a CPU (the rise of the
process's resident set, Linux's high-water mark reset before the step);
on a GPU the backend's own figures: `torch.cuda` and `tf.gpu` allocator
peaks, and on JAX `xla_plan`, the temporaries and outputs XLA plans for the
compiled step (`memory_analysis()`), since JAX's allocator peak cannot be
reset between models.

`--policies mixed_float16 mixed_bfloat16` adds rows in those dtype policies.
`--max-batch [POLICY ...]` (GPU only) also finds, for `ours` and `keras`, the
largest power-of-two multiple of the shape's batch that trains a step:
starting where one step's memory says it should fit, doubling or halving
until the device runs out of memory or stops doing so, for at most
`--max-batch-seconds` per search.

Kinds are looked up by name: a kind whose layer `rnn_tasks.layers` does not
have is left out of the default `--kinds`, so adding a row to `KINDS` is all
a new layer needs. `--time-budget` skips what would start after it (a line
`{"skipped": ...}` says what), so a caller with a deadline gets whole rows.

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
    python benchmarks/layers.py --shapes small --kinds lstm --policies mixed_bfloat16
    python benchmarks/layers.py --norm-cost --shapes small
    KERAS_BACKEND=jax python benchmarks/layers.py
    bash benchmarks/gpu.sh                           # JAX and PyTorch on a GPU
"""

import argparse
import contextlib
import ctypes
import gc
import inspect
import json
import math
import statistics
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from rnn_tasks import layers as ln
from rnn_tasks.cli import positive_int
from rnn_tasks.layers.norm import centered_norm, layer_norm

SHAPES = {  # name: (batch, time, features, units)
    "small": (64, 100, 32, 128),
    "large": (128, 200, 256, 512),
    "tiny": (4, 6, 3, 8),  # checks that this script runs; not a benchmark
}
DEFAULT_SHAPES = ("small", "large")
KINDS = {  # kind: our sequence layer, our cell (both in rnn_tasks.layers), Keras's layer, PyTorch's
    "lstm": ("LayerNormLSTM", "LayerNormLSTMCell", "LSTM", "LSTM"),
    "gru": ("LayerNormGRU", "LayerNormGRUCell", "GRU", "GRU"),
    "simple_rnn": ("LayerNormSimpleRNN", "LayerNormSimpleRNNCell", "SimpleRNN", "RNN"),
    "mingru": ("LayerNormMinGRU", "LayerNormMinGRUCell", "GRU", "GRU"),
    "minlstm": ("LayerNormMinLSTM", "LayerNormMinLSTMCell", "LSTM", "LSTM"),
}
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def available_kinds():
    """The kinds of `KINDS` whose sequence layer `rnn_tasks.layers` has."""
    return [kind for kind, (layer, *_) in KINDS.items() if hasattr(ln, layer)]


# Device and memory -------------------------------------------------------------


def device_name():
    """What the backend computes on: `"cpu"`, or the GPU's name."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else device.device_kind
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"


def memory_kind():
    """How `step_peak_mb` reads memory on this backend and device (see the docstring)."""
    if device_name() == "cpu":
        return "rss"
    return {"jax": "xla_plan", "torch": "torch.cuda", "tensorflow": "tf.gpu"}[keras.backend.backend()]


def mb(size_bytes):
    return round(size_bytes / 2**20, 1)


def step_peak_mb(step, model=None, data=None):
    """Megabytes one call of `step()` takes above what was in use before it.

    Args:
        step: runs one training step.
        model: the Keras model `step` trains (JAX on a GPU reads its plan).
        data: `(x, y)` of that step (likewise).

    Returns:
        A float, or `None` where this backend and device give no figure.
    """
    kind = memory_kind()
    if kind == "rss":
        return rss_rise_mb(step)
    if kind == "xla_plan":
        return None if model is None else xla_step_mb(model, data)
    if kind == "torch.cuda":
        import torch

        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        return mb(torch.cuda.max_memory_allocated() - before)
    import tensorflow as tf

    before = tf.config.experimental.get_memory_info("GPU:0")["current"]
    tf.config.experimental.reset_memory_stats("GPU:0")
    step()
    return mb(tf.config.experimental.get_memory_info("GPU:0")["peak"] - before)


def proc_status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_rise_mb(step):
    """Rise of this process's resident set during `step()`, or `None` off Linux."""
    try:
        ctypes.CDLL(None).malloc_trim(0)  # freed heap back to the system: the rise is this step's
    except (OSError, AttributeError):
        pass
    try:
        before = proc_status_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # high-water mark := current RSS
    except (OSError, KeyError):
        return None
    step()
    return mb(1024 * (proc_status_kb("VmHWM") - before))


def xla_step_mb(model, data):
    """Temporaries and outputs XLA plans for `model`'s training step, as Keras compiles it."""
    import jax

    state = tuple([v.value for v in variables] for variables in (
        model.trainable_variables, model.non_trainable_variables,
        model.optimizer.variables, model.metrics_variables))
    stats = (jax.jit(model.train_step, donate_argnums=0)
             .lower(state, data).compile().memory_analysis())
    return mb(stats.temp_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes)


def out_of_memory(error):
    """Whether `error` says the device ran out of memory (on any backend)."""
    text = f"{type(error).__name__}: {error}"
    return any(s in text for s in ("RESOURCE_EXHAUSTED", "out of memory", "OutOfMemory", "OOM"))


def free_memory():
    gc.collect()
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def one_line(error):
    """`error` as one short line, for the JSON output."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


# Models --------------------------------------------------------------------------


@contextlib.contextmanager
def dtype_policy(name):
    """Layers built inside take the dtype policy `name`."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(recurrent_layer, time_steps, features, jit_compile):
    """A one-layer regression model around `recurrent_layer`."""
    model = keras.Sequential([
        keras.Input((time_steps, features)),
        recurrent_layer,
        keras.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    return model


def layer_makers(kind, units, on_gpu):
    """name -> function building that model's recurrent layer, for the models this kind has."""
    layer_name, cell_name, keras_name, _ = KINDS[kind]
    layer = getattr(ln, layer_name)
    makers = {"ours": lambda: layer(units)}
    if not on_gpu and "precompute_inputs" in inspect.signature(layer).parameters:
        makers["ours_precomputed"] = lambda: layer(units, precompute_inputs=True)
    if hasattr(ln, cell_name):
        makers["cell"] = lambda: keras.layers.RNN(getattr(ln, cell_name)(units))
    makers["keras"] = lambda: getattr(keras.layers, keras_name)(units)
    return makers


def random_batch(batch, time_steps, features):
    """`(x, y)` as tensors of the backend, on its device, from a fixed seed."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, time_steps, features)).astype("float32")
    y = rng.standard_normal((batch, 1)).astype("float32")
    return ops.convert_to_tensor(x), ops.convert_to_tensor(y)


def keras_trainer(make_layer, shape, policy, jit_compile, data):
    """`(step, model)`: one training step of the model around `make_layer()`."""
    _, time_steps, features, _ = SHAPES[shape]
    with dtype_policy(policy):
        model = build_model(make_layer(), time_steps, features, jit_compile)
    x, y = data
    return (lambda: model.train_on_batch(x, y)), model


def torch_trainer(kind, shape, policy, data):
    """`(step, None)`: a training step of PyTorch's own layer (cuDNN on a GPU).

    `nn.LSTM`/`nn.GRU`/`nn.RNN` and a linear head on the last output, Adam,
    mean squared error; a mixed policy runs under `torch.autocast` in its
    16-bit type. Each step returns the loss as a float, as `train_on_batch`
    does, so both wait for the device.
    """
    import torch

    _, _, features, units = SHAPES[shape]
    x, y = data
    rnn = getattr(torch.nn, KINDS[kind][3])(features, units, batch_first=True).to(x.device)
    head = torch.nn.Linear(units, 1).to(x.device)
    optimizer = torch.optim.Adam([*rnn.parameters(), *head.parameters()])
    half = {"mixed_float16": torch.float16, "mixed_bfloat16": torch.bfloat16}.get(policy)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=half, enabled=half is not None):
            outputs, _ = rnn(x)
            loss = torch.nn.functional.mse_loss(head(outputs[:, -1]).float(), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, None


def trainers(kind, shape, policy, jit_compile, data):
    """name -> `(step, model)` for every model of a row, and name -> error for those that failed to build."""
    on_gpu = device_name() != "cpu"
    built, errors = {}, {}
    makers = {name: (lambda make=make: keras_trainer(make, shape, policy, jit_compile, data))
              for name, make in layer_makers(kind, SHAPES[shape][3], on_gpu).items()}
    if keras.backend.backend() == "torch":
        makers["torch"] = lambda: torch_trainer(kind, shape, policy, data)
    for name, make in makers.items():
        try:
            built[name] = make()
        except Exception as error:  # noqa: BLE001 - one model failing must not lose the row
            errors[name] = one_line(error)
    return built, errors


# Timing ----------------------------------------------------------------------


def time_steps_ms(step, steps):
    """Milliseconds per training step; `step()` returns the loss as a number."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    float(loss)  # wait for the last step
    return 1000 * (time.perf_counter() - start) / steps


def measure(built, steps, rounds, data, memory=True):
    """Median ms per step and step memory of each model, timed in alternating rounds.

    Args:
        built: name -> `(step, model)`.
        steps: training steps per round.
        rounds: rounds over all models.
        data: the `(x, y)` the steps train on.
        memory: also measure `step_peak_mb` (one more step each). Default: True.

    Returns:
        `(ms, peak_mb, errors)`, each a dict by name; a model that fails
        its first step is in `errors` only.
    """
    errors, live = {}, {}
    for name, (step, model) in built.items():  # compile outside the timing
        try:
            step()
            live[name] = (step, model)
        except Exception as error:  # noqa: BLE001
            errors[name] = one_line(error)
    peak = {}
    for name, (step, model) in live.items():
        try:
            peak[name] = step_peak_mb(step, model, data) if memory else None
        except Exception as error:  # noqa: BLE001 - the times are still worth having
            peak[name] = None
            errors[f"{name} (memory)"] = one_line(error)
    times = {name: [] for name in live}
    for _ in range(rounds):
        for name, (step, _) in live.items():
            times[name].append(time_steps_ms(step, steps))
    return {name: statistics.median(values) for name, values in times.items()}, peak, errors


def ratios(ms):
    """Throughput ratios of `ours` against each baseline that ran."""
    pairs = {"ours_vs_keras": ("keras", "ours"), "ours_vs_cell": ("cell", "ours"),
             "ours_vs_torch": ("torch", "ours"),
             "ours_precomputed_vs_keras": ("keras", "ours_precomputed")}
    return {key: round(ms[base] / ms[ours], 3)
            for key, (base, ours) in pairs.items() if base in ms and ours in ms}


def row_header(shape, kind, policy, jit_compile):
    return {
        "backend": keras.backend.backend(),
        "device": device_name(),
        "shape": shape,
        "batch_time_features_units": SHAPES[shape],
        "kind": kind,
        "policy": policy,
        "jit_compile": jit_compile,
    }


def benchmark(shape, kind, steps, rounds, jit_compile, policy="float32"):
    """One row: every model of `kind` at `shape` in `policy`, timed and measured."""
    batch, time_steps, features, _ = SHAPES[shape]
    data = random_batch(batch, time_steps, features)
    built, errors = trainers(kind, shape, policy, jit_compile, data)
    ms, peak, step_errors = measure(built, steps, rounds, data)
    row = {
        **row_header(shape, kind, policy, jit_compile),
        "ms_per_step": {k: round(v, 2) for k, v in ms.items()},
        **ratios(ms),
        "memory": memory_kind(),
        "peak_mb": peak,
    }
    if errors or step_errors:
        row["errors"] = {**errors, **step_errors}
    return row


def device_free_bytes():
    """Bytes the backend can still allocate on its GPU, or `None` where it does not say."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None
        cached = torch.cuda.memory_reserved() - torch.cuda.memory_allocated()
        return torch.cuda.mem_get_info()[0] + cached
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return stats.get("bytes_limit", 0) - stats.get("bytes_in_use", 0) or None
    return None


def first_guess(trainer, shape):
    """The shape's batch times the power of two that its step memory says should just fit."""
    batch, time_steps, features, _ = SHAPES[shape]
    data = random_batch(batch, time_steps, features)
    step, model = trainer(data)
    step()
    step_mb = step_peak_mb(step, model, data)
    free = device_free_bytes()
    if not step_mb or not free:
        return batch
    per_batch = step_mb * 2**20 + batch * time_steps * features * 4  # the step, and its inputs
    return batch * 2 ** max(0, int(math.log2(free / per_batch)))


def fits(trainer, size, shape):
    """Whether a training step at batch `size` fits in the device's memory."""
    _, time_steps, features, _ = SHAPES[shape]
    try:
        x = keras.random.normal((size, time_steps, features), seed=0)
        step, _ = trainer((x, ops.zeros((size, 1))))
        float(step())
        return True
    except Exception as error:  # noqa: BLE001
        if not out_of_memory(error):
            raise
        return False
    finally:
        x = step = None
        free_memory()


def largest_batch(trainer, shape, seconds):
    """The largest power-of-two multiple of the shape's batch whose training step fits.

    The shape's own batch fits (`first_guess` trains it); the search starts
    where that step's memory says a batch should just fit, doubles until a
    step runs out of memory, then bisects the power of two in between.

    Args:
        trainer: batch data `(x, y)` -> `(step, model)`.
        shape: a key of `SHAPES`.
        seconds: no new try after this long.

    Returns:
        `{"largest": batch that fit, "smallest_failing": batch that ran out
        of memory or None, "tries": n, "stopped_by": "search" | "time" | an
        error line}`.
    """
    base, start = SHAPES[shape][0], time.monotonic()
    found = {"largest": None, "smallest_failing": None, "tries": 0, "stopped_by": "search"}
    try:
        size = max(first_guess(trainer, shape), 2 * base)
        found["largest"] = base
        while True:
            found["tries"] += 1
            if fits(trainer, size, shape):
                found["largest"] = size
            else:
                found["smallest_failing"] = size
            low, high = found["largest"], found["smallest_failing"]
            if high is not None and high <= 2 * low:
                return found
            if time.monotonic() - start > seconds:
                found["stopped_by"] = "time"
                return found
            size = 2 * low if high is None else low * 2 ** (int(math.log2(high // low)) // 2)
    except Exception as error:  # noqa: BLE001
        found["stopped_by"] = one_line(error)
        return found


def max_batch(shape, kind, policy, jit_compile, seconds):
    """Largest batch of `ours` and `keras` (GPU only: on a CPU it is the RAM's size)."""
    makers = layer_makers(kind, SHAPES[shape][3], on_gpu=True)
    found = {
        name: largest_batch(
            lambda data, make=makers[name]: keras_trainer(make, shape, policy, jit_compile, data),
            shape, seconds)
        for name in ("ours", "keras")
    }
    row = {**row_header(shape, kind, policy, jit_compile), "largest_batch": found}
    if found["ours"]["largest"] and found["keras"]["largest"]:
        row["ours_vs_keras_batch"] = round(found["ours"]["largest"] / found["keras"]["largest"], 3)
    return row


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


def norm_cost(shape, steps, rounds, jit_compile):
    """Training ms/step of an LSTM cell with each normalization on, and their cost."""
    batch, time_steps, features, units = SHAPES[shape]
    data = random_batch(batch, time_steps, features)
    variants = {"plain": (), **{name: (name,) for name in NORMS}, "all": NORMS}
    makers = {name: (lambda norms=norms: keras.layers.RNN(AblationLSTMCell(units, norms)))
              for name, norms in variants.items()}
    makers["keras_lstm"] = lambda: keras.layers.LSTM(units)
    built = {name: keras_trainer(make, shape, "float32", jit_compile, data)
             for name, make in makers.items()}
    ms, _, _ = measure(built, steps, rounds, data, memory=False)
    return {
        "backend": keras.backend.backend(),
        "shape": shape,
        "batch_time_features_units": SHAPES[shape],
        "ms_per_step": {k: round(v, 2) for k, v in ms.items()},
        "cost_vs_plain": {name: round(ms[name] / ms["plain"] - 1, 3)
                          for name in (*NORMS, "all")},
        "keras_lstm_vs_all": round(ms["keras_lstm"] / ms["all"], 3),
    }


def work(args, jit_compile):
    """`(label, function returning one JSON row)` in the order they run."""
    items = []
    for policy in args.policies:
        for shape in args.shapes:
            steps = args.steps or (10 if shape != "large" else 2)
            if args.norm_cost:
                if policy == "float32":
                    items.append((f"norm_cost {shape}",
                                  lambda s=shape, n=steps: norm_cost(s, n, args.rounds, jit_compile)))
                continue
            for kind in args.kinds:
                items.append((f"{shape} {kind} {policy}",
                              lambda s=shape, k=kind, p=policy, n=steps:
                              benchmark(s, k, n, args.rounds, jit_compile, p)))
    if args.max_batch is not None:
        for policy in args.max_batch or args.policies:
            for kind in args.kinds:
                items.append((f"max_batch {args.max_batch_shape} {kind} {policy}",
                              lambda k=kind, p=policy: max_batch(
                                  args.max_batch_shape, k, p, jit_compile, args.max_batch_seconds)))
    return items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(DEFAULT_SHAPES), choices=list(SHAPES))
    parser.add_argument("--kinds", nargs="+", default=available_kinds(), choices=list(KINDS),
                        help="default: every kind whose layer rnn_tasks.layers has")
    parser.add_argument("--policies", nargs="+", default=["float32"], choices=POLICIES,
                        help="dtype policies, one row each (default: float32)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="steps per round (default: 10, 2 at the large shape)")
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--max-batch", nargs="*", choices=POLICIES, default=None,
                        metavar="POLICY",
                        help="also search the largest batch that fits, in these policies "
                             "(none named: --policies; GPU only)")
    parser.add_argument("--max-batch-shape", default="large", choices=list(SHAPES))
    parser.add_argument("--max-batch-seconds", type=float, default=60.0,
                        help="time for each largest-batch search (default: 60)")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds; what would start later is skipped, one line each")
    parser.add_argument("--norm-cost", action="store_true",
                        help="time each LSTM normalization instead (--kinds is ignored)")
    args = parser.parse_args()
    missing = [kind for kind in args.kinds if kind not in available_kinds()]
    if missing:
        parser.error(f"rnn_tasks.layers has no layer for --kinds {' '.join(missing)}")
    if args.max_batch is not None and device_name() == "cpu":
        print(json.dumps({"skipped": "max_batch", "reason": "no GPU: on a CPU the "
                          "largest batch is the machine's memory, not the layer's"}), flush=True)
        args.max_batch = None
    jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    budget = float("inf") if args.time_budget is None else args.time_budget
    deadline = time.monotonic() + budget
    for label, run in work(args, jit_compile):
        if time.monotonic() > deadline:
            print(json.dumps({"skipped": label, "reason": "time budget"}), flush=True)
            continue
        print(json.dumps(run()), flush=True)


if __name__ == "__main__":
    main()
