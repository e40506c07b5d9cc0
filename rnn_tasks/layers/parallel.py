"""Recurrences that train in parallel over time: the base of minGRU and minLSTM.

Feng et al. 2024 ("Were RNNs All We Needed?", arXiv 2410.01201) drop the
hidden state from the gates of the GRU and the LSTM. What is left is a
linear recurrence whose coefficients depend on the inputs alone:

    h_t = a_t * h_{t-1} + b_t,    a_t, b_t = f(x_t)

Its composition is associative, `(a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)`,
so a parallel scan computes all steps in O(log T) depth (`linear_scan`). Starting from zero state it yields, for every step, the
product of the coefficients `A_t` and the state `H_t`; the state from an
initial `h0` is then `A_t * h0 + H_t`, for `h0` of any sign.

`log_space=True` is the paper's numerically stable form for long
sequences: the candidate passes through `g(x) = x + 0.5 (x >= 0), sigmoid(x)
(x < 0)`, which keeps states positive, and the scan runs on `(log a, log b)`
with `logaddexp` (`log_linear_scan`). Both forms run on core ops of every
backend, so an exported SavedModel serves them in stock TF Serving.

`ParallelCell` holds the weights and computes one step (`call`, for
`keras.layers.RNN(cell)` and step-by-step decoding); `ParallelRNN` runs the
same equations over a whole sequence with the scan. A masked step keeps the
state (`a_t = 1, b_t = 0`) and, as in Keras's loop, repeats the previous
output (zero before the first unmasked step).
"""

from keras import ops

from rnn_tasks.layers.arguments import check_bool, check_normalized_units
from rnn_tasks.layers.base import CellSequenceLayer, backend
from rnn_tasks.layers.cell import NormCell
from rnn_tasks.layers.norm import (add_norm_weights, center_columns, centered_norm, layer_norm,
                                   widened)

# `log b` of a masked step: exp() of it is exactly 0 in float32, and unlike
# -inf it keeps the gradients of `logaddexp` finite.
MASKED_LOG = -1e4
CHUNK = 8  # steps scanned together: the fastest on CPU of 4-32 (README, benchmarks)


def linear_scan(a, b):
    """All steps of `h_t = a_t * h_{t-1} + b_t` from `h_{-1} = 0`, in parallel.

    Args:
        a: coefficients `(batch, time, ...)`.
        b: offsets, the shape of `a`.

    Returns:
        `(A, H)`: `A_t` the product of `a` up to step t, `H_t` the state.

    Example:
    >>> import numpy as np
    >>> A, H = linear_scan(np.array([[0.5, 0.5, 2.0]]), np.array([[1.0, 1.0, 1.0]]))
    >>> ops.convert_to_numpy(A).tolist(), ops.convert_to_numpy(H).tolist()
    ([[0.5, 0.25, 0.5]], [[1.0, 1.5, 4.0]])
    """
    def combine(earlier, later):
        (a1, b1), (a2, b2) = earlier, later
        return a1 * a2, a2 * b1 + b2

    return scan(combine, (a, b), identity=(1.0, 0.0))


def log_linear_scan(log_a, log_b):
    """`linear_scan` in log space, for positive `a` and `b`.

    Args:
        log_a: `log a`, `(batch, time, ...)`.
        log_b: `log b`, the shape of `log_a`.

    Returns:
        `(log A, log H)`, as `linear_scan`'s outputs.

    Example:
    >>> import numpy as np
    >>> log_A, log_H = log_linear_scan(np.log([[0.5, 0.5]]), np.log([[1.0, 1.0]]))
    >>> np.exp(ops.convert_to_numpy(log_H)).round(6).tolist()
    [[1.0, 1.5]]
    """
    def combine(earlier, later):
        (la1, lb1), (la2, lb2) = earlier, later
        return la1 + la2, ops.logaddexp(la2 + lb1, lb2)

    return scan(combine, (log_a, log_b), identity=(0.0, MASKED_LOG))


def scan(combine, elems, identity, chunk=CHUNK):
    """Inclusive scan of `elems` along axis 1 with the associative `combine`.

    In two passes, both short: the sequence is cut into chunks of `chunk`
    steps (the last one padded with `identity`), all chunks are scanned
    together by `chunk` combines of `(batch, chunks, ...)` slices, and
    Keras's recurrent loop carries each chunk's total into the next, one
    combine per chunk. The work is linear in the length (a Hillis-Steele
    scan's is `log2(T)` times more), XLA compiles it and every backend
    differentiates it at any length, also one unknown when traced (Keras's
    `ops.associative_scan` does not compile with XLA on TensorFlow, nor
    `ops.scan` at an unknown length).

    Args:
        combine: `(earlier, later) -> combined`, on tuples like `elems`.
        elems: tuple of tensors `(batch, time, ...)`.
        identity: one scalar per tensor, the value `combine` leaves unchanged.
        chunk: steps per chunk. Default: `CHUNK`.

    Returns:
        A tuple like `elems`: step t combines steps 0..t.
    """
    elems = tuple(ops.convert_to_tensor(e) for e in elems)
    if len(elems[0].shape) == 2:  # (batch, time): one feature
        scanned = scan(combine, tuple(e[..., None] for e in elems), identity, chunk)
        return tuple(s[..., 0] for s in scanned)
    rest = tuple(elems[0].shape[2:])
    length = ops.shape(elems[0])[1]
    # The chunk count explicit, not -1: JAX's export (jax2tf) cannot prove that a
    # symbolic `length + (-length) % chunk` divides by `chunk`.
    count = (length + chunk - 1) // chunk
    padding = [[0, 0], [0, count * chunk - length]] + [[0, 0]] * len(rest)
    chunks = tuple(ops.reshape(ops.pad(e, padding, constant_values=i),
                               (ops.shape(e)[0], count, chunk) + rest)
                   for e, i in zip(elems, identity))  # (B, n, C, ...)
    steps = list(zip(*(ops.unstack(c, num=chunk, axis=2) for c in chunks)))
    within = [steps[0]]
    for step in steps[1:]:
        within.append(combine(within[-1], step))

    # Each chunk's total carried into the next.
    width = rest[-1]
    totals = ops.concatenate(within[-1], axis=-1)  # (B, n, ..., 2 * width)

    def carry_in(total, states):
        before = ops.split(states[0], len(elems), axis=-1)
        after = ops.concatenate(combine(before, ops.split(total, len(elems), axis=-1)), axis=-1)
        return states[0], [after]

    start = ops.concatenate([ops.full_like(totals[:, 0, ..., :width], i) for i in identity], -1)
    _, before, _ = backend.rnn(carry_in, totals, [start])
    before = tuple(ops.expand_dims(b, 2) for b in ops.split(before, len(elems), axis=-1))
    scanned = combine(before, tuple(ops.stack(parts, axis=2) for parts in zip(*within)))
    return tuple(ops.reshape(s, (ops.shape(s)[0], count * chunk) + rest)[:, :length]
                 for s in scanned)


def log_g(x):
    """`log g(x)` for the paper's positive candidate `g`: `x + 0.5` or `sigmoid(x)`."""
    return ops.where(x >= 0, ops.log(ops.relu(x) + 0.5), -ops.softplus(-x))


