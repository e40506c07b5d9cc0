"""Layer-normalized recurrent cells, the fast sequence layers built on them, and
minGRU / minLSTM layers that train with a parallel scan over time, and the pooling
of a masked sequence of their outputs."""

from rnn_tasks.layers.factory import recurrent_layer
from rnn_tasks.layers.gru import LayerNormGRU, LayerNormGRUCell
from rnn_tasks.layers.lstm import LayerNormLSTM, LayerNormLSTMCell
from rnn_tasks.layers.min_gru import LayerNormMinGRU, LayerNormMinGRUCell
from rnn_tasks.layers.min_lstm import LayerNormMinLSTM, LayerNormMinLSTMCell
from rnn_tasks.layers.ngrams import BagOfNgrams
from rnn_tasks.layers.pooling import POOLING_MODES, SequencePooling
from rnn_tasks.layers.simple_rnn import LayerNormSimpleRNN, LayerNormSimpleRNNCell

__all__ = [
    "BagOfNgrams",
    "LayerNormGRU",
    "LayerNormGRUCell",
    "LayerNormLSTM",
    "LayerNormLSTMCell",
    "LayerNormMinGRU",
    "LayerNormMinGRUCell",
    "LayerNormMinLSTM",
    "LayerNormMinLSTMCell",
    "LayerNormSimpleRNN",
    "LayerNormSimpleRNNCell",
    "POOLING_MODES",
    "SequencePooling",
    "recurrent_layer",
]
