"""Word-level text handling that runs inside TensorFlow graphs (core string ops only).

`Tokenize` is the Keras layer that turns raw text into space-separated word
tokens before a `TextVectorization(standardize=None)`; `join_tokens` turns
decoded tokens back into text. Both use only `tf.strings` ops, so exported
graphs run in stock TensorFlow Serving (no TensorFlow Text).
"""

import keras
import numpy as np
import tensorflow as tf

# Any character that is not a letter, a digit, a space or a combining mark is
# a token of its own: "¿Qué?" -> "¿ qué ?", "3/3/21" -> "3 / 3 / 21".
SYMBOL = r"([^\pL\pN\pM\s])"
# Detokenization: no space before closing punctuation or after opening marks.
NO_SPACE_BEFORE = r" ([.,;:!?%)\]}»])"
NO_SPACE_AFTER = r"([¿¡(\[{«]) "
# Decoder start and end tokens: brackets never survive `Tokenize` inside a word.
START, END = "[start]", "[end]"


@keras.saving.register_keras_serializable(package="rnn_tasks")
class Tokenize(keras.layers.Layer):
    """Raw strings -> space-separated word and symbol tokens (invalid UTF-8 replaced).

    Args:
        lowercase: fold case (Unicode-aware).
        wrap: put `START` before and `END` after the tokens (decoder targets).

    Example:
    >>> Tokenize()(tf.constant(["¿Qué hora es? Son las 3:30."])).numpy()[0].decode()
    '¿ qué hora es ? son las 3 : 30 .'
    """

    def __init__(self, lowercase=True, wrap=False, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.lowercase = lowercase
        self.wrap = wrap

    def call(self, texts):
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        texts = tf.strings.regex_replace(texts, SYMBOL, r" \1 ")
        texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
        if self.wrap:
            texts = tf.strings.join([START, texts, END], separator=" ")
        return texts

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lowercase": self.lowercase, "wrap": self.wrap}


def join_tokens(tokens, keep):
    """Token strings -> text: the kept tokens joined by spaces, punctuation re-attached.

    Args:
        tokens: string `[batch, length]`.
        keep: bool `[batch, length]`, which tokens belong to the text.

    Returns:
        string `[batch]`.

    Example:
    >>> join_tokens(tf.constant([["¿", "qué", "?", "[end]"]]),
    ...             tf.constant([[True, True, True, False]])).numpy()[0].decode()
    '¿qué?'
    """
    words = tf.where(keep, tokens, tf.zeros_like(tokens))
    text = tf.strings.reduce_join(words, axis=-1, separator=" ")
    text = tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))
    text = tf.strings.regex_replace(text, NO_SPACE_BEFORE, r"\1")
    return tf.strings.regex_replace(text, NO_SPACE_AFTER, r"\1")


def token_counts(tokenized):
    """Number of space-separated tokens of each string of a `Tokenize` output.

    Example:
    >>> token_counts(Tokenize()(tf.constant(["Hola, mundo."]))).tolist()
    [4]
    """
    return np.array([len(text.split()) for text in tokenized.numpy()])
