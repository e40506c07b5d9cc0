"""Keras-style checks of the cells' constructor arguments.

Each returns the value (as the type the cell stores) or raises a one-line
`ValueError`: "Received an invalid value for argument `units`, expected a
positive integer, got 0."
"""

import math
import numbers

import numpy as np


def check_units(units):
    """`units` as an `int` if it is a positive integer (NumPy's too), else a Keras-style
    `ValueError`."""
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument `units`, "
            f"expected a positive integer, got {units!r}."
        )
    return int(units)


def check_normalized_units(units, norm, effect="the output would not depend on the inputs",
                           allowed="use units >= 2"):
    """`units` unless it is 1, where the layer normalization of `norm` over the units
    would leave only its offset: then a Keras-style `ValueError`.

    Args:
        units: the checked `units` (see `check_units`).
        norm: what is normalized, for the message ("the cell state").
        effect: what the cell loses with one unit.
        allowed: what to do instead.

    Returns:
        `units`.

    Example:
    >>> check_normalized_units(1, "the summed projections")
    Traceback (most recent call last):
    ValueError: Received an invalid value for argument `units`, got 1: layer normalization of the summed projections over one unit leaves only its offset, so the output would not depend on the inputs; use units >= 2.
    """
    if units == 1:
        raise ValueError(
            "Received an invalid value for argument `units`, got 1: layer normalization of "
            f"{norm} over one unit leaves only its offset, so {effect}; {allowed}."
        )
    return units


def check_epsilon(epsilon):
    """`epsilon` as a float if it is positive and finite, else a Keras-style `ValueError`."""
    if (isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real)
            or not 0 < epsilon < math.inf):
        raise ValueError(
            "Received an invalid value for argument `norm_epsilon`, "
            f"expected a positive finite float, got {epsilon!r}."
        )
    return float(epsilon)


def check_bool(name, value):
    """`value` if it is a bool, else a Keras-style `ValueError` (a string like "no" is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"Received an invalid value for argument `{name}`, "
                         f"expected True or False, got {value!r}.")
    return bool(value)


def check_rate(name, value):
    """`value` as a float if it is in [0, 1), else a Keras-style `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, "
            f"expected a float in [0, 1), got {value!r}."
        )
    return float(value)
