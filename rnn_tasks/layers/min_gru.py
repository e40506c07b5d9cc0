"""Layer-normalized minGRU: `LayerNormMinGRUCell` and `LayerNormMinGRU`."""

import keras
from keras import ops

from rnn_tasks.layers.parallel import ParallelCell, ParallelRNN


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormMinGRUCell(ParallelCell):
    """minGRU cell (Feng et al. 2024) with a layer-normalized input projection.

    The gates see the inputs only: `[k_z, k_h] = LN(x @ kernel) + bias`,
    `z = sigmoid(k_z)`, `h' = (1 - z) * h + z * k_h`. With `log_space=True`
    the candidate is `g(k_h)` (`k_h + 0.5` if `k_h >= 0`, else
    `sigmoid(k_h)`), positive, and a sequence is scanned in log space.
    Weights: `kernel` `(features, 2 * units)`, `bias` and `kernel_norm_*`
    `(2 * units,)`, and `output_norm_*` `(units,)` with `output_norm`.

    Args:
        units: positive integer, dimensionality of the output space; at
            least 2 with `output_norm`.
        use_bias: whether to add `bias` after the normalization. Default: `True`.
        log_space: the paper's log-space form (positive candidate, stable
            scan for long sequences). Default: `False`.
        output_norm: layer-normalize each step's output (the state carried
            on stays unnormalized; over one unit it would be constant).
            Default: `False`.
        kernel_initializer, bias_initializer: Default: `"glorot_uniform"`, `"zeros"`.
        norm_gamma_initializer, norm_beta_initializer: Default: `"ones"`, `"zeros"`.
        norm_epsilon: added to the variances. Default: `1e-3`.
        kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: Default: `None`.
        dropout: fraction of the input units to drop, one mask for all
            steps. Default: `0.0`.
        seed: seed of the dropout masks. Default: `None`.

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.RNN(LayerNormMinGRUCell(4))
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)
    """

    gates = 2

    def coefficients(self, projected):
        k_z, k_h = ops.split(projected, 2, axis=-1)
        if self.log_space:
            return -ops.softplus(k_z), -ops.softplus(-k_z) + self.candidate_log(k_h)
        z = ops.sigmoid(k_z)
        return 1.0 - z, z * k_h


@keras.saving.register_keras_serializable(package="rnn_tasks")
class LayerNormMinGRU(ParallelRNN):
    """Sequence layer of `LayerNormMinGRUCell`, trained with a parallel scan over time.

    Takes `units`, every argument of `LayerNormMinGRUCell` and those of
    `keras.layers.RNN` but `unroll` (`return_sequences`, `return_state`,
    `go_backwards`, `stateful`, `zero_output_for_mask`). A drop-in for
    `LayerNormGRU` with one state, and the same numbers as
    `keras.layers.RNN(LayerNormMinGRUCell(...))`.

    Example:
    >>> import numpy as np
    >>> output, state = LayerNormMinGRU(8, return_state=True)(np.zeros((2, 5, 3)))
    >>> tuple(output.shape), tuple(state.shape)
    ((2, 8), (2, 8))
    """

    cell_class = LayerNormMinGRUCell
