"""`BagOfNgrams`: a linear score of the n-grams of a token-id sequence.

A recurrent classifier of short texts learns slowly from phrases it saw a few
times; a linear model over word n-grams (as NBSVM and fastText are) learns them
at once. Summed with the network's logit, it is the "wide" part of a wide and
deep model. Each n-gram of `1..order` tokens without padding gets one weight:
unigrams by their id, longer n-grams hashed into `buckets` shared slots.
"""

import keras
import numpy as np
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
        score = 0.0
        for slots, kept in self.slots(tokens):
            score = score + ops.sum(ops.take(self.table, slots) * kept, axis=1)
        return ops.expand_dims(score, -1)

    def slots(self, tokens):
        """The table slot of every n-gram, order by order.

        Args:
            tokens: token ids `(batch, steps)`, 0 for padding.

        Returns:
            A list of `(slots int32 (batch, steps - n + 1), kept (batch, steps - n + 1))`
            for `n = 1..order`; `kept` is 1 where the n-gram has no padding, else 0.

        Example:
        >>> import numpy as np
        >>> layer = BagOfNgrams(5, order=2, buckets=7)
        >>> (ids, _), (bigrams, kept) = layer.slots(np.array([[2, 3, 0]]))
        >>> ops.convert_to_numpy(bigrams).tolist()  # 5 + (2 * 5 + 3) % 7, 5 + (3 * 5 + 0) % 7
        [[11, 6]]
        >>> ops.convert_to_numpy(kept).tolist()  # (3, 0) has padding
        [[1.0, 0.0]]
        """
        tokens = ops.cast(tokens, "int32")  # (B, T)
        present = ops.cast(tokens > 0, self.compute_dtype)
        found = [(tokens, present)]  # unigrams: their own id
        hashed = ops.mod(tokens, self.buckets)
        code, kept = hashed, present
        for n in range(2, self.order + 1):  # n-grams ending at step n-1 and on
            code = ops.mod(code[:, :-1] * self.multiplier + hashed[:, n - 1:], self.buckets)
            kept = kept[:, :-1] * present[:, n - 1:]
            found.append((code + self.vocabulary_size, kept))
        return found

    def fit_naive_bayes(self, batches, smoothing=1.0):
        """Sets the weights to multinomial naive Bayes log-count ratios (Wang & Manning 2012).

        Each slot's weight becomes `log(p_s / |p|) - log(q_s / |q|)`, with `p_s` the
        number of times the slot's n-grams occur in positive texts plus `smoothing`
        (`q_s`: negative texts) and `|p|`, `|q|` their sums over the slots seen;
        slots never seen keep 0. Repeats within a text count (Wang & Manning
        count each n-gram once per text). The layer's score is then naive Bayes's
        log-odds without the class prior.

        Args:
            batches: iterable of `(token ids (batch, steps), labels (batch,) or
                (batch, 1))`, ids 0 for padding, labels 1 positive and 0 negative
                (a `tf.data.Dataset` of such pairs, or `[(tokens, labels)]`).
            smoothing: the count added to every seen slot (Laplace). Default: `1.0`.

        Example:
        >>> import numpy as np
        >>> layer = BagOfNgrams(4, order=1)
        >>> layer.fit_naive_bayes([(np.array([[2, 2], [3, 0]]), np.array([1, 0]))])
        >>> [round(float(w), 3) for w in layer.table[:4]]  # p = (3, 1) / 4, q = (1, 2) / 3
        [0.0, 0.0, 0.811, -0.981]
        """
        if not smoothing > 0:
            raise ValueError("Received an invalid value for argument `smoothing`, expected a "
                             f"number > 0, got {smoothing!r}.")
        size = self.vocabulary_size + self.buckets
        counts = np.zeros(2 * size)  # negative texts' slots, then positive texts'
        texts = 0
        for tokens, labels in batches:
            tokens, labels = np.asarray(tokens), np.asarray(labels).reshape(-1, 1)
            if not np.isin(labels, (0, 1)).all():
                raise ValueError("`fit_naive_bayes` takes labels 0 (negative) and 1 (positive), "
                                 f"got {np.unique(labels)[:5].tolist()}.")
            if not self.built:
                self.build(tokens.shape)
            texts += len(tokens)
            for slots, kept in self.slots(tokens):
                slots = ops.convert_to_numpy(slots) + size * labels.astype("int64")
                counts += np.bincount(slots.ravel(), ops.convert_to_numpy(kept).ravel(), 2 * size)
        counts = counts.reshape(2, size)
        seen = counts.sum(axis=0) > 0
        if not seen.any():
            raise ValueError(f"`fit_naive_bayes` received no n-grams: {texts} texts, all padding.")
        counts[:, seen] += smoothing
        share = counts / counts.sum(axis=1, keepdims=True)
        ratios = np.zeros(size)
        ratios[seen] = np.log(share[1, seen]) - np.log(share[0, seen])
        self.table.assign(ratios.astype(self.variable_dtype))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "order": self.order, "buckets": self.buckets}
