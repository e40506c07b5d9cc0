"""Greedy and beam search over a step function, as core TensorFlow ops.

Both run eagerly and inside a `tf.function` (one `tf.while_loop`, fixed
shapes), so an exported SavedModel decodes in stock TensorFlow Serving: no
Addons `GatherTree` op, no Python loop at serving time.

A step function maps `(tokens [n], state)` to `(log_probs [n, vocab], state)`,
where `state` is any nest of tensors whose leading dimension is `n`. Token
ids are int32; `end_id` finishes a sequence and everything after it is
`pad_id`.
"""

import tensorflow as tf


def greedy_search(step, state, start_ids, end_id, max_length, pad_id=0):
    """The most likely token at every step until `end_id` or `max_length`.

    Args:
        step: `(tokens [n], state) -> (log_probs [n, V], state)`.
        state: initial decoder state (a nest, leading dimension n).
        start_ids: int32 `[n]`, the first input tokens.
        end_id: the token that ends a sequence.
        max_length: the most tokens to generate (the end token included).
        pad_id: written after the end token.

    Returns:
        `(tokens int32 [n, max_length], scores float32 [n])`: the summed
        log-probabilities of the generated tokens.

    Example:
    >>> table = tf.math.log(tf.constant([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]))
    >>> step = lambda tokens, state: (tf.gather(table, tokens), state)
    >>> tokens, _ = greedy_search(step, (), tf.constant([0]), end_id=1, max_length=4)
    >>> tokens.numpy().tolist()
    [[2, 2, 2, 2]]
    """
    n = tf.shape(start_ids)[0]
    positions = tf.range(max_length)

    def body(t, inputs, state, tokens, scores, finished):
        log_probs, state = step(inputs, state)
        best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        score = tf.gather(log_probs, best, batch_dims=1)
        best = tf.where(finished, pad_id, best)
        scores += tf.where(finished, 0.0, score)
        tokens = tf.where(positions[None, :] == t, best[:, None], tokens)
        return t + 1, best, state, tokens, scores, finished | (best == end_id)

    def more(t, inputs, state, tokens, scores, finished):
        return (t < max_length) & ~tf.reduce_all(finished)

    initial = (tf.constant(0), tf.cast(start_ids, tf.int32), state,
               tf.fill([n, max_length], tf.constant(pad_id, tf.int32)),
               tf.zeros([n]), tf.zeros([n], tf.bool))
    _, _, _, tokens, scores, _ = tf.while_loop(more, body, initial)
    return tokens, scores


def length_penalty(lengths, alpha):
    """GNMT's length normalisation ((5 + length) / 6) ** alpha (Wu et al. 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def beam_search(step, state, start_ids, end_id, max_length, beam_width, alpha=0.0, pad_id=0,
                num_return=None):
    """Keeps the `beam_width` best partial sequences per example at every step.

    Candidates are ranked by their summed log-probability divided by
    `length_penalty(length, alpha)`; finished beams keep their score and
    compete with the unfinished ones. `beam_width=1` is greedy search.

    Args:
        step: `(tokens [m], state) -> (log_probs [m, V], state)`, called with
            `m = n * beam_width` (example-major: example i's beams are rows
            `i * beam_width ... (i + 1) * beam_width - 1`).
        state: initial state for the n examples; tiled to the beams here.
        start_ids: int32 `[n]`.
        end_id, max_length, pad_id: as in `greedy_search`.
        beam_width: beams per example.
        alpha: length-normalisation strength (0: none).
        num_return: `None` for the best beam; a number up to `beam_width` for
            that many beams per example, best first (an n-best list).

    Returns:
        `(tokens int32 [n, max_length], scores float32 [n])` of the best
        beam of each example (scores are summed log-probabilities); with
        `num_return`, `[n, num_return, max_length]` and `[n, num_return]`.

    Example:
    >>> # From token 0, token 2 looks best (0.6) but leads nowhere likely;
    >>> # token 1 (0.4) ends with probability 1.
    >>> table = tf.math.log(tf.constant([[1e-9, 0.4, 0.6, 1e-9], [1e-9, 1e-9, 1e-9, 1.0],
    ...                                  [1e-9, 0.5, 1e-9, 0.5], [1, 1e-9, 1e-9, 1e-9]]))
    >>> step = lambda tokens, state: (tf.gather(table, tokens), state)
    >>> start = tf.constant([0])
    >>> greedy_search(step, (), start, end_id=3, max_length=3)[0].numpy().tolist()
    [[2, 1, 3]]
    >>> beam_search(step, (), start, end_id=3, max_length=3, beam_width=2)[0].numpy().tolist()
    [[1, 3, 0]]
    """
    if num_return is not None and not 1 <= num_return <= beam_width:
        raise ValueError(f"Received an invalid value for argument `num_return`, expected an "
                         f"integer from 1 to beam_width={beam_width}, got {num_return}.")
    k = beam_width
    n = tf.shape(start_ids)[0]
    positions = tf.range(max_length)
    state = tf.nest.map_structure(lambda s: tf.repeat(s, k, axis=0), state)
    first = tf.concat([[0.0], tf.fill([k - 1], float("-inf"))], axis=0)  # one live beam at start

    def body(t, inputs, state, tokens, scores, lengths, finished):
        log_probs, state = step(inputs, state)
        vocab = tf.shape(log_probs)[-1]
        log_probs = tf.reshape(log_probs, [n, k, vocab])
        # A finished beam has one continuation, `pad_id`, at no cost.
        carry = tf.where(tf.range(vocab) == pad_id, 0.0, float("-inf"))
        log_probs = tf.where(finished[:, :, None], carry[None, None, :], log_probs)
        total = scores[:, :, None] + log_probs
        new_lengths = lengths + tf.cast(~finished, tf.int32)
        ranked = total / length_penalty(new_lengths, alpha)[:, :, None]
        _, picks = tf.math.top_k(tf.reshape(ranked, [n, k * vocab]), k)
        beam, token = picks // vocab, picks % vocab
        scores = tf.gather(tf.reshape(total, [n, k * vocab]), picks, batch_dims=1)
        lengths = tf.gather(new_lengths, beam, batch_dims=1)
        was_finished = tf.gather(finished, beam, batch_dims=1)
        tokens = tf.gather(tokens, beam, batch_dims=1)
        tokens = tf.where(positions[None, None, :] == t, token[:, :, None], tokens)
        rows = tf.reshape(beam + k * tf.range(n)[:, None], [-1])
        state = tf.nest.map_structure(lambda s: tf.gather(s, rows), state)
        finished = was_finished | (token == end_id)
        return t + 1, tf.reshape(token, [-1]), state, tokens, scores, lengths, finished

    def more(t, inputs, state, tokens, scores, lengths, finished):
        return (t < max_length) & ~tf.reduce_all(finished)

    initial = (tf.constant(0), tf.repeat(tf.cast(start_ids, tf.int32), k), state,
               tf.fill([n, k, max_length], tf.constant(pad_id, tf.int32)),
               tf.tile(first[None, :], [n, 1]), tf.zeros([n, k], tf.int32), tf.zeros([n, k], tf.bool))
    _, _, _, tokens, scores, lengths, _ = tf.while_loop(more, body, initial)
    _, order = tf.math.top_k(scores / length_penalty(lengths, alpha), num_return or 1)
    if num_return is None:
        order = order[:, 0]
    return tf.gather(tokens, order, batch_dims=1), tf.gather(scores, order, batch_dims=1)
