"""Layer-normalized Elman RNN: `LayerNormSimpleRNNCell` and `LayerNormSimpleRNN`."""

import keras
from keras import ops

from rnn_tasks.layers.arguments import check_normalized_units
from rnn_tasks.layers.base import LayerNormCell, LayerNormRNN
from rnn_tasks.layers.norm import add_norm_weights, center_columns, centered_norm


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormSimpleRNNCell(LayerNormCell):
    """Fully-connected RNN cell with layer normalization (Ba et al. 2016, eq. 4).

    `h' = activation(LN(x @ kernel + h @ recurrent_kernel) + bias)`, one layer
    normalization (weights `norm_gamma`, `norm_beta`, shape `(units,)`) over
    the summed projections.

    Args:
        units: integer >= 2, dimensionality of the output space (over one
            unit the normalization leaves only its offset).
        activation: activation function. Default: `"tanh"`.
        use_bias: whether to add `bias` after the normalization. Default: `True`.
        kernel_initializer: for `kernel` `(input_dim, units)`.
            Default: `"glorot_uniform"`.
        recurrent_initializer: for `recurrent_kernel` `(units, units)`.
            Default: `"orthogonal"`.
        bias_initializer: for `bias` `(units,)`. Default: `"zeros"`.
        norm_gamma_initializer: for the normalization scale. Default: `"ones"`.
        norm_beta_initializer: for the normalization offset. Default: `"zeros"`.
        norm_epsilon: added to the variance. Default: `1e-3`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: weight
            regularizers. Default: `None`.
        kernel_constraint, recurrent_constraint, bias_constraint: weight
            constraints. Default: `None`.
        dropout: fraction of the inputs to drop (one mask per sequence).
            Default: `0.0`.
        recurrent_dropout: fraction of the state to drop before the recurrent
            projection (one mask per sequence). Default: `0.0`.
        seed: random seed for dropout. Default: `None`.

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.RNN(LayerNormSimpleRNNCell(4))
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)
    """

    gates = 1

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        check_normalized_units(self.units, "the summed projections")

    def build_norms(self):
        self.norm_gamma, self.norm_beta = add_norm_weights(self, "norm", self.units)

    def input_weights(self):
        return (center_columns(self.kernel),)

    def project_inputs(self, inputs, weights):
        # The normalization is over x W + h U, so only the centering of x W
        # can move out of the loop (into the kernel).
        (kernel,) = weights
        return ops.matmul(inputs, kernel)

    def step_weights(self):
        offset = self.norm_beta if self.bias is None else self.norm_beta + self.bias
        return center_columns(self.recurrent_kernel), self.norm_gamma, offset

    def step(self, projected, states, weights, recurrent_mask, zoneout_mask):
        recurrent_kernel, gamma, offset = weights
        h = states[0] if recurrent_mask is None else states[0] * recurrent_mask
        z = projected + ops.matmul(h, recurrent_kernel)  # zero mean: both centered
        output = self.activation(centered_norm(z, gamma, self.norm_epsilon) + offset)
        return output, [output]


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormSimpleRNN(LayerNormRNN):
    """Sequence layer of `LayerNormSimpleRNNCell`, a drop-in for `keras.layers.SimpleRNN`.

    Takes `units`, every argument of `LayerNormSimpleRNNCell` and those of
    `keras.layers.RNN` (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`). The input projection runs
    once over the whole sequence, outside the time loop.

    Example:
    >>> import numpy as np
    >>> tuple(LayerNormSimpleRNN(4, return_sequences=True)(np.zeros((2, 5, 3))).shape)
    (2, 5, 4)
    """

    cell_class = LayerNormSimpleRNNCell
