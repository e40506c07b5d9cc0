"""A forecaster's raw inputs, from Python or from files, checked before the model sees them.

The serving inputs are `history` float32 [batch, window, n_features] (targets,
then feature columns) and, with known-future inputs, `future` float32
[batch, horizon, n_future] and `future_dates` int64 [batch, horizon] (Unix
seconds). Each check raises a one-line `UserError` naming the input, the
shape or values allowed and what it got.
"""

import warnings

import numpy as np
import pandas as pd

from rnn_tasks.data.readers import parse_dates, require_columns, text_cells, wall_clock
from rnn_tasks.errors import UserError
from rnn_tasks.inputs import named_input
from rnn_tasks.templates import forecast_data

FLOAT32_MAX = forecast_data.FLOAT32_MAX


def serving_arrays(inputs, data, future_names):
    """`predict`'s raw inputs -> one array per serving input, in signature order.

    Args:
        inputs: a history array (`[batch, window, features]`, `[window,
            features]`, or `[window]` for a model of one column) or a dict of
            serving inputs (`ForecastingTask.predict` reads a `pandas.DataFrame`
            with `table_inputs` first).
        data: the task's `config.data`.
        future_names: the known-future inputs the model reads (`future`,
            `future_dates`).

    Returns:
        `[history, future?, future_dates?]` as float32 / int64 arrays.
    """
    if future_names and not isinstance(inputs, dict):
        named = ", ".join(f"{name!r}: ..." for name in future_names)
        raise UserError(f"predict: this model also reads {', '.join(map(repr, future_names))}; "
                        f"pass a dict {{'history': ..., {named}}}")
    unread = sorted(set(inputs) - {"history", *future_names}) if isinstance(inputs, dict) else []
    if unread and "history" in inputs:
        raise UserError(f"predict: this model does not read {', '.join(map(repr, unread))} "
                        f"(it reads {', '.join(map(repr, ['history', *future_names]))})")
    lacking = [name for name in future_names if name not in inputs]
    if lacking and "history" in inputs:
        raise UserError(f"predict: the inputs lack {', '.join(map(repr, lacking))} (this model "
                        f"reads {', '.join(map(repr, ['history', *future_names]))})")
    history = history_array(named_input(inputs, "history"), data)
    arrays = [history]
    if "future" in future_names:
        arrays.append(future_array(inputs.get("future"), data, len(history)))
    if "future_dates" in future_names:
        arrays.append(future_dates_array(inputs.get("future_dates"), data, len(history)))
    return arrays


def history_array(values, data):
    """`history` as float32 `[batch, window, features]`, finite (positive for log scaling)."""
    columns = list(data.target_columns) + list(data.feature_columns)
    kind = np.asarray(values).dtype.kind
    if kind in "bcUS":  # True/False, complex or text: NumPy would read them as numbers
        got = {"b": "True/False", "c": "complex"}.get(kind, "text")
        raise UserError(f"predict: `history` must be real numbers, got {got} values")
    try:
        history = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise UserError("predict: `history` must be numbers [batch, window, features] "
                        f"(or [window, features]), got {type(values).__name__}") from None
    if history.ndim == 1 and len(columns) == 1:  # one series of one column: a list, a Series
        history = history[:, None]
    if history.ndim == 2:
        history = history[None]
    expected = (data.window, len(columns))
    if history.ndim != 3 or history.shape[1:] != expected:
        one = f"[{expected[0]}, {expected[1]}]" + (f" or [{expected[0]}]" if expected[1] == 1 else "")
        raise UserError(
            f"predict: `history` must have shape [batch, {expected[0]}, {expected[1]}] "
            f"(window, features: {', '.join(columns)}), or {one} for one series; "
            f"got {list(np.shape(values))}")
    if not (np.abs(history) <= FLOAT32_MAX).all():
        raise UserError("predict: `history` has missing, infinite or too large values; "
                        "the model forecasts from finite float32 numbers")
    history = history.astype("float32")  # 1e-46 is 0 from here on
    if data.scaling == "log" and (history <= 0).any():
        raise UserError("predict: `history` has values <= 0 (as float32, which rounds below "
                        "1.4e-45 to 0); this model (scaling = 'log') forecasts from positive "
                        "values")
    return history


def future_array(values, data, batch):
    """`future` as float32 `[batch, horizon, n_future]` (`[horizon, n_future]` for one), finite."""
    columns = data.future_columns
    expected = [batch, data.horizon, len(columns)]
    try:
        future = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        future = np.zeros(0)
    future = future[None] if future.ndim == 2 else future
    if list(future.shape) != expected:
        raise UserError(f"predict: `future` must have shape {expected} (batch, horizon, future "
                        f"columns: {', '.join(columns)}), got "
                        f"{list(np.shape(values)) if values is not None else None}")
    if not (np.abs(future) <= FLOAT32_MAX).all():
        raise UserError("predict: `future` has missing, infinite or too large values")
    return future.astype("float32")


