"""A task's serving function: `serve` traced over its signature, and called on raw inputs.

`Task.predict` calls the traced function eagerly and `Task.export` saves it as
the `serving_default` signature, so the two run the same graph.
"""

import numpy as np

from rnn_tasks.inputs import plain


def trace(serve, signature):
    """`serve` as a `tf.function` over `signature`, taking the inputs in its order.

    Args:
        serve: `{input name: tensor}` -> `{output name: tensor}`.
        signature: `{input name: tf.TensorSpec}` (`Task.serving_signature`).

    Returns:
        The `tf.function`.
    """
    import tensorflow as tf

    names = list(signature)

    # No autograph: serve() has no Python control flow on tensors (decoding
    # loops are explicit tf.while_loops), so nothing needs converting.
    @tf.function(input_signature=list(signature.values()), autograph=False)
    def serving_default(*args):
        return serve(dict(zip(names, args)))

    return serving_default


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
