"""Layer normalization for the recurrent cells, with the gradient written out.

`layer_norm` is the textbook form. The cells use a cheaper one: the mean of
`x @ W` over its last axis is `x @ mean(W, axis=1)`, so with `W` centered
column-wise (`center_columns`), `x @ W_c` already has zero mean and its
layer normalization needs only the variance (`centered_norm`). Variables are
read into tensors once (`read_values`), before a time loop, not at every step.
"""

import keras
from keras import ops


def layer_norm(x, gamma, beta, epsilon):
    """Layer normalization over the last axis.

    Args:
        x: tensor `(..., n)`.
        gamma: scale `(n,)`.
        beta: offset `(n,)`, or `None` for no offset.
        epsilon: small float added to the variance.

    Returns:
        `gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta`.

    Example:
    >>> import numpy as np
    >>> y = layer_norm(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), 1e-6)
    >>> np.round(keras.ops.convert_to_numpy(y), 3).tolist()
    [[-1.0, 1.0]]
    """
    y = centered_norm(ops.subtract(x, ops.mean(x, axis=-1, keepdims=True)), gamma, epsilon)
    return y if beta is None else y + beta


def centered_norm(x, gamma, epsilon):
    """Layer normalization, without offset, of `x` whose mean is already 0.

    The gradient is written out (`d_x = s * (d_n - n * mean(d_n * n))`): in a
    time loop it takes half the operations automatic differentiation does.
    16-bit inputs are normalized in float32, as Keras's `LayerNormalization`
    does: their squares overflow float16 from about 256.
    """
    gamma = read_value(gamma)  # a custom gradient must not read variables itself
    wide = widened(x.dtype)

    @ops.custom_gradient
    def norm(x, gamma):
        x_wide, gamma_wide = ops.cast(x, wide), ops.cast(gamma, wide)
        scale = ops.rsqrt(ops.mean(ops.square(x_wide), axis=-1, keepdims=True) + epsilon)
        normed = x_wide * scale

        def grad(*args, upstream=None):
            d_y = ops.cast(args[0] if upstream is None else upstream, wide)
            d_normed = d_y * gamma_wide
            d_x = scale * (d_normed - normed * ops.mean(d_normed * normed, axis=-1, keepdims=True))
            d_gamma = ops.sum(ops.reshape(d_y * normed, (-1, normed.shape[-1])), axis=0)
            return ops.cast(d_x, x.dtype), ops.cast(d_gamma, gamma.dtype)

        return ops.cast(normed * gamma_wide, x.dtype), grad

    return norm(x, gamma)


def widened(dtype):
    """The dtype to compute statistics and scans in: float32 for 16-bit floats, else `dtype`.

    Example:
    >>> widened("float16"), widened("float64")
    ('float32', 'float64')
    """
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def center_columns(kernel):
    """`kernel` minus each row's mean, so `h @ center_columns(U)` has zero mean."""
    return kernel - ops.mean(kernel, axis=-1, keepdims=True)


def read_value(weight):
    """`weight` read into a tensor if it is a variable, else unchanged."""
    return ops.copy(weight) if isinstance(weight, keras.Variable) else weight


def read_values(weights):
    """`weights` with variables read into tensors: once before a loop, not per step."""
    return tuple(read_value(w) for w in weights)


def add_norm_weights(cell, prefix, size):
    """Creates `{prefix}_gamma` and `{prefix}_beta` on `cell`, both of shape `(size,)`, with
    the cell's `norm_gamma_initializer` and `norm_beta_initializer`."""
    gamma = cell.add_weight(
        shape=(size,), name=f"{prefix}_gamma", initializer=cell.norm_gamma_initializer
    )
    beta = cell.add_weight(
        shape=(size,), name=f"{prefix}_beta", initializer=cell.norm_beta_initializer
    )
    return gamma, beta
