"""`SequencePooling` and `BagOfNgrams`: NumPy equations, padding ignored, serialization.

keras.ops only: also `KERAS_BACKEND=jax pytest tests/test_sentiment_layers.py`.
"""

import keras
import numpy as np
import pytest

from rnn_tasks.layers import POOLING_MODES, BagOfNgrams, SequencePooling
from tests.layer_helpers import gram_slots, numpy, numpy_naive_bayes


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((3, 6, 5)).astype("float32")


def numpy_pooling(x, lengths, mode, score=None):
    """Each sequence cut to its length, pooled in NumPy; no step left -> zeros."""
    pooled = []
    for steps, length in zip(x, lengths):
        steps = steps[:length]
        if not length:
            pooled.append(np.zeros(x.shape[-1]))
        elif mode == "max":
            pooled.append(steps.max(axis=0))
        elif mode == "mean":
            pooled.append(steps.mean(axis=0))
        else:
            weights = np.exp(steps @ score - (steps @ score).max())
            pooled.append((weights[:, None] * steps).sum(axis=0) / weights.sum())
    return np.array(pooled)


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_padded_steps_take_no_part(x, mode):
    lengths = [6, 2, 0]
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    layer = SequencePooling(mode)
    layer.build(x.shape)
    score = np.linspace(-1.0, 1.0, 5).astype("float32")
    if mode == "attention":
        layer.score.assign(score)
    padded = np.where(mask[..., None], x, 100.0).astype("float32")  # padding must not count
    np.testing.assert_allclose(numpy(layer(padded, mask=mask)), numpy_pooling(x, lengths, mode, score),
                               atol=1e-5)
    np.testing.assert_allclose(numpy(layer(x)), numpy_pooling(x, [6, 6, 6], mode, score), atol=1e-5)


def test_attention_starts_as_the_mean(x):
    np.testing.assert_allclose(numpy(SequencePooling("attention")(x)),
                               numpy(SequencePooling("mean")(x)), atol=1e-6)


def test_masked_model_round_trips_through_a_keras_file(tmp_path):
    tokens = np.array([[3, 1, 4, 0, 0], [0, 0, 0, 0, 0]])
    inputs = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(6, 4, mask_zero=True)(inputs)
    h = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True))(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(SequencePooling("attention")(h)))
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(numpy(restored(tokens)), numpy(model(tokens)), atol=1e-6)
    assert restored.layers[3].get_config()["mode"] == "attention"


def test_invalid_mode():
    with pytest.raises(ValueError, match=r"`mode`, expected one of \('max', 'mean', 'attention'\), "
                                         r"got 'last'"):
        SequencePooling("last")


def numpy_ngrams(tokens, table, vocabulary_size, order, buckets):
    """The sum over each sequence's n-grams without padding of their slot's weight."""
    return np.array([[sum(table[slot] for slot in gram_slots(row, vocabulary_size, order, buckets))]
                     for row in tokens])


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_scores_match_numpy(order):
    tokens = np.array([[4, 2, 9, 9, 0, 0], [1, 0, 3, 5, 7, 2], [0, 0, 0, 0, 0, 0]])
    layer = BagOfNgrams(10, order=order, buckets=13)
    layer.build(tokens.shape)
    table = np.random.default_rng(0).standard_normal(23).astype("float32")
    layer.table.assign(table)
    np.testing.assert_allclose(numpy(layer(tokens)), numpy_ngrams(tokens, table, 10, order, 13),
                               atol=1e-5)


def test_ngrams_round_trip_and_arguments(tmp_path):
    tokens = np.array([[3, 1, 4, 1, 5]])
    inputs = keras.Input((5,), dtype="int32")
    model = keras.Model(inputs, BagOfNgrams(6, order=2, buckets=5)(inputs))
    model.layers[1].table.assign(np.arange(11, dtype="float32"))
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(numpy(restored(tokens)), numpy(model(tokens)))
    assert restored.layers[1].get_config()["buckets"] == 5
    with pytest.raises(ValueError, match=r"`order`, expected an integer >= 1, got 0"):
        BagOfNgrams(6, order=0)


def test_mean_pooling_of_an_empty_sequence_is_zero_in_float16():
    steps = np.ones((2, 3, 2), "float16")
    mask = np.array([[True, False, False], [False, False, False]])
    pooled = SequencePooling("mean", dtype="float16")(steps, mask=mask)
    assert np.asarray(pooled, "float32").tolist() == [[1.0, 1.0], [0.0, 0.0]]


@pytest.mark.parametrize("order, smoothing", [(1, 1.0), (2, 0.5), (3, 1.0)])
def test_naive_bayes_weights_match_counting_by_hand(order, smoothing):
    rng = np.random.default_rng(order)
    tokens = rng.integers(0, 9, size=(12, 7))
    tokens[3, 2:] = 0  # a short text
    labels = rng.integers(0, 2, size=12)
    layer = BagOfNgrams(9, order=order, buckets=11)
    batches = [(tokens[:5], labels[:5, None]), (tokens[5:], labels[5:])]  # (batch, 1) or (batch,)
    layer.fit_naive_bayes(batches, smoothing)
    np.testing.assert_allclose(numpy(layer.table),
                               numpy_naive_bayes(tokens, labels, 9, order, 11, smoothing),
                               atol=1e-5)


def test_naive_bayes_refuses_no_ngrams_and_bad_smoothing():
    layer = BagOfNgrams(5)
    with pytest.raises(ValueError, match="received no n-grams"):
        layer.fit_naive_bayes([(np.zeros((2, 3), "int32"), np.array([0, 1]))])
    with pytest.raises(ValueError, match=r"`smoothing`, expected a number > 0, got 0"):
        layer.fit_naive_bayes([(np.ones((2, 3), "int32"), np.array([0, 1]))], smoothing=0)
    with pytest.raises(ValueError, match=r"takes labels 0 \(negative\) and 1 \(positive\), got \[0.0, 0.7\]"):
        layer.fit_naive_bayes([(np.ones((2, 3), "int32"), np.array([0.0, 0.7]))])
