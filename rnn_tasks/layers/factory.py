"""Pick a recurrent sequence layer by name, as recipes do."""

import keras

from rnn_tasks.layers.gru import LayerNormGRU
from rnn_tasks.layers.lstm import LayerNormLSTM
from rnn_tasks.layers.min_gru import LayerNormMinGRU
from rnn_tasks.layers.min_lstm import LayerNormMinLSTM
from rnn_tasks.layers.simple_rnn import LayerNormSimpleRNN

SEQUENCE_LAYERS = {
    ("simple_rnn", True): LayerNormSimpleRNN,
    ("lstm", True): LayerNormLSTM,
    ("gru", True): LayerNormGRU,
    ("mingru", True): LayerNormMinGRU,
    ("minlstm", True): LayerNormMinLSTM,
    ("simple_rnn", False): keras.layers.SimpleRNN,
    ("lstm", False): keras.layers.LSTM,
    ("gru", False): keras.layers.GRU,
}


def recurrent_layer(cell, units, layer_norm=True, **kwargs):
    """A sequence layer: `LayerNorm*` when `layer_norm`, else Keras's own.

    Args:
        cell: `"simple_rnn"`, `"lstm"`, `"gru"`, or `"mingru"`, `"minlstm"`
            (parallel over time; layer-normalized only).
        units: positive integer.
        layer_norm: use the layer-normalized layer. Default: `True`.
        **kwargs: passed to the layer (`return_sequences`, `dropout`, ...).

    Returns:
        A Keras layer.

    Example:
    >>> type(recurrent_layer("gru", 8)).__name__
    'LayerNormGRU'
    """
    if (cell, True) not in SEQUENCE_LAYERS:
        raise ValueError(
            "Received an invalid value for argument `cell`, expected one of "
            f"{tuple(name for name, norm in SEQUENCE_LAYERS if norm)}, got {cell!r}."
        )
    if (cell, bool(layer_norm)) not in SEQUENCE_LAYERS:
        raise ValueError(f"`cell={cell!r}` has no Keras counterpart without layer "
                         "normalization: use `layer_norm=True`.")
    return SEQUENCE_LAYERS[(cell, bool(layer_norm))](units, **kwargs)
