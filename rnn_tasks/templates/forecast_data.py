"""Forecasting data: series read from a table, split by time, cut into windows.

A table holds one series, or many told apart by `data.group_column`
(`data.group`: one name, a list, or `"*"` for all). Each series is sorted by
date (repeated dates keep the last row), checked, split chronologically on
its own (70/15/15 of its length by default) and cut into windows on its own,
so no window mixes two series and no target crosses a split boundary. The
windows of all series are then pooled: one model learns from all of them.

Per row a series holds its values (`target_columns` then `feature_columns`,
the history the network reads), its known-future values (`future_columns`)
and its date as int64 Unix seconds (calendar features are computed from them
inside the model).
"""

import dataclasses
import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from rnn_tasks.data.readers import parse_dates, text_cells, wall_clock
from rnn_tasks.data.windows import make_windows, split_bounds, steps_ahead, window_starts
from rnn_tasks.errors import UserError, notice

SPLITS = ("train", "validation", "test")
FLOAT32_MAX = float(np.finfo("float32").max)


@dataclasses.dataclass
class Series:
    """One series of a table.

    Attributes:
        name: its group value (`None` for a table without a group column).
        dates: `(N,)` timestamps (or row numbers without a date column).
        values: `(N, F)` float64, targets first, then the feature columns.
        known: `(N, K)` float64 values of the future columns.
        seconds: `(N,)` int64 Unix seconds of the dates (0 without dates).
        bounds: `{split: (start, stop)}` row ranges.
        dropped_duplicates: rows with a repeated date that were dropped.
    """

    name: object
    dates: np.ndarray
    values: np.ndarray
    known: np.ndarray
    seconds: np.ndarray
    bounds: dict
    dropped_duplicates: int = 0


class Windows(NamedTuple):
    """Windows of one split, from one or many series (row `i` from `series[i]`).

    `history` first, so `windows[0]` is what the network reads.
    """

    history: np.ndarray  # (n, W, F) raw values
    future: np.ndarray  # (n, W, H, T) the targets after each step
    starts: np.ndarray  # (n,) window start, a row of its series
    known: np.ndarray  # (n, W, H, K) future columns after each step
    dates: np.ndarray  # (n, W, H) int64 Unix seconds after each step
    series: np.ndarray  # (n,) index into the list of series

    def take(self, rows):
        """The windows at `rows` (indices or a boolean mask)."""
        return Windows(*(part[rows] for part in self))


@dataclasses.dataclass
class ForecastData:
    """Every chosen series and the pooled windows of each split."""

    series: list
    windows: dict

    @property
    def dropped_duplicates(self):
        return sum(s.dropped_duplicates for s in self.series)

    @property
    def names(self):
        return [s.name for s in self.series]


def chosen_groups(frame, data):
    """The groups `data.group` names, each a value of the group column (`table_series`,
    which refuses rows without one).

    Returns:
        A list of group names, or `[None]` when the table has no group column
        (a file without it is one series).
    """
    present = table_series(frame, data)
    if present == [None] or data.group == "*":
        return present
    wanted = [str(name) for name in (data.group if isinstance(data.group, list) else [data.group])]
    for name in wanted:
        if name not in present:
            listed = ", ".join(map(repr, present[:20])) + (", ..." if len(present) > 20 else "")
            raise UserError(f"data: `group` must be one of the values of column "
                            f"{data.group_column!r} ({listed}), got {name!r}")
    return list(wanted)


def table_series(frame, data):
    """The series a table holds: the sorted values of its group column, or `[None]` for a
    table without one (one series). Forecasts and `evaluate --data` read every series
    of their table, not only those of `data.group`: a model forecasts series it never saw."""
    column = data.group_column
    if not column or column not in frame.columns:
        return [None]
    names = text_cells(frame[column])
    blank = (names.str.strip() == "").to_numpy()
    if blank.any():
        raise UserError(f"data: column {column!r} (data.group_column) has {int(blank.sum())} empty "
                        f"cell(s), first in row {int(np.argmax(blank)) + 1}; name the series of "
                        "every row, or drop the column for a table of one series")
    return series_names(names)


def series_names(names):
    """The distinct `names`, in numeric order where every one is a finite number (series
    2 before series 10; equal numbers by their text), else in text order.

    Example:
    >>> series_names(["10", "2", "10", "1.5"]), series_names(["b", "a", "10", "nan"])
    (['1.5', '2', '10'], ['10', 'a', 'b', 'nan'])
    """
    names = set(names)
    try:
        numbers = {name: float(name) for name in names}
    except ValueError:
        return sorted(names)
    if not all(map(math.isfinite, numbers.values())):
        return sorted(names)
    return sorted(names, key=lambda name: (numbers[name], name))


