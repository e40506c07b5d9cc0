"""A task's serving function: `serve` traced over its signature, and called on raw inputs.

`Task.predict` calls the traced function eagerly and `Task.export` saves it as
the `serving_default` signature, so the two run the same graph.
"""

import numpy as np

from rnn_tasks.errors import UserError
from rnn_tasks.inputs import plain


def trace(serve, signature, checked_inputs):
    """`serve` as a `tf.function` over `signature`, taking the inputs in its order, after
    `checked_shapes` and `checked_inputs` (a request they refuse fails).

    Args:
        serve: `{input name: tensor}` -> `{output name: tensor}`.
        signature: `{input name: tf.TensorSpec}` (`Task.serving_signature`).
        checked_inputs: `{input name: tensor}` -> the same, each after the task's value
            checks (`Task.checked_inputs`).

    Returns:
        The `tf.function`.
    """
    import tensorflow as tf

    names = list(signature)

    # No autograph: serve() has no Python control flow on tensors (decoding
    # loops are explicit tf.while_loops), so nothing needs converting.
    @tf.function(input_signature=list(signature.values()), autograph=False)
    def serving_default(*args):
        return serve(checked_inputs(checked_shapes(dict(zip(names, args)), signature)))

    return serving_default


def checked_shapes(inputs, signature):
    """The inputs, made to fail the request (`InvalidArgumentError`, core ops) where a
    shape is not the signature's, or where inputs with a batch dimension have different
    batch sizes (they would be broadcast over each other).

    TF Serving feeds a request's tensors as they come; without this, a window of the
    wrong length fails deep inside the model, in words about its insides. The checks
    read the run-time shape padded with zeros past the rank, which graph optimization
    cannot fold to the static shape.

    Args:
        inputs: `{input name: tensor}` as the serving function receives them.
        signature: `{input name: tf.TensorSpec}`; `None` dimensions take any size,
            a leading `None` is the batch.

    Returns:
        `{input name: tensor}`, each tensor after its checks.
    """
    import tensorflow as tf

    checked, batch = {}, None
    for name, tensor in inputs.items():
        dims = signature[name].shape.as_list()
        shape = tf.shape(tensor, out_type=tf.int64)
        padded = tf.pad(shape, [[0, len(dims) + 1]])[:len(dims) + 1]
        fits = [tf.equal(padded[len(dims)], 0),  # no dimension beyond the rank
                tf.equal(tf.size(tensor, out_type=tf.int64), tf.reduce_prod(padded[:len(dims)])),
                *[tf.equal(padded[i], size) for i, size in enumerate(dims) if size is not None]]
        asserts = [tf.debugging.Assert(tf.reduce_all(tf.stack(fits)), [
            f"`{name}` must have shape {described(dims)}, got", shape])]
        if dims and dims[0] is None:
            if batch is None:
                batch = (name, padded[0])
            else:
                asserts.append(tf.debugging.Assert(tf.equal(padded[0], batch[1]), [
                    f"`{name}` must have one row per `{batch[0]}` row; batch sizes:",
                    padded[0], batch[1]]))
        with tf.control_dependencies(asserts):
            checked[name] = tf.identity(tensor)
    return checked


def checked_text(name, text):
    """`text` (strings), made to fail the request where a string is not UTF-8 or has a
    NUL character, as `predict` refuses them: tokenized, invalid bytes would be
    answered as unknown words, and translation's tokenizer stops at a NUL.

    Args:
        name: the input's name, for the message.
        text: string tensor.

    Returns:
        `text`, after the checks.

    Example:
    >>> import tensorflow as tf
    >>> checked_text("text", tf.constant([b"caf\\xc3\\xa9 \\xef\\xbf\\xbd"])).shape
    TensorShape([1])
    """
    import tensorflow as tf

    # Transcoding replaces each invalid sequence (a U+FFFD already in the text stays as is).
    same = tf.equal(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), text)
    valid = tf.debugging.Assert(tf.reduce_all(same), [
        f"`{name}` must be UTF-8 text; not UTF-8 at row(s)", tf.where(~same)[:, 0]])
    nul = tf.strings.regex_full_match(text, "(?s).*\\x00.*")
    without_nul = tf.debugging.Assert(~tf.reduce_any(nul), [
        f"`{name}` must be text without NUL characters; NUL at row(s)", tf.where(nul)[:, 0]])
    with tf.control_dependencies([valid, without_nul]):
        return tf.identity(text)


def described(dims):
    """A signature's shape in words: `[batch, 20, 1]` (a leading `None` is the batch, any
    other `None` is `any`).

    Example:
    >>> described([None, None, 3])
    '[batch, any, 3]'
    """
    return "[" + ", ".join("batch" if size is None and i == 0 else "any" if size is None
                           else str(size) for i, size in enumerate(dims)) + "]"


def unfit_input(signature, shapes):
    """The first input whose shape the serving signature does not take.

    Args:
        signature: `{input name: tf.TensorSpec}`.
        shapes: `{input name: shape}` (a tuple or `tf.TensorShape`) for the same names.

    Returns:
        `(name, shape as a list, the signature's shape in words)`, or `None` when every
        shape fits.

    Example:
    >>> import tensorflow as tf
    >>> unfit_input({"values": tf.TensorSpec([None, 20, 1])}, {"values": (2, 7, 1)})
    ('values', [2, 7, 1], '[batch, 20, 1]')
    """
    for name, spec in signature.items():
        shape = [None if size is None else int(size) for size in shapes[name]]
        if not spec.shape.is_compatible_with(shape):
            return name, shape, described(spec.shape.as_list())
    return None


def call(function, signature, arrays):
    """Calls a serving function on one array per input.

    Args:
        function: a function from `trace`.
        signature: its `{input name: tf.TensorSpec}`.
        arrays: one array per input, in signature order (`Task.input_list`).

    Returns:
        `{output name: numpy array}`, text as `str`.
    """
    import tensorflow as tf

    tensors = [tf.convert_to_tensor(value, dtype=spec.dtype)
               for spec, value in zip(signature.values(), arrays)]
    unfit = unfit_input(signature, dict(zip(signature, (t.shape for t in tensors))))
    if unfit:
        name, shape, wanted = unfit
        raise UserError(f"predict: `{name}` must have shape {wanted}, got {shape}")
    return {name: plain(value) for name, value in function(*tensors).items()}


def in_batches(predict, inputs, output, batch_size=256):
    """One output of `predict` over many raw inputs, `batch_size` at a time.

    Args:
        predict: `Task.predict` (raw inputs -> `{output name: array}`).
        inputs: a sequence of raw inputs of the single serving input.
        output: the serving output's name.
        batch_size: inputs per call. Default: `256`.

    Returns:
        NumPy array of the output for all inputs.
    """
    if not isinstance(inputs, np.ndarray):  # lists of texts or bytes stay whole objects
        inputs = np.asarray(inputs, dtype=object)
    return np.concatenate([predict(inputs[i:i + batch_size])[output]
                           for i in range(0, len(inputs), batch_size)])
