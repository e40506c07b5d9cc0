"""Where a layer computes: whether to lay a loop out for an accelerator or a CPU."""

import keras


def on_accelerator(tensor):
    """Whether the current backend computes `tensor` on an accelerator (GPU, TPU).

    One public API per backend: on PyTorch the device of `tensor` itself
    (Keras places tensors on CUDA, MPS or XPU when present, or where
    `KERAS_TORCH_DEVICE` or `keras.device` says); on JAX the default
    backend; on TensorFlow the logical GPU and TPU devices (a tensor traced
    in a graph has no device yet).

    Args:
        tensor: a tensor of the current backend.

    Returns:
        `True` on a GPU or TPU, `False` on a CPU.
    """
    name = keras.backend.backend()
    if name == "torch":
        return tensor.device.type != "cpu"
    if name == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if name == "tensorflow":
        import tensorflow as tf

        return any(tf.config.list_logical_devices(kind) for kind in ("GPU", "TPU"))
    return False
