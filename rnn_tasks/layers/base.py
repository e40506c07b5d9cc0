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

Both halves use a centering identity to keep the loop short: the mean of
`x @ W` over its last axis is `x @ mean(W, axis=1)`, so with `W` centered
column-wise (`center_columns`), `x @ W_c` already has zero mean and its
layer normalization needs only the variance (`centered_norm`).
"""

import inspect

import keras
from keras import activations, constraints, initializers, ops, regularizers
from keras.src import backend
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell


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
    """
    gamma = read_value(gamma)  # a custom gradient must not read variables itself

    @ops.custom_gradient
    def norm(x, gamma):
        scale = ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + epsilon)
        normed = x * scale

        def grad(*args, upstream=None):
            d_y = args[0] if upstream is None else upstream
            d_normed = d_y * gamma
            d_x = scale * (d_normed - normed * ops.mean(d_normed * normed, axis=-1, keepdims=True))
            d_gamma = ops.sum(ops.reshape(d_y * normed, (-1, normed.shape[-1])), axis=0)
            return d_x, d_gamma

        return normed * gamma, grad

    return norm(x, gamma)


def center_columns(kernel):
    """`kernel` minus each row's mean, so `h @ center_columns(U)` has zero mean."""
    return kernel - ops.mean(kernel, axis=-1, keepdims=True)


def read_value(weight):
    """`weight` read into a tensor if it is a variable, else unchanged."""
    return ops.copy(weight) if isinstance(weight, keras.Variable) else weight


def read_values(weights):
    """`weights` with variables read into tensors: once before a loop, not per step."""
    return tuple(read_value(w) for w in weights)


def on_accelerator(tensor):
    """Whether the current backend computes `tensor` on an accelerator (GPU, TPU).

    One public API per backend: on PyTorch the device of `tensor` itself
    (Keras places tensors on CUDA, MPS or XPU when present, or where
    `KERAS_TORCH_DEVICE` or `keras.device` says); on JAX the default
    backend; on TensorFlow the logical GPU and TPU devices (a tensor traced
    in a graph has no device yet).

    Args:
        tensor: a tensor of the current backend.

    Returns:
        `True` on a GPU or TPU, `False` on a CPU.
    """
    name = keras.backend.backend()
    if name == "torch":
        return tensor.device.type != "cpu"
    if name == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if name == "tensorflow":
        import tensorflow as tf

        return any(tf.config.list_logical_devices(kind) for kind in ("GPU", "TPU"))
    return False


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


def check_units(units):
    """`units` if it is a positive integer, else a Keras-style `ValueError`."""
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument `units`, "
            f"expected a positive integer, got {units!r}."
        )
    return units


def check_epsilon(epsilon):
    """`epsilon` as a float if it is positive, else a Keras-style `ValueError`."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
        raise ValueError(
            "Received an invalid value for argument `norm_epsilon`, "
            f"expected a positive float, got {epsilon!r}."
        )
    return float(epsilon)


def check_bool(name, value):
    """`value` if it is a bool, else a Keras-style `ValueError` (a string like "no" is truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"Received an invalid value for argument `{name}`, "
                         f"expected True or False, got {value!r}.")
    return value


def check_rate(name, value):
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, "
            f"expected a float in [0, 1), got {value!r}."
        )
    return float(value)


class LayerNormCell(keras.layers.Layer, DropoutRNNCell):
    """Base class of the layer-normalized cells: arguments, weights, config.

    Subclasses set `gates` (projections per unit: 1, 4 or 3) and implement
    `input_weights`, `project_inputs`, `step_weights` and `step`.
    """

    gates = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        norm_gamma_initializer="ones",
        norm_beta_initializer="zeros",
        norm_epsilon=1e-3,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = activations.get(activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.norm_gamma_initializer = initializers.get(norm_gamma_initializer)
        self.norm_beta_initializer = initializers.get(norm_beta_initializer)
        self.norm_epsilon = check_epsilon(norm_epsilon)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = units
        self.output_size = units

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

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in sizes]

    # Config ----------------------------------------------------------------

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "norm_gamma_initializer": initializers.serialize(self.norm_gamma_initializer),
            "norm_beta_initializer": initializers.serialize(self.norm_beta_initializer),
            "norm_epsilon": self.norm_epsilon,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


def zone_out(previous, new, keep_mask):
    """`keep * previous + (1 - keep) * new`; `new` unchanged when `keep_mask` is None."""
    if keep_mask is None:
        return new
    return keep_mask * previous + (1.0 - keep_mask) * new


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

    Either way the weights the loop needs (the centered recurrent kernel) are
    prepared once per call, and zoneout masks for all steps are sampled
    before the loop, so every backend can trace it.
    """

    def __init__(self, units, precompute_inputs="auto", **kwargs):
        if precompute_inputs not in ("auto", True, False):
            raise ValueError(
                "Received an invalid value for argument `precompute_inputs`, "
                f"expected one of ('auto', True, False), got {precompute_inputs!r}."
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
        sequences = ops.swapaxes(sequences, 0, 1)  # (T, B, D)
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
