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


@keras.saving.register_keras_serializable(package="rnn_tasks")
class TokenCrossentropy(keras.losses.Loss):
    """Next-token cross-entropy from logits, with label smoothing; padding (id 0) ignored.

    Each real token's loss is `(1 - s) * -log p(target) + s * mean over the
    vocabulary of -log p(token)`, for `s = label_smoothing` (Szegedy et al.
    2016); the batch's loss is the mean over its real tokens, as
    `SparseCategoricalCrossentropy(ignore_class=0)` gives (which has no label
    smoothing).

    Args:
        label_smoothing: `s`, a float in [0, 1). Default: `0.0`.

    Example:
    >>> loss = TokenCrossentropy(label_smoothing=0.1)
    >>> logits = keras.ops.zeros((1, 3, 4))  # uniform over 4 tokens: -log p = log 4
    >>> round(float(loss(keras.ops.array([[2, 3, 0]]), logits)), 4)  # the padding is ignored
    1.3863
    """

    def __init__(self, label_smoothing=0.0, name="token_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError("Received an invalid value for argument `label_smoothing`, expected "
                             f"a float in [0, 1), got {label_smoothing!r}.")
        self.label_smoothing = float(label_smoothing)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # The targets' padding says which tokens count; a mask the logits carry from the
        # network (`mask_zero` embeddings) would make Keras rescale a second time.
        return super().__call__(y_true, ops.copy(y_pred), sample_weight)

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(y_pred, axis=-1)
        targets = ops.expand_dims(ops.cast(y_true, "int32"), -1)
        nll = -ops.squeeze(ops.take_along_axis(log_probs, targets, axis=-1), -1)
        spread = -ops.mean(log_probs, axis=-1)
        per_token = (1.0 - self.label_smoothing) * nll + self.label_smoothing * spread
        real = ops.cast(ops.not_equal(y_true, 0), per_token.dtype)
        # Keras averages what `call` returns over every position (and divides by the
        # replicas under tf.distribute): rescale so that the average is over real tokens.
        return per_token * real * ops.cast(ops.size(real), real.dtype) / ops.maximum(ops.sum(real), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
