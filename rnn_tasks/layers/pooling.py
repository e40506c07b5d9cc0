"""`SequencePooling`: one vector from all the steps of a masked sequence.

A classifier that reads only an RNN's last state leans on the end of the text;
pooling over every step's output lets a word anywhere in it count as much.
Padded steps (mask `False`) never take part, and a sequence with no step left
(an empty text) pools to zeros, as a recurrent layer's last state would be.
"""

import keras
from keras import ops

POOLING_MODES = ("max", "mean", "attention")


@keras.saving.register_keras_serializable(package="rnn_tasks")
class SequencePooling(keras.layers.Layer):
    """Pools `(batch, steps, features)` into `(batch, features)` over the unmasked steps.

    `"max"` takes each feature's largest value, `"mean"` the average, and
    `"attention"` a weighted average whose weights are a softmax over the
    steps of a learned linear score of each step (`score` `(features,)`,
    zeros at first, so it starts as the mean).

    Args:
        mode: `"max"`, `"mean"` or `"attention"`. Default: `"max"`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`).

    Example:
    >>> import numpy as np
    >>> steps = np.array([[[1.0], [5.0], [9.0]]], "float32")
    >>> mask = np.array([[True, True, False]])
    >>> [float(SequencePooling(mode)(steps, mask=mask)[0, 0]) for mode in POOLING_MODES]
    [5.0, 3.0, 3.0]
    """

    def __init__(self, mode="max", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"Received an invalid value for argument `mode`, expected one of "
                             f"{POOLING_MODES}, got {mode!r}.")
        self.mode = mode
        self.supports_masking = True

    def build(self, input_shape):
        if self.mode == "attention":
            self.score = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                         name="score")

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")  # (B, T)
        present = ops.any(mask, axis=1, keepdims=True)  # (B, 1): any step left
        steps = ops.expand_dims(mask, -1)  # (B, T, 1)
        inputs = ops.where(steps, inputs, ops.zeros_like(inputs))
        if self.mode == "max":
            pooled = ops.max(ops.where(steps, inputs, float("-inf")), axis=1)
            return ops.where(present, pooled, ops.zeros_like(pooled))
        if self.mode == "mean":
            weights = ops.cast(steps, inputs.dtype)
        else:
            scores = ops.einsum("btf,f->bt", inputs, ops.cast(self.score, inputs.dtype))
            scores = ops.where(mask, scores, ops.full_like(scores, -1e4))
            weights = ops.expand_dims(ops.softmax(scores, axis=1), -1)
        # (B, 1): the step count (mean) or 1 (attention); an empty sequence divides by 1.
        total = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.sum(inputs * weights, axis=1) / total

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
