"""Sequence decoding that runs inside exported graphs: greedy and beam search."""

from rnn_tasks.decoding.search import beam_search, greedy_search, length_penalty

__all__ = ["beam_search", "greedy_search", "length_penalty"]