class ParallelCell(NormCell):
    """Base class of the parallel cells: arguments, weights, one step, config.

    Takes `NormCell`'s arguments, `log_space` and `output_norm`. The inputs
    are projected and layer-normalized in one matrix product
    (`LN(x @ kernel) + bias`, the normalization over all `gates * units`
    columns as in the other cells); subclasses set `gates` and split the
    projection into the recurrence's coefficients in `coefficients`.
    """

    gates = 2
    recurrent_dropout = 0.0  # no recurrent weights: nothing to drop

    def __init__(self, units, log_space=False, output_norm=False, **kwargs):
        super().__init__(units, **kwargs)
        self.log_space = check_bool("log_space", log_space)
        self.output_norm = check_bool("output_norm", output_norm)
        if self.output_norm:
            check_normalized_units(self.units, "the output (`output_norm=True`)",
                                   allowed="use units >= 2 or output_norm=False")

    def build(self, input_shape):
        size = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], size), name="kernel", initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(size,), name="bias", initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.kernel_norm_gamma, self.kernel_norm_beta = add_norm_weights(self, "kernel_norm", size)
        if self.output_norm:
            self.output_norm_gamma, self.output_norm_beta = add_norm_weights(
                self, "output_norm", self.units)

    def project(self, inputs):
        """`LN(inputs @ kernel) + bias`: `(..., features)` -> `(..., gates * units)`."""
        offset = self.kernel_norm_beta
        if self.bias is not None:
            offset = offset + self.bias
        projected = ops.matmul(inputs, center_columns(self.kernel))
        return centered_norm(projected, self.kernel_norm_gamma, self.norm_epsilon) + offset

    def coefficients(self, projected):
        """`(a, b)` of the recurrence, or `(log a, log b)` with `log_space`."""
        raise NotImplementedError

    def candidate_log(self, candidate):
        """`log g(candidate)`: the log of the positive candidate of the log-space form."""
        return log_g(candidate)

    def output(self, states):
        """What a step outputs from its state `(..., units)`: the state, or its LN."""
        if not self.output_norm:
            return states
        return layer_norm(states, self.output_norm_gamma, self.output_norm_beta,
                          self.norm_epsilon)

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        h = states[0] if nested else states
        dropout_mask = self.get_dropout_mask(inputs)
        if training and dropout_mask is not None:
            inputs = inputs * dropout_mask
        a, b = self.coefficients(self.project(inputs))
        if self.log_space:
            a, b = ops.exp(a), ops.exp(b)
        h = a * h + b
        return self.output(h), [h] if nested else h

    def get_config(self):
        config = {"log_space": self.log_space, "output_norm": self.output_norm}
        return {**super().get_config(), **config}


class ParallelRNN(CellSequenceLayer):
    """Base class of the parallel sequence layers: one scan instead of a loop.

    Takes `units`, every argument of its cell (`cell_class`) and those of
    `keras.layers.RNN` except `unroll` (there is no loop to unroll). The
    projection runs once over the sequence; the scan runs in float32 under
    mixed precision (in float64 for a float64 layer).
    """

    def __init__(self, units, **kwargs):
        if kwargs.pop("unroll", False):
            raise ValueError("Received an invalid value for argument `unroll`, expected False "
                             "(a parallel layer has no loop to unroll), got True.")
        super().__init__(units, unroll=False, **kwargs)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        cell = self.cell
        dropout_mask = cell.get_dropout_mask(sequences[:, 0, :])
        if training and dropout_mask is not None:
            sequences = sequences * ops.expand_dims(dropout_mask, 1)
        if self.go_backwards:
            sequences = ops.flip(sequences, axis=1)
            mask = None if mask is None else ops.flip(mask, axis=1)
        wide = widened(cell.compute_dtype)
        a, b = (ops.cast(c, wide) for c in cell.coefficients(cell.project(sequences)))
        h0 = ops.expand_dims(ops.cast(initial_state[0], wide), 1)  # (B, 1, U)
        if mask is not None:
            keep = ops.expand_dims(ops.cast(mask, "bool"), -1)  # (B, T, 1)
            a = ops.where(keep, a, 0.0 if cell.log_space else 1.0)
            b = ops.where(keep, b, MASKED_LOG if cell.log_space else 0.0)
        if cell.log_space:
            log_products, log_states = log_linear_scan(a, b)
            states = ops.exp(log_products) * h0 + ops.exp(log_states)
        else:
            products, states = linear_scan(a, b)
            states = products * h0 + states  # (B, T, U)
        outputs = cell.output(ops.cast(states, cell.compute_dtype))
        if mask is not None:
            # As Keras's loop: a masked step repeats the previous output, and
            # before the first unmasked step that is zero.
            shown = keep if self.zero_output_for_mask else ops.cumsum(
                ops.cast(keep, "int32"), axis=1) > 0
            outputs = ops.where(shown, outputs, ops.zeros_like(outputs))
        return outputs[:, -1], outputs, [states[:, -1]]

    def get_config(self):
        config = super().get_config()
        del config["unroll"]
        return config
