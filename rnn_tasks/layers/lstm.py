"""Layer-normalized LSTM: `LayerNormLSTMCell` and `LayerNormLSTM`."""

import keras
from keras import activations, initializers, ops

from rnn_tasks.layers.arguments import check_bool, check_normalized_units, check_rate
from rnn_tasks.layers.base import LayerNormCell, LayerNormRNN, zone_out
from rnn_tasks.layers.norm import add_norm_weights, center_columns, centered_norm, layer_norm

CELL_NORMS = ("output", "state")


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormLSTMCell(LayerNormCell):
    """LSTM cell with layer normalization (Ba et al. 2016) and optional zoneout.

    Gates in Keras's order i, f, c, o:
    `z = LN(x @ kernel) + LN(h @ recurrent_kernel) + bias`,
    `c' = sig(f) * c + sig(i) * tanh(g)`, `h' = sig(o) * tanh(LN(c'))`.
    With `cell_norm="output"` (haste, Ba et al.) the raw `c'` is carried to
    the next step; with `cell_norm="state"` the normalized `LN(c')` is
    (TensorFlow Addons' `LayerNormLSTMCell`, whose weights port over in the
    same order). Normalization weights: `kernel_norm_*`, `recurrent_norm_*`
    `(4 * units,)` and `state_norm_*` `(units,)`.

    Args:
        units: integer >= 2, dimensionality of the output space (over one
            unit `LN(c')` is its offset: `c` would never reach the output).
        activation: for the candidate and the output. Default: `"tanh"`.
        recurrent_activation: for the gates. Default: `"sigmoid"`.
        use_bias: whether to add `bias`. Default: `True`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        unit_forget_bias: add 1 to the forget-gate bias at initialization.
            Default: `True`.
        norm_gamma_initializer: Default: `"ones"`.
        norm_beta_initializer: Default: `"zeros"`.
        norm_epsilon: added to the variance. Default: `1e-3`.
        cell_norm: `"output"` or `"state"`, see above. Default: `"output"`.
        zoneout: probability that a unit of `h` and of `c` keeps its previous
            value at a training step (Krueger et al. 2016); at inference the
            expectation is used. Default: `0.0`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: as in
            `keras.layers.LSTMCell`. Default: `None`.
        dropout: fraction of the inputs to drop. Default: `0.0`.
        recurrent_dropout: fraction of `h` to drop before the recurrent
            projection. Default: `0.0`.
        seed: random seed for dropout and zoneout. Default: `None`.

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.RNN(LayerNormLSTMCell(4), return_state=True)
    >>> output, h, c = rnn(np.zeros((2, 5, 3), "float32"))
    >>> tuple(output.shape), tuple(c.shape)
    ((2, 4), (2, 4))
    """

    gates = 4

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        unit_forget_bias=True,
        cell_norm="output",
        zoneout=0.0,
        **kwargs,
    ):
        if cell_norm not in CELL_NORMS:
            raise ValueError(
                "Received an invalid value for argument `cell_norm`, "
                f"expected one of {CELL_NORMS}, got {cell_norm!r}."
            )
        super().__init__(units, activation=activation, **kwargs)
        check_normalized_units(self.units, "the cell state",
                               "the cell state would never reach the output (0 at initialization)")
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)
        self.cell_norm = cell_norm
        self.zoneout = check_rate("zoneout", zoneout)
        self.state_size = [self.units, self.units]

    def bias_initializer_for_build(self):
        if not self.unit_forget_bias:
            return self.bias_initializer

        def initializer(_, *args, **kwargs):
            units = self.units
            return ops.concatenate([
                self.bias_initializer((units,), *args, **kwargs),
                initializers.get("ones")((units,), *args, **kwargs),
                self.bias_initializer((2 * units,), *args, **kwargs),
            ])

        return initializer

    def build_norms(self):
        size = 4 * self.units
        self.kernel_norm_gamma, self.kernel_norm_beta = add_norm_weights(self, "kernel_norm", size)
        self.recurrent_norm_gamma, self.recurrent_norm_beta = add_norm_weights(
            self, "recurrent_norm", size
        )
        self.state_norm_gamma, self.state_norm_beta = add_norm_weights(
            self, "state_norm", self.units
        )

    def zoneout_units(self):
        return 2 * self.units if self.zoneout else 0

    def input_weights(self):
        # Both normalizations' offsets and the bias, folded into one constant
        # added outside the recurrent half.
        offset = self.kernel_norm_beta + self.recurrent_norm_beta
        if self.bias is not None:
            offset = offset + self.bias
        return center_columns(self.kernel), self.kernel_norm_gamma, offset

    def step_weights(self):
        return (center_columns(self.recurrent_kernel), self.recurrent_norm_gamma,
                self.state_norm_gamma, self.state_norm_beta)

    def step(self, projected, states, weights, recurrent_mask, zoneout_mask):
        recurrent_kernel, recurrent_gamma, state_gamma, state_beta = weights
        h, c = states
        h_in = h if recurrent_mask is None else h * recurrent_mask
        z = projected + centered_norm(ops.matmul(h_in, recurrent_kernel), recurrent_gamma,
                                      self.norm_epsilon)
        i, f, g, o = ops.split(z, 4, axis=-1)
        act, gate = self.activation, self.recurrent_activation
        c_new = gate(f) * c + gate(i) * act(g)
        c_normed = layer_norm(c_new, state_gamma, state_beta, self.norm_epsilon)
        h_new = gate(o) * act(c_normed)
        carried = c_normed if self.cell_norm == "state" else c_new
        if zoneout_mask is not None:
            keep_h, keep_c = (ops.split(zoneout_mask, 2, axis=-1)
                              if not isinstance(zoneout_mask, float) else (zoneout_mask,) * 2)
            h_new = zone_out(h, h_new, keep_h)
            carried = zone_out(c, carried, keep_c)
        return h_new, [h_new, carried]

    def get_config(self):
        config = {
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
            "cell_norm": self.cell_norm,
            "zoneout": self.zoneout,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormLSTM(LayerNormRNN):
    """Sequence layer of `LayerNormLSTMCell`, a drop-in for `keras.layers.LSTM`.

    Takes `units`, every argument of `LayerNormLSTMCell` and those of
    `keras.layers.RNN` (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`). The input projection and
    its normalization run once over the whole sequence, outside the loop.

    Example:
    >>> import numpy as np
    >>> layer = LayerNormLSTM(8, return_sequences=True, zoneout=0.1)
    >>> tuple(layer(np.zeros((2, 5, 3))).shape)
    (2, 5, 8)
    """

    cell_class = LayerNormLSTMCell