def future_dates_array(values, data, batch):
    """`future_dates` as int64 Unix seconds `[batch, horizon]` (`[horizon]` for one); ISO 8601
    text and datetime64 are converted."""
    expected = [batch, data.horizon]
    dates = np.asarray(values if values is not None else [])
    if dates.dtype.kind in "USOM":  # text or datetime64
        dates = as_seconds(dates)
    if dates.dtype.kind == "u" and (dates > np.iinfo("int64").max).any():
        raise UserError("predict: `future_dates` has values beyond int64 Unix seconds")
    dates = dates[None] if dates.ndim == 1 else dates
    if list(dates.shape) != expected or dates.dtype.kind not in "iu":
        raise UserError(f"predict: `future_dates` must be int64 Unix seconds (or dates) of shape "
                        f"{expected}, got {dates.dtype} {list(dates.shape)}")
    low, high = forecast_data.SECONDS_RANGE
    outside = (dates < low) | (dates > high)
    if outside.any():
        raise UserError(f"predict: `future_dates` {forecast_data.DATES_ALLOWED}, "
                        f"got {dates[outside][0]}")
    return dates.astype("int64")


def as_seconds(dates):
    """Dates (ISO 8601 text or datetime64) -> int64 Unix seconds of their wall-clock
    time (an offset such as `+09:00` is dropped, as in training files).

    Example:
    >>> as_seconds(np.array(["1970-01-02", "2000-01-01 00:00:01+09:00"])).tolist()
    [86400, 946684801]
    """
    try:
        parsed = wall_clock(pd.Series(dates.ravel()))
    except (TypeError, ValueError):
        raise UserError("predict: `future_dates` must be int64 Unix seconds or ISO 8601 dates, "
                        f"got {dates.ravel()[:1].tolist()}") from None
    if parsed.isna().any():
        bad = dates.ravel()[parsed.isna().to_numpy()][0]
        bad = bad.item() if hasattr(bad, "item") else bad  # 'soon', not np.str_('soon')
        raise UserError(f"predict: `future_dates` has a missing or non-date value {bad!r}; give "
                        "one ISO 8601 date per forecast step")
    seconds = parsed.to_numpy().astype("datetime64[s]").astype("int64")
    return seconds.reshape(dates.shape)


def table_inputs(frame, data, names, name):
    """The forecasts' inputs from a table: one forecast per series (`forecast_data.table_series`).

    Of each series, the last `window` rows with values are the history; when the
    model reads known-future inputs, the series ends with the `horizon` rows to
    forecast (their dates and future columns are read, their value cells are not).

    Args:
        frame: a `pandas.DataFrame` with the recipe's columns.
        data: the task's `config.data`.
        names: the serving inputs to return.
        name: what errors call the table (its file, "the data frame").

    Returns:
        `(inputs, labels)`: `{name: array [series, ...]}`, the series in
        `forecast_data.table_series` order, and what tells the forecasts apart:
        `"series"` (the group names, with a group column) and `"dates"` (each
        forecast's step dates, with a date column; see `step_dates`).
    """
    columns = [*data.target_columns, *data.feature_columns, *data.future_columns]
    frame = require_columns(frame, columns + ([data.date_column] if data.date_column else []), name)
    if frame.empty:
        raise UserError(f"{name} has no rows; give the last {data.window} rows of each series")
    groups = forecast_data.table_series(frame, data)
    parts = ({None: frame} if groups == [None] else
             dict(list(frame.groupby(text_cells(frame[data.group_column]), sort=False))))
    rows = [series_inputs(parts[group], data, names,
                          name if group is None else f"{name} (series {group!r})")
            for group in groups]
    labels = {"series": groups} if groups != [None] else {}
    if data.date_column:  # [series, horizon], None for an irregular history's
        labels["dates"] = [dates or [None] * data.horizon for _, dates in rows]
    return {key: np.stack([inputs[key] for inputs, _ in rows]) for key in names}, labels


def step_dates(dates, window, horizon):
    """The dates of a forecast's steps as text, for a history without rows to forecast:
    its step (`pandas.infer_freq` of its last `window` dates: daily, business days,
    hourly, month ends...; business days for `trading_days`) continued; `None` where
    the history is irregular.

    Example:
    >>> weekdays = pd.bdate_range("2024-05-02", "2024-05-10").to_numpy()  # Thursday to Friday
    >>> step_dates(weekdays, 7, 2)
    ['2024-05-13', '2024-05-14']
    """
    history = pd.DatetimeIndex(dates[-window:])
    with warnings.catch_warnings():  # pandas 4 returns an offset, which date_range takes too
        warnings.simplefilter("ignore", DeprecationWarning)
        step = pd.infer_freq(history) if len(history) >= 3 else None
    if step is None and trading_days(history):
        step = "B"  # the holidays ahead are unknown: business days
    if step is None:
        return None
    following = pd.date_range(history[-1], periods=horizon + 1, freq=step)[1:]
    return [forecast_data.date_text(date) for date in following]


