"""Layer-normalized GRU: `LayerNormGRUCell` and `LayerNormGRU`."""

import keras
from keras import activations, ops

from rnn_tasks.layers.arguments import check_bool, check_rate
from rnn_tasks.layers.base import LayerNormCell, LayerNormRNN, zone_out
from rnn_tasks.layers.norm import add_norm_weights, center_columns, centered_norm


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormGRUCell(LayerNormCell):
    """GRU cell with layer normalization (as haste's LayerNormGRU) and optional zoneout.

    Gates in Keras's order z, r, h. With `reset_after=True` (default):
    `vx = LN(x @ kernel) + bias[0]`, `vh = LN(h @ recurrent_kernel) + bias[1]`,
    `z = sig(vx_z + vh_z)`, `r = sig(vx_r + vh_r)`, `g = tanh(vx_h + r * vh_h)`,
    `h' = z * h + (1 - z) * g`. With `reset_after=False` (bias `(3 * units,)`)
    the reset gate applies before the recurrent projection of the candidate,
    so the recurrent normalization splits in two: one over the z and r
    columns of `h @ recurrent_kernel`, one over `(r * h) @ recurrent_kernel_h`,
    taking their scale and offset from the matching slices of
    `recurrent_norm_*`. Normalization weights: `kernel_norm_*` and
    `recurrent_norm_*`, shape `(3 * units,)`.

    Args:
        units: positive integer, dimensionality of the output space.
        activation: for the candidate. Default: `"tanh"`.
        recurrent_activation: for the gates. Default: `"sigmoid"`.
        use_bias: whether to add `bias`. Default: `True`.
        reset_after: reset gate after (`True`) or before the recurrent
            projection. Default: `True`.
        zoneout: probability that a unit of `h` keeps its previous value at a
            training step (Krueger et al. 2016); at inference the expectation
            is used. Default: `0.0`.
        kernel_initializer, recurrent_initializer, bias_initializer,
        norm_gamma_initializer, norm_beta_initializer, norm_epsilon,
        regularizers, constraints, dropout, recurrent_dropout, seed: as in
            `LayerNormLSTMCell`.

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.RNN(LayerNormGRUCell(4))
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)
    """

    gates = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        reset_after=True,
        zoneout=0.0,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = check_bool("reset_after", reset_after)
        self.zoneout = check_rate("zoneout", zoneout)

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def build_norms(self):
        size = 3 * self.units
        self.kernel_norm_gamma, self.kernel_norm_beta = add_norm_weights(self, "kernel_norm", size)
        self.recurrent_norm_gamma, self.recurrent_norm_beta = add_norm_weights(
            self, "recurrent_norm", size
        )

    def zoneout_units(self):
        return self.units if self.zoneout else 0

    def input_weights(self):
        offset = self.kernel_norm_beta
        if self.bias is not None:
            offset = offset + (self.bias[0] if self.reset_after else self.bias)
        return center_columns(self.kernel), self.kernel_norm_gamma, offset

    def step_weights(self):
        kernel, gamma, beta = self.recurrent_kernel, self.recurrent_norm_gamma, self.recurrent_norm_beta
        if self.reset_after:
            offset = beta if self.bias is None else beta + self.bias[1]
            return center_columns(kernel), gamma, offset
        split = 2 * self.units
        return (center_columns(kernel[:, :split]), gamma[:split], beta[:split],
                center_columns(kernel[:, split:]), gamma[split:], beta[split:])

    def step(self, projected, states, weights, recurrent_mask, zoneout_mask):
        h = states[0]
        h_in = h if recurrent_mask is None else h * recurrent_mask
        # Splits rather than slices: their gradient is a cheap concatenation.
        x_zr, x_h = ops.split(projected, [2 * self.units], axis=-1)
        epsilon = self.norm_epsilon
        if self.reset_after:
            kernel, gamma, offset = weights
            vh = centered_norm(ops.matmul(h_in, kernel), gamma, epsilon) + offset
            vh_zr, vh_h = ops.split(vh, [2 * self.units], axis=-1)
            z, r = ops.split(self.recurrent_activation(x_zr + vh_zr), 2, axis=-1)
            g = self.activation(x_h + r * vh_h)
        else:
            kernel_zr, gamma_zr, offset_zr, kernel_h, gamma_h, offset_h = weights
            vh = centered_norm(ops.matmul(h_in, kernel_zr), gamma_zr, epsilon)
            z, r = ops.split(self.recurrent_activation(x_zr + vh + offset_zr), 2, axis=-1)
            vh_h = centered_norm(ops.matmul(r * h_in, kernel_h), gamma_h, epsilon)
            g = self.activation(x_h + vh_h + offset_h)
        h_new = zone_out(h, g + z * (h - g), zoneout_mask)
        return h_new, [h_new]

    def get_config(self):
        config = {
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
            "zoneout": self.zoneout,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormGRU(LayerNormRNN):
    """Sequence layer of `LayerNormGRUCell`, a drop-in for `keras.layers.GRU`.

    Takes `units`, every argument of `LayerNormGRUCell` and those of
    `keras.layers.RNN` (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`). The input projection, its
    normalization and the input bias run once over the whole sequence.

    Example:
    >>> import numpy as np
    >>> output, state = LayerNormGRU(8, return_state=True)(np.zeros((2, 5, 3)))
    >>> tuple(output.shape), tuple(state.shape)
    ((2, 8), (2, 8))
    """

    cell_class = LayerNormGRUCell
