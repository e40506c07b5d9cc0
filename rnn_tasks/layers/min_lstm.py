"""Layer-normalized minLSTM: `LayerNormMinLSTMCell` and `LayerNormMinLSTM`."""

import keras
from keras import ops

from rnn_tasks.layers.parallel import ParallelCell, ParallelRNN


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormMinLSTMCell(ParallelCell):
    """minLSTM cell (Feng et al. 2024) with a layer-normalized input projection.

    `[k_f, k_i, k_h] = LN(x @ kernel) + bias`, `f = sigmoid(k_f)`,
    `i = sigmoid(k_i)`, and the gates normalized to sum to one,
    `f' = f / (f + i)`, `i' = i / (f + i)` (computed as
    `f' = sigmoid(-d)`, `i' = sigmoid(d)` with
    `d = softplus(-k_f) - softplus(-k_i)`): `h' = f' * h + i' * k_h`. One
    state, no cell state. `log_space` as in `LayerNormMinGRUCell`. Weights:
    `kernel` `(features, 3 * units)`, `bias` and `kernel_norm_*`
    `(3 * units,)`, `output_norm_*` `(units,)` with `output_norm`.

    Args:
        units, use_bias, log_space, output_norm, initializers, norm_epsilon,
        regularizers, constraints, dropout, seed: as in `LayerNormMinGRUCell`.

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.RNN(LayerNormMinLSTMCell(4))
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)
    """

    gates = 3

    def coefficients(self, projected):
        k_f, k_i, k_h = ops.split(projected, 3, axis=-1)
        d = ops.softplus(-k_f) - ops.softplus(-k_i)
        if self.log_space:
            return -ops.softplus(d), -ops.softplus(-d) + self.candidate_log(k_h)
        return ops.sigmoid(-d), ops.sigmoid(d) * k_h


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormMinLSTM(ParallelRNN):
    """Sequence layer of `LayerNormMinLSTMCell`, trained with a parallel scan over time.

    Takes `units`, every argument of `LayerNormMinLSTMCell` and those of
    `keras.layers.RNN` but `unroll`. Unlike `LayerNormLSTM` it has one
    state (`return_state=True` returns `output, h`).

    Example:
    >>> import numpy as np
    >>> output, state = LayerNormMinLSTM(8, return_state=True)(np.zeros((2, 5, 3)))
    >>> tuple(output.shape), tuple(state.shape)
    ((2, 8), (2, 8))
    """

    cell_class = LayerNormMinLSTMCell
