"""Calendar features from Unix seconds, inside the model.

A forecaster with `data.calendar` reads, for each step it forecasts, the day
of the week, of the month, the month, the day of the year and the hour of
that step. They are computed from int64 Unix seconds with integer arithmetic
only (floor division and remainder; Howard Hinnant's `civil_from_days`), so
the exported graph takes a `future_dates` input and needs no date library
and no op outside core TensorFlow. Dates are read as UTC (naive dates as
they are written), as pandas reads them.

Each feature enters the network as a point on a circle (sine and cosine of
its phase), so December is next to January and Sunday next to Monday.
"""

import math

import keras
from keras import ops

SECONDS_PER_DAY = 86400
# name -> (first value, period): the phase is 2 pi (value - first) / period.
CYCLES = {"day_of_week": (0, 7), "day_of_month": (1, 31), "month": (1, 12),
          "day_of_year": (1, 366), "hour": (0, 24)}


def calendar_values(seconds, names):
    """Integer calendar features of int64 Unix seconds, as pandas numbers them.

    Args:
        seconds: int64 tensor or array of Unix seconds, any shape.
        names: features from `day_of_week` (Monday = 0), `day_of_month`
            (1-31), `month` (1-12), `day_of_year` (1-366), `hour` (0-23).

    Returns:
        `{name: int64 tensor of the shape of seconds}`.

    Example:
    >>> import numpy as np
    >>> values = calendar_values(np.array([1709208000]), ["day_of_week", "month", "hour"])
    >>> {k: int(ops.convert_to_numpy(v)[0]) for k, v in values.items()}  # Thu 2024-02-29 12:00
    {'day_of_week': 3, 'month': 2, 'hour': 12}
    """
    seconds = ops.cast(seconds, "int64")
    days = ops.floor_divide(seconds, SECONDS_PER_DAY)
    year, month, day = _civil_from_days(days)
    values = {
        "day_of_week": ops.mod(days + 3, 7),  # 1970-01-01 was a Thursday
        "day_of_month": day,
        "month": month,
        "day_of_year": days - _days_before_year(year) + 1,
        "hour": ops.floor_divide(ops.mod(seconds, SECONDS_PER_DAY), 3600),
    }
    return {name: values[name] for name in names}


def _civil_from_days(days):
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian."""
    z = days + 719468  # days since 0000-03-01
    era = ops.floor_divide(z, 146097)
    day_of_era = z - era * 146097  # [0, 146096]
    year_of_era = ops.floor_divide(
        day_of_era - ops.floor_divide(day_of_era, 1460) + ops.floor_divide(day_of_era, 36524)
        - ops.floor_divide(day_of_era, 146096), 365)  # [0, 399]
    day_of_march_year = day_of_era - (365 * year_of_era + ops.floor_divide(year_of_era, 4)
                                      - ops.floor_divide(year_of_era, 100))  # [0, 365]
    month_from_march = ops.floor_divide(5 * day_of_march_year + 2, 153)  # [0, 11]
    day = day_of_march_year - ops.floor_divide(153 * month_from_march + 2, 5) + 1
    january_or_february = ops.cast(month_from_march >= 10, "int64")
    month = month_from_march + 3 - 12 * january_or_february
    return year_of_era + era * 400 + january_or_february, month, day


def _days_before_year(year):
    """Days from 1970-01-01 to January 1 of `year` (the inverse of `_civil_from_days`)."""
    previous = year - 1  # January counts in the March-based year before
    era = ops.floor_divide(previous, 400)
    year_of_era = previous - era * 400
    day_of_era = (365 * year_of_era + ops.floor_divide(year_of_era, 4)
                  - ops.floor_divide(year_of_era, 100) + 306)  # 306: March 1 -> January 1
    return era * 146097 + day_of_era - 719468


@keras.saving.register_keras_serializable(package="rnn_tasks")
class CalendarFeatures(keras.layers.Layer):
    """int64 Unix seconds `(...)` -> `(..., 2 * len(names))` sines and cosines.

    Args:
        names: calendar features, a list from `CYCLES`.

    Example:
    >>> import numpy as np
    >>> layer = CalendarFeatures(["day_of_week"])
    >>> ops.convert_to_numpy(layer(np.array([0]))).astype(float).round(3).tolist()  # a Thursday
    [[0.434, -0.901]]
    """

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        unknown = [name for name in names if name not in CYCLES]
        if unknown:
            raise ValueError(f"Received an invalid value for argument `names`, expected names "
                             f"from {list(CYCLES)}, got {unknown}")
        self.names = list(names)

    def call(self, seconds):
        values = calendar_values(seconds, self.names)
        features = []
        for name in self.names:
            first, period = CYCLES[name]
            phase = ops.cast(values[name] - first, "float32") * (2 * math.pi / period)
            features += [ops.sin(phase), ops.cos(phase)]
        return ops.stack(features, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, 2 * len(self.names))

    def get_config(self):
        return {**super().get_config(), "names": self.names}
