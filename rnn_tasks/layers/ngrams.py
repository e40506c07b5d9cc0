"""`BagOfNgrams`: a linear score of the n-grams of a token-id sequence.

A recurrent classifier of short texts learns slowly from phrases it saw a few
times; a linear model over word n-grams (as NBSVM and fastText are) learns them
at once. Summed with the network's logit, it is the "wide" part of a wide and
deep model. Each n-gram of `1..order` tokens without padding gets one weight:
unigrams by their id, longer n-grams hashed into `buckets` shared slots.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_tasks")
class BagOfNgrams(keras.layers.Layer):
    """Token ids `(batch, steps)` (0 is padding) -> the sum of their n-grams' weights `(batch, 1)`.

    Weights: `table` `(vocabulary_size + buckets,)`, zeros at first.

    Args:
        vocabulary_size: number of token ids (ids are in `[0, vocabulary_size)`).
        order: longest n-gram counted; 1 counts single tokens only. Default: `2`.
        buckets: hashed slots of the n-grams longer than one token. Default: `2**18`.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`).

    Example:
    >>> import numpy as np
    >>> layer = BagOfNgrams(5, order=2, buckets=7)
    >>> layer.build((None, 3))
    >>> _ = layer.table.assign(np.arange(12, dtype="float32"))
    >>> float(layer(np.array([[2, 3, 0]]))[0, 0])  # unigrams 2 + 3, bigram 5 + (2 * 5 + 3) % 7
    16.0
    """

    def __init__(self, vocabulary_size, order=2, buckets=2**18, **kwargs):
        super().__init__(**kwargs)
        for name, value, least in (("vocabulary_size", vocabulary_size, 2), ("order", order, 1),
                                   ("buckets", buckets, 1)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"Received an invalid value for argument `{name}`, expected an "
                                 f"integer >= {least}, got {value!r}.")
        if buckets > 2**30:
            raise ValueError("Received an invalid value for argument `buckets`, expected an "
                             f"integer <= 2**30, got {buckets!r}.")
        self.vocabulary_size, self.order, self.buckets = vocabulary_size, order, buckets
        # The hash runs in int32 on every backend (JAX has no int64 by default), so
        # code * multiplier + token stays below 2**31 for any vocabulary.
        self.multiplier = min(vocabulary_size, 2**31 // buckets - 1)

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.vocabulary_size + self.buckets,),
                                     initializer="zeros", name="table")

    def call(self, tokens):
        tokens = ops.cast(tokens, "int32")  # (B, T)
        present = ops.cast(tokens > 0, self.compute_dtype)
        score = ops.sum(ops.take(self.table, tokens) * present, axis=1)  # unigrams
        hashed = ops.mod(tokens, self.buckets)
        code, kept = hashed, present
        for n in range(2, self.order + 1):  # n-grams ending at step n-1 and on
            code = ops.mod(code[:, :-1] * self.multiplier + hashed[:, n - 1:], self.buckets)
            kept = kept[:, :-1] * present[:, n - 1:]
            slots = ops.take(self.table, code + self.vocabulary_size)
            score = score + ops.sum(slots * kept, axis=1)
        return ops.expand_dims(score, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "order": self.order, "buckets": self.buckets}