# The Unix seconds a date can have (pandas' years 1677 to 2262); JavaScript's
# milliseconds (Date.getTime()) fall outside.
SECONDS_RANGE = (pd.Timestamp.min.ceil("s").value // 10**9, pd.Timestamp.max.floor("s").value // 10**9)
YEARS = f"the years {pd.Timestamp.min.year} to {pd.Timestamp.max.year}"
DATES_ALLOWED = f"must be Unix seconds of dates in {YEARS} (milliseconds? divide them by 1000)"


def read_series(frame, data, name=None, ahead=0, first_row=0):
    """One series: its rows of `frame`, sorted by date, repeated dates dropped, values checked.

    Args:
        frame: the table.
        data: the recipe's `[data]` section.
        name: the group to select, `None` for the whole table.
        ahead: how many final rows are steps still to forecast: their dates
            and future columns are read, their value cells are not.
        first_row: the series' row number of `frame`'s first row, for messages
            about a table without dates (`frame` may be its last rows).

    Returns:
        `Series` without bounds (with `ahead`, `values` has `ahead` rows fewer).
    """
    if name is not None:
        frame = frame[text_cells(frame[data.group_column]) == name]
    dropped = 0
    if data.date_column:
        # Ordered and de-duplicated by instant (an hour that daylight saving time repeats is
        # two rows); the calendar reads the local time.
        column = frame[data.date_column]
        frame = frame.assign(_date=parse_dates(column, data.date_format),
                             _local=wall_clock(column, data.date_format))
        frame = frame.sort_values("_date", kind="stable")
        before = len(frame)
        frame = frame.drop_duplicates("_date", keep="last")
        dropped = before - len(frame)
        dates = frame["_local"].to_numpy()
        seconds = dates.astype("datetime64[s]").astype("int64")
        outside = (seconds < SECONDS_RANGE[0]) | (seconds > SECONDS_RANGE[1])
        if data.calendar and outside.any():  # the model's `future_dates` could not serve them
            raise UserError(
                f"data: column {data.date_column!r} has the date {str(dates[outside][0])[:19]!r}; "
                f"calendar features (data.calendar) take dates in {YEARS} (pandas' range): "
                "train with data.calendar=[] or shift the dates")
    else:
        dates = np.arange(first_row, first_row + len(frame))
        seconds = np.zeros(len(frame), dtype="int64")
    columns = list(data.target_columns) + list(data.feature_columns)
    refuse_booleans(frame, data.target_columns)
    values = numbers(frame.iloc[:len(frame) - ahead], columns, dates)
    not_positive = values.astype("float32") <= 0  # 1e-46 is 0 in float32
    if data.scaling == "log" and not_positive.any():
        index = int(np.argmax(not_positive.any(axis=0)))
        raise UserError(
            f"data: scaling = 'log' needs positive values (in float32, which rounds below 1.4e-45 "
            f"to 0), column {columns[index]!r} has {values[:, index].min():g}; a model trained "
            "with data.scaling=difference takes them")
    known = numbers(frame, data.future_columns, dates)
    return Series(name, dates, values, known, seconds, {}, dropped)


def refuse_booleans(frame, columns):
    """A target of True/False cells would be read as 1/0 and forecast as a number: refused."""
    for column in columns:
        cells = frame[column]
        if pd.api.types.is_bool_dtype(cells) or (
                cells.dtype == object and cells.map(lambda v: isinstance(v, (bool, np.bool_))).any()):
            raise UserError(f"data: target column {column!r} holds True/False values, not numbers; "
                            "forecast a numeric column (write the values as numbers, e.g. 0 and 1, "
                            "if they are meant as numbers)")


def rows_note(one):
    """`"has N rows"` of a series as its file holds them, saying which were dropped."""
    kept, dropped = len(one.values), one.dropped_duplicates
    if not dropped:
        return f"has {kept} rows"
    return f"has {kept + dropped} rows ({dropped} repeat a date and were dropped, {kept} left)"


def step_label(dates, row):
    """Where a row is, as a message says it: `on 2001-01-06` (with the time where it has one),
    or `in row 6` of a table without dates.

    Example:
    >>> step_label(np.array(["2001-01-06", "2001-01-07T12:30"], dtype="datetime64[ns]"), 1)
    'on 2001-01-07 12:30:00'
    """
    if not np.issubdtype(np.asarray(dates).dtype, np.datetime64):
        return f"in row {row + 1}"
    return f"on {date_text(dates[row])}"


def date_text(date):
    """A date as messages and outputs write it: `2001-01-06`, or `2001-01-07 12:30:00`
    (any year NumPy holds, where Python's `date` has only 1 to 9999).

    Example:
    >>> date_text(np.datetime64("2001-01-07T12:30")), date_text(np.datetime64("-0001-03-01"))
    ('2001-01-07 12:30:00', '-001-03-01')
    """
    text = np.datetime_as_string(np.datetime64(date, "s"))
    return text[:-len("T00:00:00")] if text.endswith("T00:00:00") else text.replace("T", " ")


def numbers(frame, columns, dates):
    """`frame[columns]` as float64 `(N, len(columns))`; refuses missing, non-numeric,
    infinite and float32-overflowing values with one line."""
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce")
    for column in columns:
        bad = values[column].isna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            cell = frame[column].iloc[row]
            first = "a missing cell" if pd.isna(cell) else repr(cell.item() if hasattr(cell, "item")
                                                                 else cell)
            first = first if len(first) <= 40 else first[:37] + "..."
            raise UserError(f"data: column {column!r} has {int(bad.sum())} missing or non-numeric "
                            f"values (first: {first} {step_label(dates, row)}); fill or drop them first "
                            "(the model reads no missing values; write numbers without thousands "
                            "separators, with a decimal point)")
    values = values.to_numpy(dtype="float64").reshape(len(frame), len(columns))
    too_large = ~(np.abs(values) <= FLOAT32_MAX)
    if too_large.any():
        row, column = np.argwhere(too_large)[0]
        raise UserError(
            f"data: column {columns[column]!r} has {int(too_large[:, column].sum())} "
            f"infinite or too large values (first: {values[row, column]:g} {step_label(dates, row)}; "
            f"float32 holds up to {FLOAT32_MAX:.3g}); fix or drop them first")
    return values


def load_series(frame, data, split=True):
    """Every chosen series of a table, split chronologically (or whole, as "test").

    Args:
        frame: the table.
        data: the recipe's `[data]` section.
        split: split each series by `data.split`; `False` makes the whole
            series the test span (another file to evaluate).

    Returns:
        A list of `Series` with their `bounds`.
    """
    series = []
    for name in chosen_groups(frame, data) if split else table_series(frame, data):
        one = read_series(frame, data, name)
        length = len(one.values)
        one.bounds = (dict(zip(SPLITS, split_bounds(length, data.split))) if split else
                      {"test": (0, length)})
        series.append(one)
    return series


def cut_windows(series, split, window, horizon, n_targets):
    """The windows of `split` from every series, pooled.

    Series too short for one window of the split are left out; if none is
    long enough, `UserError` says so for the first.

    Returns:
        `Windows`.
    """
    parts, short = [], []
    for index, one in enumerate(series):
        span = one.bounds[split]
        starts = window_starts(span, window, horizon)
        if len(starts) == 0:
            named = f" of {one.name!r}" if len(series) > 1 else ""
            dropped = (f"; {one.dropped_duplicates} rows with a repeated date were dropped"
                       if one.dropped_duplicates else "")
            short.append(f"the {split} split{named} has {span[1] - span[0]} rows, too few for "
                         f"window={window} + horizon={horizon} (series length {len(one.values)}"
                         f"{dropped})")
            continue
        history, future = make_windows(one.values, starts, window, horizon, n_targets)
        parts.append(Windows(history, future, starts,
                             steps_ahead(one.known, starts, window, horizon),
                             steps_ahead(one.seconds[:, None], starts, window, horizon)[..., 0],
                             np.full(len(starts), index)))
    if not parts:
        raise UserError(f"data: {short[0]}; give more rows, or train with a smaller data.window "
                        "or data.horizon")
    return Windows(*(np.concatenate(field) for field in zip(*parts)))


def load_data(frame, data, n_targets):
    """Series and windows of every split (see the module docstring).

    Returns:
        `ForecastData`.
    """
    series = load_series(frame, data)
    windows = {split: cut_windows(series, split, data.window, data.horizon, n_targets)
               for split in SPLITS}
    left_out = left_out_series(series, windows)
    if left_out:  # a notice, not an error: the other series train as usual
        notice(f"{len(left_out)} of {len(series)} series are too short for "
               f"window={data.window} + horizon={data.horizon} in a split and left out of it: "
               f"{left_out_note(left_out)}")
    note_repeated_dates(series, data)
    return ForecastData(series, windows)


def note_repeated_dates(series, data, where=""):
    """A `notice:` line on stderr when rows repeating a date were dropped (the last row of
    each date is kept), as a table of several series read as one loses most of its rows.

    Args:
        series: the `Series` read.
        data: the recipe's `[data]` section.
        where: words naming the file, such as `" in prices.csv"`.
    """
    dropped = sum(one.dropped_duplicates for one in series)
    if dropped:
        rows = dropped + sum(len(one.dates) for one in series)
        hint = ("" if data.group_column else "; several series in one table? name the column "
                "that tells them apart in data.group_column")
        notice(f"{dropped} of {rows} rows{where} repeat a date and were dropped (the last "
               f"row of each date is kept){hint}")


def left_out_series(series, windows):
    """`{name: [splits]}` of the series with no window in those splits (too short there).

    Args:
        series: the `Series` the windows were cut from.
        windows: `{split: Windows}`, every split or only some (`{"test": ...}`).
    """
    used = {split: set(part.series.tolist()) for split, part in windows.items()}
    left_out = {}
    for index, one in enumerate(series):
        splits = [split for split in used if index not in used[split]]
        if splits:
            left_out[one.name] = splits
    return left_out


def left_out_note(left_out, shown=5):
    """`'IBM' (every split), 'XYZ' (test)`, the first `shown` of them."""
    notes = [f"{name!r} ({'every split' if len(splits) == len(SPLITS) else ', '.join(splits)})"
             for name, splits in list(left_out.items())[:shown]]
    more = len(left_out) - shown
    return ", ".join(notes) + (f" and {more} more" if more > 0 else "")
