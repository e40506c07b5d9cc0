"""Layer-normalized recurrent cells and the fast sequence layers built on them."""

from rnn_tasks.layers.factory import recurrent_layer
from rnn_tasks.layers.gru import LayerNormGRU, LayerNormGRUCell
from rnn_tasks.layers.lstm import LayerNormLSTM, LayerNormLSTMCell
from rnn_tasks.layers.simple_rnn import LayerNormSimpleRNN, LayerNormSimpleRNNCell

__all__ = [
    "LayerNormSimpleRNNCell",
    "LayerNormLSTMCell",
    "LayerNormGRUCell",
    "LayerNormSimpleRNN",
    "LayerNormLSTM",
    "LayerNormGRU",
    "recurrent_layer",
]