def cell_text(cell):
    """A date cell as the table wrote it: text as it is, a timestamp in ISO 8601 (with
    its UTC offset, if it has one: a local hour that daylight saving time repeats is
    two different dates).

    Example:
    >>> cell_text(" 2021-10-31T02:00+01:00"), cell_text(pd.Timestamp("2021-10-31 02:00+02:00"))
    ('2021-10-31T02:00+01:00', '2021-10-31 02:00:00+02:00')
    """
    if isinstance(cell, str):
        return cell.strip()
    stamp = pd.Timestamp(cell)
    return stamp.isoformat(sep=" ") if stamp.tzinfo else forecast_data.date_text(stamp.to_datetime64())


def trading_days(dates):
    """Whether `dates` are weekdays at midnight, each one to three business days after the
    one before and most of them the next: business days with holidays left out (an
    exchange's trading days), which `pandas.infer_freq` calls irregular.

    Example:
    >>> trading_days(pd.bdate_range("2024-12-18", "2024-12-27").drop(pd.Timestamp("2024-12-25")))
    True
    >>> trading_days(pd.DatetimeIndex(["2024-03-04", "2024-03-07", "2024-03-11", "2024-03-14"]))
    False
    """
    if len(dates) < 3 or (dates != dates.normalize()).any() or (dates.day_of_week >= 5).any():
        return False
    days = dates.to_numpy().astype("datetime64[D]")
    apart = np.busday_count(days[:-1], days[1:])  # mostly 1: not Mondays and Thursdays
    return bool(((apart >= 1) & (apart <= 3)).all() and (apart == 1).mean() >= 0.8)


def about(name, error):
    """A `UserError` about the data as one about `name` (its file and series)."""
    return UserError(f"{name}: {str(error).removeprefix('data: ')}")


def series_inputs(frame, data, names, name):
    """One forecast's inputs from the rows of one series (see `table_inputs`).

    Returns:
        `({name: array}` without the batch axis, its `step_dates` or `None`).
    """
    window, horizon = data.window, data.horizon
    ahead = horizon if len(names) > 1 else 0
    if data.date_column:  # in date order, as training reads a table
        try:
            instants = parse_dates(frame[data.date_column], data.date_format).to_numpy()
        except UserError as error:
            raise about(name, error) from None
        frame = frame.iloc[np.argsort(instants, kind="stable")]
    empty = frame[data.target_columns].isna().all(axis=1).to_numpy()  # rows without values
    if not ahead and empty[-1]:  # Darts' layout: the steps to forecast as rows without values
        trailing = int(np.argmin(empty[::-1])) if not empty.all() else len(empty)
        raise UserError(f"{name}: the last {trailing} row(s) (by date) have no "
                        f"{', '.join(map(repr, data.target_columns))} value: rows to forecast? "
                        "This model reads no known-future inputs (data.future_columns); give the "
                        "history only")
    if len(frame) < window + ahead:
        needs = f"the last {window}" + (f" plus {horizon} rows to forecast" if ahead else "")
        raise UserError(f"{name}: has {len(frame)} rows, the model needs {needs}")
    older = len(frame) - window - ahead
    frame, empty = frame.iloc[older:], empty[older:]  # what it reads: older rows may have gaps
    if ahead:  # the rows to forecast: exactly the last `horizon`, their values left empty
        if not empty[-ahead:].all() or empty[:-ahead].any():
            raise UserError(f"{name}: the last {horizon} rows (by date) are the steps to "
                            f"forecast: leave their {', '.join(map(repr, data.target_columns))} "
                            "cells empty and fill the rows before them (of the last "
                            f"{window + ahead} rows, {int(empty.sum())} have them empty)")
    try:
        series = forecast_data.read_series(frame, data, None, ahead, first_row=older)
    except UserError as error:
        raise about(name, error) from None
    if series.dropped_duplicates:
        raise UserError(f"{name}: {series.dropped_duplicates} row(s) repeat a date; a forecast's "
                        "table holds one row per step")
    inputs = {"history": series.values[-window:].astype("float32")}
    if ahead:
        inputs["future"] = series.known[-ahead:].astype("float32")
        inputs["future_dates"] = series.seconds[-ahead:]
    if not data.date_column:
        dates = None
    elif ahead:  # those of the rows to forecast, as the table writes them (offsets kept)
        dates = [cell_text(cell) for cell in frame[data.date_column].iloc[-ahead:]]
    else:
        dates = step_dates(series.dates, window, horizon)
    return {key: inputs[key] for key in names}, dates
