"""`NormCell`: the arguments every cell of this package takes, and their config.

Both cell families build on it: the recurrent cells (`base.LayerNormCell`,
which adds the recurrent kernel's arguments) and the parallel cells
(`parallel.ParallelCell`, which has no recurrent kernel). Each argument is
checked as Keras checks its own (`arguments.py`) and `get_config` lists
every one, so a cell saved in a `.keras` file loads as it was built.
"""

import keras
from keras import constraints, initializers, ops, regularizers
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from rnn_tasks.layers.arguments import check_bool, check_epsilon, check_rate, check_units


class NormCell(keras.layers.Layer, DropoutRNNCell):
    """Base class of every cell: units, input kernel, bias, normalization, dropout, seed.

    Args:
        units: positive integer, the dimensionality of the state.
        use_bias: whether the cell adds a bias after the normalization.
            Default: `True`.
        kernel_initializer: initializer of the input kernel.
            Default: `"glorot_uniform"`.
        bias_initializer: initializer of the bias. Default: `"zeros"`.
        norm_gamma_initializer: initializer of the normalizations' scales.
            Default: `"ones"`.
        norm_beta_initializer: initializer of the normalizations' offsets.
            Default: `"zeros"`.
        norm_epsilon: positive float added to the variance. Default: `1e-3`.
        kernel_regularizer, bias_regularizer: regularizers of the input
            kernel and the bias. Default: `None`.
        kernel_constraint, bias_constraint: constraints of the input kernel
            and the bias. Default: `None`.
        dropout: float in [0, 1), the fraction of the inputs dropped.
            Default: `0.0`.
        seed: random seed of the dropout masks. Default: `None`.

    Example:
    >>> cell = NormCell(4, dropout=0.1)
    >>> cell.get_config()["dropout"], cell.state_size
    (0.1, 4)
    """

    def __init__(
        self,
        units,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        norm_gamma_initializer="ones",
        norm_beta_initializer="zeros",
        norm_epsilon=1e-3,
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.norm_gamma_initializer = initializers.get(norm_gamma_initializer)
        self.norm_beta_initializer = initializers.get(norm_beta_initializer)
        self.norm_epsilon = check_epsilon(norm_epsilon)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = self.units
        self.output_size = self.units

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in sizes]

    def get_config(self):
        config = {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "norm_gamma_initializer": initializers.serialize(self.norm_gamma_initializer),
            "norm_beta_initializer": initializers.serialize(self.norm_beta_initializer),
            "norm_epsilon": self.norm_epsilon,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
