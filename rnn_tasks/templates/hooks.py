"""Checks of what a template's overridable steps return.

A subclass that overrides `load_data`, `build_model`, `training_data`, `assemble`,
`callbacks`, `warmup_inputs` or `serve` and returns the wrong thing gets one
`UserError` naming its class, the step, what the template expects and what it
got, instead of an error deep inside Keras's `fit`.

Example:
>>> check_returned("MyTask", "load_data", [], dict)
Traceback (most recent call last):
...
rnn_tasks.errors.UserError: MyTask.load_data must return a dict, got list
"""

from rnn_tasks.errors import UserError


def check_returned(owner, hook, value, expected, expected_name=None):
    """`value` if it is an instance of `expected`, else `UserError`.

    Args:
        owner: the name of the task's class.
        hook: the step's name, e.g. `"load_data"`.
        value: what the step returned.
        expected: a type or a tuple of types.
        expected_name: how to call `expected` in the message. Default: `a <type name>`.

    Returns:
        `value`.
    """
    if not isinstance(value, expected):
        name = expected_name or f"a {expected.__name__}"
        raise UserError(f"{owner}.{hook} must return {name}, got {type(value).__name__}")
    return value


def check_training_data(owner, split, value):
    """`training_data(split)` returns `(inputs, targets)` or a `tf.data.Dataset`."""
    import tensorflow as tf

    if isinstance(value, tf.data.Dataset) or (isinstance(value, tuple) and len(value) == 2):
        return value
    got = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
    raise UserError(f"{owner}.training_data({split!r}) must return (inputs, targets) arrays or a "
                    f"tf.data.Dataset of such batches, got {got}")


def check_core_shapes(owner, core, element_spec):
    """The core's inputs take what the template feeds it, and its output has the targets'
    shape (plus, at most, one trailing axis: classes or quantiles).

    Args:
        owner: the name of the task's class.
        core: the Keras model `build_model` returned.
        element_spec: `(inputs, targets)` specs of the training batches.
    """
    import keras

    feeds, targets = element_spec
    fed = [_shape(spec) for spec in keras.tree.flatten(feeds)]
    taken = [_shape(tensor) for tensor in core.inputs]
    if len(fed) != len(taken) or not all(map(_compatible, fed, taken)):
        raise UserError(f"{owner}.build_model returned a model whose input shape(s) are "
                        f"{_listed(taken)}; the template feeds it {_listed(fed)} "
                        "(None: the batch, or any length)")
    wanted = [_shape(spec) for spec in keras.tree.flatten(targets)]
    given = [_shape(tensor) for tensor in core.outputs]
    if len(wanted) == len(given) and not all(
            _compatible(w, g) or _compatible(w, g[:-1]) for w, g in zip(wanted, given)):
        raise UserError(f"{owner}.build_model returned a model whose output shape(s) are "
                        f"{_listed(given)}; the targets have shape(s) {_listed(wanted)} "
                        "(an output may add one last axis, for classes or quantiles)")


def check_warmup_inputs(owner, value, signature):
    """`warmup_inputs(count)` returns `{input name: array}` that the serving signature
    takes (TF Serving refuses a model whose warmup requests fail), checked before training.

    Args:
        owner: the name of the task's class.
        value: what `warmup_inputs` returned.
        signature: `serving_signature()`, `{input name: tf.TensorSpec}`.

    Returns:
        `value`.

    Example:
    >>> import numpy as np, tensorflow as tf
    >>> signature = {"values": tf.TensorSpec([None, 20, 1], tf.float32)}
    >>> check_warmup_inputs("SumTask", {"values": np.zeros((2, 7, 1))}, signature)
    Traceback (most recent call last):
    ...
    rnn_tasks.errors.UserError: SumTask.warmup_inputs returned `values` of shape [2, 7, 1]; the serving signature takes [batch, 20, 1]
    """
    import numpy as np

    from rnn_tasks.templates.serving import unfit_input

    check_returned(owner, "warmup_inputs", value, dict, "a dict {input name: array}")
    if set(value) != set(signature):
        raise UserError(f"{owner}.warmup_inputs returned the inputs {_listed(sorted(value))}; "
                        f"the serving signature takes {_listed(list(signature))}")
    unfit = unfit_input(signature, {name: np.shape(array) for name, array in value.items()})
    if unfit:
        name, shape, wanted = unfit
        raise UserError(f"{owner}.warmup_inputs returned `{name}` of shape {shape}; the "
                        f"serving signature takes {wanted}")
    return value


def _shape(tensor):
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _compatible(fed, taken):
    """Same rank and equal sizes where both are known (the batch axis never is)."""
    return len(fed) == len(taken) and all(
        a is None or b is None or a == b for a, b in zip(fed[1:], taken[1:]))


def _listed(shapes):
    return ", ".join(str(shape) for shape in shapes)
