"""Greedy and beam search against brute-force enumeration, eagerly and in a graph."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from rnn_tasks.decoding import beam_search, greedy_search, length_penalty

END, PAD, VOCAB = 1, 0, 5


def markov_step(table):
    """A step function whose next-token log-probabilities depend on the last token only."""
    log_table = tf.math.log(tf.constant(table, tf.float32))

    def step(tokens, state):
        return tf.gather(log_table, tokens), {"steps": state["steps"] + 1}

    return step


def random_table(seed):
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(VOCAB, 0.5), size=VOCAB) + 1e-6
    table[:, PAD] = 1e-6  # the model never chooses padding
    return table / table.sum(axis=1, keepdims=True)


def sequence_log_prob(table, start, tokens):
    previous, total = start, 0.0
    for token in tokens:
        total += np.log(table[previous, token])
        if token == END:
            break
        previous = token
    return total


def best_by_enumeration(table, start, max_length, alpha):
    """The highest length-normalised log-probability over every possible output."""
    best, best_tokens = -np.inf, None
    for length in range(1, max_length + 1):
        for body in itertools.product(range(2, VOCAB), repeat=length - 1):
            for last in range(1, VOCAB):
                if length < max_length and last != END:
                    continue  # unfinished sequences only at max_length
                tokens = list(body) + [last]
                score = sequence_log_prob(table, start, tokens)
                normalised = score / ((5 + length) / 6) ** alpha
                if normalised > best:
                    best, best_tokens = normalised, tokens
    return best_tokens


def unpad(row):
    row = list(row)
    return row[:row.index(END) + 1] if END in row else row


@pytest.mark.parametrize("seed", range(5))
def test_beam_width_one_equals_greedy(seed):
    step = markov_step(random_table(seed))
    start = tf.constant([2, 3, 4])
    state = {"steps": tf.zeros([3])}
    greedy, greedy_scores = greedy_search(step, state, start, END, 6)
    beam, beam_scores = beam_search(step, state, start, END, 6, beam_width=1)
    np.testing.assert_array_equal(greedy.numpy(), beam.numpy())
    np.testing.assert_allclose(greedy_scores.numpy(), beam_scores.numpy(), rtol=1e-6)


@pytest.mark.parametrize("seed, alpha", [(s, a) for s in range(4) for a in (0.0, 1.0)])
def test_a_wide_beam_finds_the_best_sequence(seed, alpha):
    table = random_table(seed)
    step = markov_step(table)
    tokens, scores = beam_search(step, {"steps": tf.zeros([1])}, tf.constant([2]), END, 4,
                                 beam_width=VOCAB ** 3, alpha=alpha)
    expected = best_by_enumeration(table, 2, 4, alpha)
    assert unpad(tokens.numpy()[0]) == expected
    assert scores.numpy()[0] == pytest.approx(sequence_log_prob(table, 2, expected), rel=1e-5)


def test_beam_beats_greedy_on_a_garden_path():
    # From token 2: token 3 looks best (0.6) but continues badly; token 4 (0.4) ends surely.
    table = np.full((VOCAB, VOCAB), 1e-9)
    table[2, 3], table[2, 4] = 0.6, 0.4
    table[3, 2], table[3, END] = 0.5, 0.5
    table[4, END] = 1.0
    table[:, :] /= table.sum(axis=1, keepdims=True)
    step = markov_step(table)
    state = {"steps": tf.zeros([1])}
    greedy, greedy_score = greedy_search(step, state, tf.constant([2]), END, 3)
    beam, beam_score = beam_search(step, state, tf.constant([2]), END, 3, beam_width=2)
    assert unpad(greedy.numpy()[0]) == [3, END] and unpad(beam.numpy()[0]) == [4, END]
    assert beam_score.numpy()[0] > greedy_score.numpy()[0]


def test_padding_after_the_end_token_and_state_is_carried():
    table = np.full((VOCAB, VOCAB), 0.01)
    table[2, END] = 0.96
    step = markov_step(table / table.sum(axis=1, keepdims=True))
    tokens, _ = greedy_search(step, {"steps": tf.zeros([2])}, tf.constant([2, 2]), END, 5)
    assert tokens.numpy().tolist() == [[END, PAD, PAD, PAD, PAD]] * 2


def test_runs_inside_a_tf_function_with_unknown_batch():
    step = markov_step(random_table(0))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def decode(start):
        state = {"steps": tf.zeros(tf.shape(start))}
        return beam_search(step, state, start, END, 6, beam_width=3, alpha=0.6)[0]

    start = tf.constant([2, 3])
    eager = beam_search(step, {"steps": tf.zeros([2])}, start, END, 6, beam_width=3, alpha=0.6)[0]
    np.testing.assert_array_equal(decode(start).numpy(), eager.numpy())
    ops = {op.type for op in decode.get_concrete_function().graph.get_operations()}
    assert "While" in ops or "StatelessWhile" in ops


def test_length_penalty_favours_longer_sequences_when_alpha_grows():
    assert float(length_penalty(tf.constant(1), 0.0)) == 1.0
    assert float(length_penalty(tf.constant(7), 1.0)) == pytest.approx(2.0)
