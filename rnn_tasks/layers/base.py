"""What the three layer-normalized cells and their sequence layers share.

A cell splits one time step into two halves:

- `project_inputs(inputs, weights)`: everything that depends only on the
  inputs (the input projection, its layer normalization and the constant
  offsets). It works on a single step `(batch, features)` or a whole
  sequence `(batch, time, features)`.
- `step(projected, states, weights, recurrent_mask, zoneout_mask)`: the
  recurrent half, the only work that must run inside the time loop.

Both take their weights prepared once per call (`input_weights()`,
`step_weights()`): kernels centered, offsets summed. `cell.call` runs both
halves for one step, so `keras.layers.RNN(cell)` works as usual. The
sequence layers (`LayerNormRNN` subclasses) prepare the weights once per
sequence and, with `precompute_inputs`, run `project_inputs` once over the
whole sequence and loop over `step` alone.

Both halves use a centering identity to keep the loop short (`norm`): the
mean of `x @ W` over its last axis is `x @ mean(W, axis=1)`, so with `W`
centered column-wise (`center_columns`), `x @ W_c` already has zero mean and
its layer normalization needs only the variance (`centered_norm`).
"""

import inspect

import keras
import numpy as np
from keras import activations, constraints, initializers, ops, regularizers
from keras.src import backend

from rnn_tasks.layers.arguments import check_rate
from rnn_tasks.layers.cell import NormCell
from rnn_tasks.layers.device import on_accelerator
from rnn_tasks.layers.norm import centered_norm, read_values


