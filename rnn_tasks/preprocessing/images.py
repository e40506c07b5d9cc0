"""Image bytes -> model input, with core TensorFlow ops only (graph- and Serving-safe)."""

import functools
import re
from pathlib import Path

import keras
import tensorflow as tf

from rnn_tasks.errors import UserError
from rnn_tasks.quiet import native_stderr_silenced

PNG, JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
MAGIC = {PNG: "PNG", JPEG: "JPEG"}
# Pillow's decompression-bomb limit: a few KB of PNG can name a 65535 x 65535 canvas,
# whose decoding alone would take 12 GB.
MAX_PIXELS = 89_478_485


def decode_rgb(data):
    """PNG or JPEG bytes (scalar string) -> uint8 `[height, width, 3]`, core ops only.

    The format and the size are read from the header before decoding: other formats
    (GIF, BMP, WebP, which `tf.io.decode_image` would take) and images over
    `MAX_PIXELS` raise `tf.errors.InvalidArgumentError`, as corrupt bytes do.
    """
    pixels = image_pixels(data)
    small = tf.debugging.Assert(pixels <= MAX_PIXELS, [
        "image has", pixels, f"pixels, more than the {MAX_PIXELS} allowed"])
    with tf.control_dependencies([small]):
        return tf.io.decode_image(data, channels=3, expand_animations=False)


def image_pixels(data):
    """Width x height (int64 scalar) of PNG or JPEG bytes, read from the header.

    Raises:
        tf.errors.InvalidArgumentError: bytes that are not a PNG or JPEG image.

    Example:
    >>> int(image_pixels(tf.io.encode_png(tf.zeros([3, 5, 3], tf.uint8))))
    15
    """
    is_png = tf.equal(tf.strings.substr(data, 0, len(PNG)), PNG)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, len(JPEG)), JPEG)
    known = tf.debugging.Assert(is_png | is_jpeg, ["image bytes are not a PNG or JPEG image"])
    with tf.control_dependencies([known]):
        return tf.cond(is_png, lambda: _png_pixels(data), lambda: tf.reduce_prod(
            tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64)))


def _png_pixels(data):
    """Width x height from a PNG's IHDR chunk (bytes 16-23, big-endian; 0 if cut short)."""
    header = tf.strings.join([tf.strings.substr(data, 0, 24), b"\0" * 24])
    size = tf.cast(tf.io.decode_raw(tf.strings.substr(header, 16, 8), tf.uint8), tf.int64)
    width, height = (tf.reduce_sum(size[i:i + 4] * [2**24, 2**16, 2**8, 1]) for i in (0, 4))
    return tf.minimum(width, 2**31) * tf.minimum(height, 2**31)  # PNG's limit: no int64 overflow


def decode_image(data, size):
    """PNG or JPEG bytes (scalar string) -> float32 `[size, size, 3]` in [0, 1].

    Grey images become RGB and RGBA ones lose their alpha (not composited); other
    sizes are resized (bilinear, and antialiased when shrinking, so a large canvas's
    noise and edges average out as a camera's would; the op, `ScaleAndTranslate`, is
    core TensorFlow).
    Bytes that are not a PNG or JPEG image, or one over `MAX_PIXELS`, raise
    `tf.errors.InvalidArgumentError` (see `decode_rgb`).
    """
    # Scaled to [0, 1] once small: the full-size image is held as uint8 and float32 only.
    image = tf.image.resize(decode_rgb(data), [size, size], antialias=True) / 255.0
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
            try:
                pixels = int(_traced_image_pixels()(data))
            except tf.errors.InvalidArgumentError:  # eagerly, the first line names the reason
                pixels = int(image_pixels(data))
            if pixels > MAX_PIXELS:
                raise UserError(f"{name} has {pixels:,} pixels, more than the {MAX_PIXELS:,} "
                                "allowed (Pillow's decompression-bomb limit); scale it down")
            tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as error:
        # Without the op's name, in graph ({{node ...}}) or eager ([Op:DecodeImage]) form.
        reason = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:\w+\]", "", error.message).splitlines()[0]
        raise UserError(f"{name} cannot be decoded: {reason}") from None


@functools.cache
def _traced_image_pixels():
    """`image_pixels` as one graph: eagerly its dozen ops take 2.7 ms an image.

    Traced on first use rather than at import, so importing stays free of TensorFlow work.
    """
    return tf.function(image_pixels, input_signature=[tf.TensorSpec([], tf.string)],
                       autograph=False)


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
