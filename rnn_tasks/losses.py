"""Training losses the templates add to Keras's own."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_tasks")
class PinballLoss(keras.losses.Loss):
    """The quantile (pinball) loss, averaged over the quantile levels.

    For a level `q` and error `e = y - prediction`: `max(q * e, (q - 1) * e)`.
    Its minimum over a distribution is the distribution's `q`-quantile.

    Args:
        levels: quantile levels in (0, 1), one per entry of the
            prediction's last axis.

    Example:
    >>> loss = PinballLoss([0.1, 0.9])
    >>> float(loss(keras.ops.ones((1, 1)), keras.ops.zeros((1, 1, 2))))  # errors +1: 0.1 and 0.9
    0.5
    """

    def __init__(self, levels, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.levels = [float(level) for level in levels]

    def call(self, y_true, y_pred):
        # y_true (..., ), y_pred (..., Q)
        error = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - y_pred
        levels = ops.convert_to_tensor(self.levels, dtype=y_pred.dtype)
        return ops.mean(ops.maximum(levels * error, (levels - 1) * error), axis=-1)

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}