def traced_by_jax(tensor):
    """Whether `tensor` is a JAX tracer (inside `jit`, `grad` or a `lax.scan` body)."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    return isinstance(tensor, jax.core.Tracer)


class LayerNormCell(NormCell):
    """Base class of the layer-normalized cells: recurrent arguments, weights, config.

    Takes `NormCell`'s arguments and those of the recurrent kernel.
    Subclasses set `gates` (projections per unit: 1, 4 or 3) and implement
    `input_weights`, `project_inputs`, `step_weights` and `step`.
    """

    gates = 1

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_initializer="orthogonal",
        recurrent_regularizer=None,
        recurrent_constraint=None,
        recurrent_dropout=0.0,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.activation = activations.get(activation)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)

    # Weights -------------------------------------------------------------

    def build(self, input_shape):
        size = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], size),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, size),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.bias_initializer_for_build(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.build_norms()

    def bias_shape(self):
        return (self.gates * self.units,)

    def bias_initializer_for_build(self):
        return self.bias_initializer

    def build_norms(self):
        raise NotImplementedError

    # One time step ---------------------------------------------------------

    zoneout = 0.0  # the LSTM and GRU cells take it as an argument

    def zoneout_units(self):
        """Width of the zoneout mask one step needs (0: no zoneout)."""
        return 0

    def input_weights(self):
        raise NotImplementedError

    def project_inputs(self, inputs, weights):
        """`LN(inputs @ kernel) + offset` from `(centered kernel, gamma, offset)`."""
        kernel, gamma, offset = weights
        return centered_norm(ops.matmul(inputs, kernel), gamma, self.norm_epsilon) + offset

    def step_weights(self):
        raise NotImplementedError

    def step(self, projected, states, weights, recurrent_mask, zoneout_mask):
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        states = list(states) if nested else [states]
        dropout_mask = self.get_dropout_mask(inputs)
        if training and dropout_mask is not None:
            inputs = inputs * dropout_mask
        recurrent_mask = self.get_recurrent_dropout_mask(states[0]) if training else None
        if training and self.zoneout_units() and traced_by_jax(inputs):
            raise ValueError(
                f"{type(self).__name__}(zoneout={self.zoneout}) cannot draw a zoneout mask per "
                "step inside a JAX loop (keras.layers.RNN's scan would reuse one mask, or fail "
                f"under fit); use the sequence layer, {type(self).__name__.removesuffix('Cell')}"
                "(units, zoneout=...), which draws every step's mask before its loop.")
        zoneout_mask = self.zoneout_mask(ops.shape(inputs)[:1], training)
        output, new_states = self.step(
            self.project_inputs(inputs, self.input_weights()),
            states,
            self.step_weights(),
            recurrent_mask,
            zoneout_mask,
        )
        return output, new_states if nested or len(new_states) > 1 else new_states[0]

    def zoneout_mask(self, leading_shape, training):
        """Zoneout keep-mask: Bernoulli(zoneout) in training, its mean otherwise.

        Args:
            leading_shape: shape before the unit axis, `(batch,)` for one
                step or `(batch, time)` for a sequence.
            training: whether to sample.

        Returns:
            `None` without zoneout, a float scalar at inference, else a
            0/1 tensor of shape `leading_shape + (zoneout_units,)`.
        """
        if not self.zoneout_units():
            return None
        if not training:
            return self.zoneout
        shape = tuple(leading_shape) + (self.zoneout_units(),)
        noise = keras.random.uniform(shape, seed=self.seed_generator)
        return ops.cast(noise < self.zoneout, self.compute_dtype)

    # Config ----------------------------------------------------------------

    def get_config(self):
        config = {
            "activation": activations.serialize(self.activation),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "recurrent_dropout": self.recurrent_dropout,
        }
        return {**super().get_config(), **config}


def zone_out(previous, new, keep_mask):
    """`keep * previous + (1 - keep) * new`; `new` unchanged when `keep_mask` is None."""
    if keep_mask is None:
        return new
    return keep_mask * previous + (1.0 - keep_mask) * new


def check_initial_state(layer, initial_state, state_size, batch=None):
    """Raises a `ValueError` naming what `layer` takes unless `initial_state` is one
    `(batch, units)` tensor per state (Keras's own layers fail inside the loop).

    Args:
        layer: the layer's name, for the message.
        initial_state: the `initial_state` call argument.
        state_size: the cell's `state_size`.
        batch: the inputs' batch size, or `None` where unknown (traced).

    Example:
    >>> check_initial_state("LayerNormLSTM", [np.zeros((2, 4))], [4, 4])
    Traceback (most recent call last):
    ValueError: LayerNormLSTM takes `initial_state` as 2 tensors [h, c] of shape (batch, 4), got 1.
    """
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    sizes = state_size if isinstance(state_size, (list, tuple)) else [state_size]
    names = "[h, c]" if len(sizes) == 2 else "h"
    if len(states) != len(sizes):
        raise ValueError(f"{layer} takes `initial_state` as {len(sizes)} "
                         f"{'tensors' if len(sizes) > 1 else 'tensor'} {names} of shape "
                         f"(batch, {sizes[0]}), got {len(states)}.")
    for index, (state, size) in enumerate(zip(states, sizes)):
        shape = tuple(np.shape(state) if not hasattr(state, "shape") else state.shape)
        if len(shape) != 2 or shape[-1] not in (None, size):
            raise ValueError(f"{layer}: `initial_state[{index}]` must have shape (batch, {size}), "
                             f"got {shape}.")
        if None not in (batch, shape[0]) and shape[0] != batch:
            raise ValueError(f"{layer}: `initial_state[{index}]` must have one row per input "
                             f"sequence, ({batch}, {size}), got {shape}.")


def checked_mask(layer, mask, sequences):
    """`mask` as `(batch, time)`, or a `ValueError` naming the expected and received shapes
    unless it is `(batch, time)` or `(batch, time, 1)` of `sequences`, the shapes Keras's
    RNN takes (`ops.where` would broadcast another, or fail inside the loop). Dimensions
    unknown when traced pass.

    Args:
        layer: the layer's name, for the message.
        mask: the `mask` call argument: a tensor, a list holding one, or `None`.
        sequences: the inputs `(batch, time, features)`.

    Returns:
        The mask `(batch, time)`, or `None`.

    Example:
    >>> tuple(checked_mask("LayerNormGRU", np.ones((2, 5, 1), bool), np.zeros((2, 5, 3))).shape)
    (2, 5)
    >>> checked_mask("LayerNormGRU", np.ones((2, 6), bool), np.zeros((2, 5, 3)))
    Traceback (most recent call last):
    ValueError: LayerNormGRU: `mask` must have the shape (batch, time) of the inputs, (2, 5), got (2, 6).
    """
    if isinstance(mask, (list, tuple)):  # one mask per input, as Keras passes them
        mask = mask[0]
    if mask is None:
        return None
    shape = mask.shape if hasattr(mask, "shape") else np.shape(mask)
    if getattr(shape, "rank", 0) is None:  # a TensorFlow graph tensor of unknown rank
        return mask
    shape, expected = tuple(shape), tuple(sequences.shape[:2])
    if len(shape) == 3 and shape[2] == 1:
        mask, shape = ops.squeeze(mask, axis=2), shape[:2]
    if len(shape) != 2 or any(None not in (got, want) and got != want
                              for got, want in zip(shape, expected)):
        raise ValueError(f"{layer}: `mask` must have the shape (batch, time) of the inputs, "
                         f"{expected}, got {shape}.")
    return mask


class CellSequenceLayer(keras.layers.RNN):
    """A `keras.layers.RNN` that builds its own cell from its arguments.

    Subclasses set `cell_class`. The constructor takes `units`, every
    argument of the cell (those of its classes below Keras's), the
    arguments of `keras.layers.RNN` and the usual layer keywords;
    `get_config` lists them flat, so a saved layer loads as it was built.
    """

    cell_class = None

    def __init__(self, units, **kwargs):
        cell_args = {
            name
            for klass in self.cell_class.__mro__
            if issubclass(klass, keras.layers.Layer) and not klass.__module__.startswith("keras")
            for name in inspect.signature(klass.__init__).parameters
        } - {"self", "units", "kwargs"}
        cell_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in cell_args}
        cell = self.cell_class(
            units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="cell",
            **cell_kwargs,
        )
        super().__init__(cell, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)
        # As Keras's Dense: once built, inputs of another feature size are refused
        # with the expected and received shapes, not a failed matrix product.
        features = sequences_shape[-1]
        self.input_spec = keras.layers.InputSpec(
            ndim=3, axes={-1: features} if features is not None else None)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None:
            check_initial_state(type(self).__name__, initial_state, self.cell.state_size,
                                sequences.shape[0])
        mask = checked_mask(type(self).__name__, mask, sequences)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    @property
    def units(self):
        return self.cell.units

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LayerNormRNN(CellSequenceLayer):
    """Base class of the sequence layers: a `keras.layers.RNN` with a fast loop.

    Subclasses set `cell_class`. The constructor takes `units`, every
    argument of the cell, the arguments of `keras.layers.RNN`
    (`return_sequences`, `return_state`, `go_backwards`, `stateful`,
    `unroll`, `zero_output_for_mask`), the usual layer keywords, and
    `precompute_inputs`:

    - `True`: project and normalize the inputs of all steps at once, one
      large matrix product outside the loop (the layout of cuDNN and haste).
    - `False`: project each step's inputs inside the loop, while they are in
      cache. On CPUs this measured faster (`benchmarks/layers.py`): the
      all-steps projection is memory-bound there.
    - `"auto"` (default): `True` on a GPU or TPU (`on_accelerator`), else `False`.

    `use_cudnn` is taken as `keras.layers.LSTM` and `GRU` take it, so their
    arguments carry over; no cuDNN kernel computes layer normalization inside
    the step, so `"auto"` and `False` run this loop and `True` is refused.

    Either way the weights the loop needs (the centered recurrent kernel) are
    prepared once per call, and zoneout masks for all steps are sampled
    before the loop, so every backend can trace it.
    """

    def __init__(self, units, precompute_inputs="auto", use_cudnn="auto", **kwargs):
        if precompute_inputs not in ("auto", True, False):
            raise ValueError(
                "Received an invalid value for argument `precompute_inputs`, "
                f"expected one of ('auto', True, False), got {precompute_inputs!r}."
            )
        if use_cudnn is True or use_cudnn not in ("auto", False):
            raise ValueError(
                f"{type(self).__name__} has no cuDNN kernel (cuDNN cannot normalize inside a "
                f"step); `use_cudnn` must be 'auto' or False, got {use_cudnn!r}."
            )
        self.precompute_inputs = precompute_inputs
        super().__init__(units, **kwargs)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        cell = self.cell
        # The dropout masks were sampled by `RNN.call` before the loop.
        dropout_mask = cell.get_dropout_mask(sequences[:, 0, :])
        if training and dropout_mask is not None:
            sequences = sequences * ops.expand_dims(dropout_mask, 1)
        recurrent_mask = (
            cell.get_recurrent_dropout_mask(initial_state[0]) if training else None
        )
        # Time-major from here on: transposing the narrow inputs and outputs
        # is much cheaper than transposing the wide projection.
        sequences = ops.transpose(sequences, (1, 0, 2))  # (T, B, D); swapaxes refuses a tf.Variable
        if mask is not None:
            mask = ops.swapaxes(mask, 0, 1)  # (T, B)
        project_per_step = not self._precompute(sequences)
        input_weights = read_values(cell.input_weights())
        inputs = (sequences if project_per_step
                  else cell.project_inputs(sequences, input_weights))
        width = inputs.shape[-1]  # D, or gates * units when precomputed
        zoneout = cell.zoneout_mask(ops.shape(sequences)[:2], training)
        per_step_zoneout = zoneout is not None and training
        if per_step_zoneout:  # the loop slices one mask per step with the inputs
            inputs = ops.concatenate([inputs, ops.cast(zoneout, inputs.dtype)], axis=-1)
        weights = read_values(cell.step_weights())

        def step(x, states):
            keep = zoneout
            if per_step_zoneout:
                x, keep = x[:, :width], x[:, width:]
            if project_per_step:
                x = cell.project_inputs(x, input_weights)
            return cell.step(x, list(states), weights, recurrent_mask, keep)

        # Keras takes an unknown time-major length for the batch size (a fixed
        # batch would cut the loop short): hand it batch-major sequences then.
        time_major = sequences.shape[0] is not None
        last_output, outputs, states = backend.rnn(
            step,
            inputs if time_major else ops.swapaxes(inputs, 0, 1),
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=mask if time_major or mask is None else ops.swapaxes(mask, 0, 1),
            unroll=self.unroll,
            input_length=sequences.shape[0],
            time_major=time_major,
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )
        return last_output, ops.swapaxes(outputs, 0, 1) if time_major else outputs, states

    def _precompute(self, sequences):
        if self.precompute_inputs != "auto":
            return self.precompute_inputs
        return on_accelerator(sequences)

    def get_config(self):
        return {**super().get_config(), "precompute_inputs": self.precompute_inputs}
