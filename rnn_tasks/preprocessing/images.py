"""Image bytes -> model input, with core TensorFlow ops only (graph- and Serving-safe)."""

import re
from pathlib import Path

import keras
import tensorflow as tf

from rnn_tasks.errors import UserError
from rnn_tasks.quiet import native_stderr_silenced

MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}


def decode_image(data, size):
    """PNG or JPEG bytes (scalar string) -> float32 `[size, size, 3]` in [0, 1].

    Grey images become RGB and RGBA ones lose their alpha (not composited); other
    sizes are resized (bilinear, and antialiased when shrinking, so a large canvas's
    noise and edges average out as a camera's would; the op, `ScaleAndTranslate`, is
    core TensorFlow).
    Bytes that are not a PNG or JPEG image raise `tf.errors.InvalidArgumentError`.
    """
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, [size, size], antialias=True)
    image.set_shape([size, size, 3])
    return image


@keras.saving.register_keras_serializable(package="rnn_tasks")
class DecodeImages(keras.layers.Layer):
    """A batch of PNG/JPEG bytes -> float32 `[batch, size, size, 3]` in [0, 1].

    Args:
        size: output height and width.

    Example:
    >>> png = tf.io.encode_png(tf.zeros([8, 8, 3], tf.uint8))
    >>> DecodeImages(4)(tf.stack([png, png])).shape
    TensorShape([2, 4, 4, 3])
    """

    def __init__(self, size, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.size = size

    def call(self, data):
        return tf.map_fn(lambda d: decode_image(d, self.size), data,
                         fn_output_signature=tf.TensorSpec([self.size, self.size, 3], tf.float32))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, 3)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def check_image_bytes(data, name):
    """Raises `UserError` unless `data` is a PNG or JPEG image that decodes whole.

    The format comes from the first bytes; decoding (the same op the model
    and the export run) catches truncated and corrupt files.
    """
    if isinstance(data, str):
        raise UserError(f"{name} is the string {data[:60]!r}: images are the file's bytes "
                        "(`open(path, 'rb').read()`), not its path")
    if not isinstance(data, bytes):
        raise UserError(f"{name} is a {type(data).__name__}: images are the bytes of a PNG or JPEG "
                        "file (`open(path, 'rb').read()`)")
    if not data:
        raise UserError(f"{name} is empty (0 bytes), not an image")
    if not any(data.startswith(magic) for magic in MAGIC):
        raise UserError(f"{name} is not a PNG or JPEG image (starts with {data[:8]!r})")
    try:
        with native_stderr_silenced():  # libjpeg prints its own line for a truncated file
            tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as error:
        # Without the op's name, in graph ({{node ...}}) or eager ([Op:DecodeImage]) form.
        reason = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:\w+\]", "", error.message).splitlines()[0]
        raise UserError(f"{name} cannot be decoded: {reason}") from None


def read_image_file(path):
    """The bytes of a PNG or JPEG file that decodes; `UserError` if missing or not."""
    if Path(path).exists() and not Path(path).is_file():
        raise UserError(f"image {path} is not a regular file (a folder, device or pipe)")
    try:
        data = open(path, "rb").read()
    except OSError as error:
        raise UserError(f"cannot read image {path}: {error.strerror}") from None
    check_image_bytes(data, str(path))
    return data
