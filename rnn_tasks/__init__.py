"""rnn-tasks: layer-normalized recurrent layers and task templates for Keras 3."""

__version__ = "0.1.0"
