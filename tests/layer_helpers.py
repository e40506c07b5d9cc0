"""What the layer tests share: weights, NumPy conversion, gradients on every backend."""

import os
import subprocess
import sys

import keras
import numpy as np
from keras import ops

EPS = 1e-3
RANDOM_NORM = {
    "norm_gamma_initializer": keras.initializers.RandomUniform(0.5, 1.5, seed=1),
    "norm_beta_initializer": keras.initializers.RandomNormal(0.0, 0.2, seed=2),
    "bias_initializer": keras.initializers.RandomNormal(0.0, 0.2, seed=3),
}


def numpy(x):
    return ops.convert_to_numpy(x).astype("float64")


def weights_by_name(layer):
    return {w.name: numpy(w) for w in layer.weights}


def backend_gradients(function, *args):
    """Gradients of `function(*args)` (a scalar) for every argument, as NumPy arrays."""
    if keras.backend.backend() == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(function, argnums=range(len(args)))(*args)]
    if keras.backend.backend() == "torch":
        import torch

        args = [ops.convert_to_tensor(a).requires_grad_() for a in args]
        return [ops.convert_to_numpy(g) for g in torch.autograd.grad(function(*args), args)]
    import tensorflow as tf

    args = [tf.constant(a) for a in args]
    with tf.GradientTape() as tape:
        tape.watch(args)
        value = function(*args)
    return [g.numpy() for g in tape.gradient(value, args)]


def loss_gradient(layer, x, mask=None):
    """d sum(layer(x)^2) / d kernel, through the backend's autodiff."""
    kernel = layer.cell.kernel

    def loss(kernel_value):
        trainable = [kernel_value if v is kernel else v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]
        out, _ = layer.stateless_call(trainable, fixed, x, mask=mask)
        return ops.sum(out ** 2)

    return backend_gradients(loss, numpy(kernel))[0]


def assert_loads_in_fresh_process(model, x, tmp_path):
    """`model` saved as .keras, loaded with `safe_mode` in a new Python process (which imports
    only `rnn_tasks.layers`), gives the same outputs on `x`."""
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", numpy(model(x)))
    code = (
        "import numpy as np, keras, rnn_tasks.layers;"
        f"m = keras.saving.load_model(r'{tmp_path / 'm.keras'}', safe_mode=True);"
        f"y = keras.ops.convert_to_numpy(m(np.load(r'{tmp_path / 'x.npy'}')));"
        f"np.testing.assert_allclose(y, np.load(r'{tmp_path / 'y.npy'}'), atol=1e-6)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def finite_difference_gradient(layer, x, step=3e-3):
    """d sum(layer(x)^2) / d kernel by five-point central differences in float32 (JAX has
    no float64 by default); their O(step**4) truncation lets a step of 3e-3 keep the float32
    rounding of the loss small too. The kernel is restored afterwards."""
    kernel = layer.cell.kernel
    start = numpy(kernel)
    numeric = np.zeros_like(start)
    for index in np.ndindex(start.shape):
        values = {}
        for k in (2, 1, -1, -2):
            shifted = start.copy()
            shifted[index] += k * step
            kernel.assign(shifted)
            values[k] = (numpy(layer(x)) ** 2).sum()
        numeric[index] = (-values[2] + 8 * values[1] - 8 * values[-1] + values[-2]) / (12 * step)
    kernel.assign(start)
    return numeric


def gram_slots(row, vocabulary_size, order, buckets):
    """The table slot of each n-gram of `row` without padding, one by one."""
    for n in range(1, order + 1):
        for start in range(len(row) - n + 1):
            gram = row[start:start + n]
            if min(gram) == 0:
                continue
            code = int(gram[0])
            for token in gram[1:]:
                code = (code * vocabulary_size + int(token)) % buckets
            yield code if n == 1 else vocabulary_size + code


def numpy_naive_bayes(tokens, labels, vocabulary_size, order, buckets, smoothing):
    """Log-count ratios by counting each text's n-grams one by one (Wang & Manning 2012)."""
    counts = {0: {}, 1: {}}
    for row, label in zip(tokens, labels):
        for slot in gram_slots(row, vocabulary_size, order, buckets):
            counts[label][slot] = counts[label].get(slot, 0) + 1
    seen = set(counts[0]) | set(counts[1])
    totals = {label: sum(counts[label].get(s, 0) + smoothing for s in seen) for label in (0, 1)}
    table = np.zeros(vocabulary_size + buckets)
    for slot in seen:
        share = {label: (counts[label].get(slot, 0) + smoothing) / totals[label] for label in (0, 1)}
        table[slot] = np.log(share[1] / share[0])
    return table
