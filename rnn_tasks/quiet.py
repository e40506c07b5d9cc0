"""TensorFlow's own start-up lines off the terminal, unless asked for.

TensorFlow's native libraries log before `TF_CPP_MIN_LOG_LEVEL` takes effect
(absl's "All log messages before absl::InitializeLog()", oneDNN and CUDA
probing), so the command line imports TensorFlow with the process's stderr
pointed at /dev/null, then sets the native and Python log levels so later
library chatter stays away too. `--verbose` skips all of it.
"""

import contextlib
import logging
import os
import sys
import warnings


@contextlib.contextmanager
def native_stderr_silenced():
    """Sends file descriptor 2 (what C/C++ code writes to) to /dev/null for the block.

    Python's own `sys.stderr` is flushed first and restored after, so an
    exception raised inside the block is still reported.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def silence_libraries():
    """Library chatter off for this process: TensorFlow's native log level (for every
    later line) and Python warnings (pandas, matplotlib, Keras), which `--verbose` keeps."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    warnings.simplefilter("ignore")


def import_tensorflow(verbose=False):
    """Imports TensorFlow (and Keras) once; quietly unless `verbose`.

    Args:
        verbose: keep TensorFlow's start-up and library log lines.

    Returns:
        The `tensorflow` module.
    """
    if verbose:
        import tensorflow as tf

        return tf
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # as `silence_libraries`, which the CLI calls first
    with native_stderr_silenced():
        import keras  # noqa: F401  (Keras's backend start-up logs too)
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf
