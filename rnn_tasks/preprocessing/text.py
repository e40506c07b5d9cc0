"""Word-level text handling that runs inside TensorFlow graphs (core string ops only).

`Tokenize` is the Keras layer that turns raw text into space-separated word
tokens before a `TextVectorization(standardize=None)`; `join_tokens` turns
decoded tokens back into text. Both use only `tf.strings` ops, so exported
graphs run in stock TensorFlow Serving (no TensorFlow Text).
"""

import functools
import unicodedata

import keras
import numpy as np
import tensorflow as tf

# Any character that is not a letter, a digit, a space or a combining mark is
# a token of its own: "¿Qué?" -> "¿ qué ?", "3/3/21" -> "3 / 3 / 21".
SYMBOL = r"([^\pL\pN\pM\s])"
# With `joiners`, a symbol keeps a JOINER on each side that touched a non-space
# in the text, so that the text can be rebuilt exactly: "n'est-ce pas ?" ->
# "n ￭'￭ est ￭-￭ ce pas ?" (OpenNMT's joiner annotation).
JOINER = "￭"
SYMBOL_NOT_JOINER = r"([^\pL\pN\pM\s￭])"
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
        decompose: `decompose` the texts first, so that a text typed in either
            Unicode form (`é` as one character or as `e` and an accent) gives the
            same tokens (inputs; generated text keeps its composed form).
        wrap: put `START` before and `END` after the tokens (decoder targets).
        joiners: mark the sides of each symbol that had no space in the text
            with `JOINER`, so that `join_tokens` rebuilds the text's spacing
            (generated text: "l'homme" -> "l ￭'￭ homme" -> "l'homme").

    Example:
    >>> Tokenize()(tf.constant(["¿Qué hora es? Son las 3:30."])).numpy()[0].decode()
    '¿ qué hora es ? son las 3 : 30 .'
    >>> Tokenize(lowercase=False, joiners=True)(tf.constant(["C'est ça !"])).numpy()[0].decode()
    "C ￭'￭ est ça !"
    """

    def __init__(self, lowercase=True, wrap=False, joiners=False, decompose=False, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.lowercase = lowercase
        self.wrap = wrap
        self.joiners = joiners
        self.decompose = decompose

    def call(self, texts):
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        if self.decompose:
            texts = decompose(texts)
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if self.joiners:
            texts = annotate_joiners(texts)
        else:
            texts = tf.strings.regex_replace(texts, SYMBOL, r" \1 ")
        texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
        if self.wrap:
            texts = tf.strings.join([START, texts, END], separator=" ")
        return texts

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lowercase": self.lowercase, "wrap": self.wrap,
                "joiners": self.joiners, "decompose": self.decompose}


@functools.cache
def decompositions():
    """Unicode's canonical decompositions (Python's `unicodedata`) as two arrays: the code
    points that NFD changes, sorted, and what each becomes, padded with -1 to 4 code
    points. Hangul syllables, which decompose by a formula rather than a table, are not
    among them."""
    codes, parts = [], []
    for code in range(0x30000):  # none above the CJK compatibility supplement
        if unicodedata.decomposition(chr(code))[:1] not in ("", "<"):  # "<": compatibility
            decomposed = [ord(c) for c in unicodedata.normalize("NFD", chr(code))]
            codes.append(code)
            parts.append(decomposed + [-1] * (4 - len(decomposed)))
    return np.array(codes, dtype="int32"), np.array(parts, dtype="int32")


def decompose(texts):
    """Unicode canonical decomposition (NFD, Hangul syllables aside) of valid UTF-8
    strings, with core TensorFlow ops: `é` (U+00E9) and `e` + U+0301 become one text.

    Args:
        texts: string tensor of any shape.

    Returns:
        string tensor of the same shape.

    Example:
    >>> decompose(tf.constant(["caf\\u00e9", "cafe\\u0301"])).numpy().tolist()
    [b'cafe\\xcc\\x81', b'cafe\\xcc\\x81']
    """
    codes, parts = decompositions()
    chars = tf.strings.unicode_decode(tf.reshape(texts, [-1]), "UTF-8")
    flat = chars.flat_values
    at = tf.minimum(tf.searchsorted(codes, flat), len(codes) - 1)
    kept_as_is = tf.pad(flat[:, None], [[0, 0], [0, 3]], constant_values=-1)
    found = tf.equal(tf.gather(codes, at), flat)
    replaced = tf.where(found[:, None], tf.gather(parts, at), kept_as_is)  # (chars, 4)
    real = replaced >= 0
    per_char = tf.reduce_sum(tf.cast(real, tf.int64), axis=1)
    lengths = tf.reduce_sum(tf.RaggedTensor.from_row_splits(per_char, chars.row_splits), axis=1)
    decomposed = tf.RaggedTensor.from_row_lengths(tf.boolean_mask(replaced, real), lengths)
    return tf.reshape(tf.strings.unicode_encode(decomposed, "UTF-8"), tf.shape(texts))


@keras.saving.register_keras_serializable(package="rnn_tasks")
def decompose_lower_and_strip_punctuation(texts):
    """`TextVectorization`'s `"lower_and_strip_punctuation"` after `decompose`, so that
    a text typed in either Unicode form reads as the same words.

    Example:
    >>> decompose_lower_and_strip_punctuation(tf.constant(["Caf\\u00e9!"])).numpy().tolist()
    [b'cafe\\xcc\\x81']
    """
    texts = tf.strings.lower(decompose(texts))
    return tf.strings.regex_replace(texts, r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']', "")


def annotate_joiners(texts):
    """Splits symbols off as `Tokenize` does, a `JOINER` on each side that touched a non-space.

    Runs of spaces, tabs and newlines come back as one space; a `JOINER` in the
    text itself becomes a space. Other Unicode spaces (U+202F before French
    `!`) are symbols: they round-trip as tokens of their own.

    Args:
        texts: string tensor of raw texts.

    Returns:
        The texts with symbols split off and annotated (extra spaces left in).

    Example:
    >>> annotate_joiners(tf.constant(["Allons-y ! (Vite?!)"])).numpy()[0].decode().split()
    ['Allons', '￭-￭', 'y', '!', '(￭', 'Vite', '￭?￭', '￭!￭', '￭)']
    """
    texts = tf.strings.regex_replace(texts, JOINER, " ")  # the text's own are not ours
    texts = tf.strings.regex_replace(texts, SYMBOL_NOT_JOINER, JOINER + r"\1" + JOINER)
    # A joiner beside a space or an end of the text joins nothing.
    texts = tf.strings.regex_replace(texts, r"(^|\s)" + JOINER, r"\1")
    texts = tf.strings.regex_replace(texts, JOINER + r"(\s|$)", r"\1")
    # Each symbol, with its joiners, becomes a token of its own.
    texts = tf.strings.regex_replace(texts, JOINER + SYMBOL_NOT_JOINER, " " + JOINER + r"\1")
    return tf.strings.regex_replace(texts, SYMBOL_NOT_JOINER + JOINER, r"\1" + JOINER + " ")


def join_tokens(tokens, keep, joiners=False):
    """Token strings -> text: the kept tokens joined by spaces, punctuation re-attached.

    Args:
        tokens: string `[batch, length]`.
        keep: bool `[batch, length]`, which tokens belong to the text.
        joiners: the tokens carry `JOINER`s (`Tokenize(joiners=True)`): join
            where they say. Else no space before closing punctuation and
            none after opening marks.

    Returns:
        string `[batch]`.

    Example:
    >>> join_tokens(tf.constant([["¿", "qué", "?", "[end]"]]),
    ...             tf.constant([[True, True, True, False]])).numpy()[0].decode()
    '¿qué?'
    >>> join_tokens(tf.constant([["C", "￭'￭", "est", "ça", "!"]]), tf.constant([[True] * 5]),
    ...             joiners=True).numpy()[0].decode()
    "C'est ça !"
    """
    words = tf.where(keep, tokens, tf.zeros_like(tokens))
    text = tf.strings.reduce_join(words, axis=-1, separator=" ")
    text = tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))
    if joiners:
        return tf.strings.regex_replace(text, r" ?" + JOINER + " ?", "")
    text = tf.strings.regex_replace(text, NO_SPACE_BEFORE, r"\1")
    return tf.strings.regex_replace(text, NO_SPACE_AFTER, r"\1")


def token_counts(tokenized):
    """Number of space-separated tokens of each string of a `Tokenize` output.

    Example:
    >>> token_counts(Tokenize()(tf.constant(["Hola, mundo."]))).tolist()
    [4]
    """
    return np.array([len(text.split()) for text in tokenized.numpy()])
