"""Reading tabular files (CSV, TSV, JSON lines, optionally compressed) with clear errors."""

import bz2
import csv
import glob
import gzip
import io
import json
import lzma
import re
import warnings
import zipfile
from pathlib import Path

import pandas as pd

from rnn_tasks.errors import UserError, first_line, notice, path_argument

COMPRESSED = (".gz", ".bz2", ".zip", ".xz")  # read by pandas, by suffix
TABLES = (".csv", ".tsv", ".jsonl", ".json")


def table_kind(path):
    """A data file's format suffix, in lower case, before any compression suffix; `""`
    for none.

    Example:
    >>> table_kind("shard.TSV.gz"), table_kind("pairs.txt"), table_kind("pairs")
    ('.tsv', '.txt', '')
    """
    suffixes = [s for s in map(str.lower, Path(path).suffixes) if s not in COMPRESSED]
    return suffixes[-1] if suffixes else ""


def open_binary(path):
    """A file opened for reading bytes, decompressed as its suffix says (`.gz`, `.bz2`,
    `.xz`, and a `.zip` of one file, as pandas reads them).

    Raises:
        UserError: a `.zip` that holds no file or several.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        files = [info for info in archive.infolist() if not info.is_dir()]
        if len(files) != 1:
            archive.close()
            held = f"holds {len(files)} files ({listed([f.filename for f in files][:5])})" \
                if files else "holds no file"
            raise UserError(f"{path} {held}; a .zip must hold one data file (macOS adds "
                            "__MACOSX/ entries): unzip the one to read")
        return archive.open(files[0])  # the member keeps the archive's file open until closed
    return {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(suffix, open)(path, "rb")


#: What a damaged compressed file raises while it is read.
BROKEN_ARCHIVE = (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile)


def expand_paths(pattern):
    """A file path, or a glob pattern (`shards/part-*.csv`) -> sorted list of paths.

    Raises:
        UserError: a pattern that matches no file.
    """
    if isinstance(pattern, pd.DataFrame):
        raise UserError("the data path must be a path (a str or os.PathLike), got a DataFrame; "
                        "a DataFrame goes in data= (Task.from_recipe(..., data=frame), "
                        "Task.load(run, data=frame))")
    pattern = path_argument("the data path", pattern)
    if not glob.has_magic(str(pattern)) or pattern.is_file():  # `t[1].csv` is a name too
        return [pattern]
    paths = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))  # `**`: any depth
    if not paths:
        raise UserError(f"no file matches the pattern {str(pattern)!r}")
    return paths


def check_data_file(path, what=None):
    """Raises `UserError` unless `path` is a regular file; `what` names the option it came from."""
    path = Path(path)
    named = f"{what} {str(path)!r}" if what else str(path)
    if path.is_dir():
        raise UserError(f"{named} is a folder; give a CSV/TSV/JSONL file (or a glob such as "
                        "'folder/*.csv')")
    if path.exists() and not path.is_file():
        raise UserError(f"{named} is not a regular file (a device or a pipe), not a data file")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
        raise UserError(f"data file not found: {path}{where}")


def read_table(path, required_columns=(), text_columns=()):
    """Reads a CSV/TSV/JSONL file (`.gz`, `.bz2`, `.zip`, `.xz` too) into a DataFrame.

    Args:
        path: file path; the format comes from the suffix before any
            compression suffix (`.tsv` -> tab separated, `.jsonl` -> JSON
            lines, `.json` -> one array of records, anything else -> comma
            separated). A glob pattern reads
            every matching file (shards), in sorted order, into one frame.
        required_columns: columns that must be present (in every file).
        text_columns: columns of a CSV/TSV read as text, never as numbers (ids:
            `01` and `1` are two series) nor as missing (`NA` is a word, a country);
            only an empty cell is missing there.

    Returns:
        `pandas.DataFrame`.

    Raises:
        UserError: missing file, unreadable or empty data, missing columns.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a,b\\n1,2\\n")
    >>> read_table(path, ["a"]).shape
    (1, 2)
    """
    paths = expand_paths(path)
    if len(paths) > 1:
        return pd.concat([read_table(p, required_columns, text_columns) for p in paths],
                         ignore_index=True)
    path = paths[0]
    check_data_file(path)
    if path.suffix.lower() in (".xlsx", ".xls", ".ods", ".parquet", ".feather", ".pkl"):
        raise UserError(f"{path}: {path.suffix} files are not read; save the table as CSV, TSV "
                        "or JSON lines")
    kind = table_kind(path) or ".csv"
    if path.suffix.lower() not in COMPRESSED:
        with open(path, "rb") as handle:
            start = handle.read(1 << 16)
            refuse_utf16(start, path)
            if b"\x00" in start:
                shown = kind[1:].upper() if kind in (".tsv", ".jsonl", ".json") else "CSV"
                raise UserError(f"{path} is a binary file (it has NUL bytes), not {shown} text")
    try:
        if kind in (".jsonl", ".json"):  # JSON lines, or one JSON array of records
            frame = pd.read_json(path, lines=kind == ".jsonl", encoding="utf-8-sig")
        else:  # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the header
            options = {"sep": "\t" if kind == ".tsv" else ","}
            if kind == ".tsv" and not quoted_as_written(path):
                # A stray `"` opening a cell of an unquoted TSV (IANA TSV has no quoting) would
                # make CSV quoting join every line up to the next `"` into one cell.
                options["quoting"] = csv.QUOTE_NONE
            texts = {column: str for column in text_columns}
            frame = pd.read_csv(path, encoding="utf-8-sig", dtype=texts, **options)
            if kind == ".tsv" and "quoting" not in options:
                note_quoted_lines(frame, path)
            literal = [column for column in text_columns if column in frame.columns]
            if frame[literal].isna().any(axis=None):  # "NA", "null", "None" are texts there
                words = pd.read_csv(path, encoding="utf-8-sig", dtype=str, usecols=literal,
                                    keep_default_na=False, na_values=[""], **options)[literal]
                note_words_kept(frame[literal].isna().to_numpy() & words.notna().to_numpy(),
                                words, path)
                frame[literal] = words
            header = pd.read_csv(path, encoding="utf-8-sig", header=None, nrows=1, **options)
            names = [str(name) for name in header.iloc[0] if pd.notna(name)] if len(header) else []
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:  # pandas would rename the second one "<name>.1" and read on
                raise UserError(f"{path} names column(s) {', '.join(map(repr, repeated))} more "
                                "than once; rename or drop the copies")
            check_no_header_rows(frame, path)
            filled = frame.notna().any(axis=1).to_numpy()  # Excel's empty rows at the end (,,)
            frame = frame.iloc[:len(filled) - int(filled[::-1].argmax()) if filled.any() else 0]
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError,
            *BROKEN_ARCHIVE) as error:
        reason = first_line(error)
        if kind == ".jsonl":
            reason = first_bad_json_line(path) or reason
        elif kind == ".json" and "Trailing data" in reason:  # JSON lines named .json
            reason += "; one JSON object per line? name the file .jsonl"
        raise UserError(f"cannot read {path} as {kind[1:].upper()}: {reason}") from None
    if frame.empty:
        raise UserError(f"{path} has no data rows")
    return require_columns(frame, required_columns, path)


def refuse_utf16(start, path):
    """Raises `UserError` for the first bytes of a UTF-16 or UTF-32 file (Excel's
    "Unicode Text" is UTF-16), which would read as NUL bytes or broken UTF-8.

    Args:
        start: the file's first bytes.
        path: the file, for the message.
    """
    for mark, name in ((b"\xff\xfe\0\0", "UTF-32"), (b"\0\0\xfe\xff", "UTF-32"),
                       (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if start.startswith(mark):
            raise UserError(f"{path} is {name} text (Excel's \"Unicode Text\" is UTF-16); save "
                            "it as UTF-8")


def note_words_kept(kept, words, path):
    """A `notice:` line naming the cells of text columns read as words that pandas takes
    for missing (`NA`, `None`, `null`): R's `write.csv` writes missing values as `NA`.

    Args:
        kept: boolean array, `True` where such a word was kept.
        words: the text columns as read, words kept.
        path: the file, for the message.
    """
    if kept.any():
        seen = sorted(set(words.to_numpy()[kept]))
        notice(f"{path}: {int(kept.sum())} cell(s) of {listed(words.columns)} read as the "
               f"word(s) {', '.join(map(repr, seen[:5]))}, which pandas takes for missing values; "
               "R's write.csv writes missing values so (its na = \"\" leaves them empty)")


def check_no_header_rows(frame, path):
    """Refuses a table of two or more columns with a row that repeats its header, as
    `cat a.csv b.csv` writes: in a text column it would be read as one more example.
    (In one column, a text equal to the column's name may well be meant.)

    Args:
        frame: the table as read.
        path: the file, for the message.

    Example:
    >>> check_no_header_rows(pd.DataFrame({"text": ["text", "a text"]}), "t.csv")  # one column
    >>> check_no_header_rows(pd.DataFrame({"a": ["x", "a"], "b": ["y", "b"]}), "t.csv")
    Traceback (most recent call last):
    rnn_tasks.errors.UserError: t.csv: data row 2 repeats the header (a, b): files joined with `cat`? keep the first file's header only (`tail -n +2 b.csv >> a.csv`)
    """
    names = [str(name) for name in frame.columns]
    if len(names) < 2:
        return
    same = frame.iloc[:, 0].astype(str).to_numpy() == names[0]
    if same.any():
        same[same] = (frame[same].astype(str) == names).all(axis=1).to_numpy()
    if same.any():
        raise UserError(f"{path}: data row {int(same.argmax()) + 1} repeats the header "
                        f"({', '.join(names)}): files joined with `cat`? keep the first file's "
                        "header only (`tail -n +2 b.csv >> a.csv`)")


def first_bad_json_line(path):
    """`"line N, column C: <why>"` for the first line of a JSON lines file (compressed
    too, see `open_binary`) that is not JSON, else `None` (pandas names only a
    character position in the whole file).

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
    >>> _ = open(path, "w").write('{"a": 1}\\n\\n{"a": 2,}\\n')
    >>> first_bad_json_line(path).split(":")[0]
    'line 3, column 9'
    """
    try:
        with io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    line.strip() and json.loads(line)
                except json.JSONDecodeError as error:
                    return f"line {number}, column {error.colno}: {error.msg}"
    except (*BROKEN_ARCHIVE, UserError):  # a damaged archive: the reader's own error says so
        return None
    return None


#: A `"` that opens a cell of a TSV: at the start of a line or after a tab.
OPENING_QUOTE = re.compile('(?:^|(?<=\t))"', re.MULTILINE)


def note_quoted_lines(frame, path):
    """A `notice:` line for quoted TSV cells that hold whole lines (a tab and a line
    break): as written by pandas, or a stray `"` that met another before a tab.

    Example:
    >>> note_quoted_lines(pd.DataFrame({"text": ["a", "Run\\tfresh\\nok"]}), "t.tsv")  # on stderr:
    ...     # notice: t.tsv: 1 quoted cell(s) hold a tab and a line break (the first in data row 2); ...
    """
    rows = [row for column in frame.columns if pd.api.types.is_string_dtype(frame[column])
            for row in (frame[column].str.contains("\t", regex=False).fillna(False)
                        & frame[column].str.contains("\n", regex=False).fillna(False))
            .to_numpy().nonzero()[0]]
    if rows:
        notice(f"{path}: {len(rows)} quoted cell(s) hold a tab and a line break (the first in "
               f"data row {min(rows) + 1}); if a \" that opens one is text, not quoting, the "
               "rows it spans were joined: remove it or double it (\"\")")


def quoted_as_written(path):
    """Whether every cell of a TSV file that opens with `"` is quoted as pandas and Excel
    write one: inner quotes doubled, the closing quote followed by a tab, a line end or
    the end of the file. A quote inside a cell (`6" tall`) is text either way.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.tsv")
    >>> _ = open(path, "w").write('text\\tlabel\\n"two\\nlines, a ""tab""\\there"\\t1\\n')
    >>> quoted_as_written(path)
    True
    >>> _ = open(path, "w").write('text\\tlabel\\n"Run, he said\\t1\\nbad\\t0\\n')
    >>> quoted_as_written(path)
    False
    """
    with open_binary(path) as handle:
        text = handle.read().decode("utf-8-sig", errors="replace")
    position = 0
    while (opening := OPENING_QUOTE.search(text, position)) is not None:
        close = text.find('"', opening.end())
        while close != -1 and text.startswith('""', close):  # a doubled quote inside
            close = text.find('"', close + 2)
        if close == -1 or text[close + 1:close + 2] not in ("", "\t", "\n", "\r"):
            return False
        position = close + 1
    return True


def listed(columns):
    """Column names as an error shows them: quoted, comma-separated.

    Example:
    >>> listed(["Date", 3])
    "'Date', '3'"
    """
    return ", ".join(map(repr, map(str, columns)))


def require_columns(frame, columns, name, fix=""):
    """`frame`, or `UserError` naming the `columns` it lacks and those it has, and how to
    fix that (`fix`, where the names give no better advice).

    Example:
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "the data frame")
    Traceback (most recent call last):
    ...
    rnn_tasks.errors.UserError: the data frame lacks column(s) 'b' (it has: 'a')
    """
    check_unique_columns(frame, name)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        named = [c for c in frame.columns if not isinstance(c, str) and str(c) in missing]
        joined = [c for c in frame.columns if isinstance(c, str) and any(
            separator in c and missing[0] in c.split(separator) for separator in ";|\t,")]
        indexed = [c for c in missing if c in frame.index.names]
        near = [(want, c) for want in missing for c in frame.columns
                if isinstance(c, str) and c.strip().casefold() == want.strip().casefold()]
        hint = (f"; its column names are not text ({named[0]!r} is {type(named[0]).__name__}): "
                "rename them, e.g. frame.rename(columns=str)" if named else
                f"; {joined[0]!r} is one name: the file separates its columns with another "
                "character (Excel writes ';' where the decimal mark is a comma); save it as CSV "
                "with commas and decimal points, or as TSV" if joined else
                f"; {indexed[0]!r} is its index: make it a column with frame.reset_index()"
                if indexed else
                f"; {near[0][1]!r} differs from {near[0][0]!r} only in spaces or case: rename it"
                if near else f"; {fix}" if fix else "")
        raise UserError(f"{name} lacks column(s) {', '.join(map(repr, missing))} "
                        f"(it has: {listed(frame.columns)}){hint}")
    return frame


def check_unique_columns(frame, name):
    """Raises `UserError` if the DataFrame `frame` (`name` in messages) repeats a column name.

    Example:
    >>> check_unique_columns(pd.DataFrame([[1, 2]], columns=["a", "a"]), "the data frame")
    Traceback (most recent call last):
    ...
    rnn_tasks.errors.UserError: the data frame names column(s) 'a' more than once
    """
    repeated = sorted(set(map(str, frame.columns[frame.columns.duplicated()])))
    if repeated:
        raise UserError(f"{name} names column(s) {', '.join(map(repr, repeated))} more than once")


def text_cells(column):
    """A column's cells as strings, empty cells as `""` (pandas may keep them as NaN).

    Example:
    >>> text_cells(pd.Series(["IBM", None, 3])).tolist()
    ['IBM', '', '3']
    """
    return column.map(str, na_action="ignore").fillna("").astype(object)


def check_group_column(frame, column, advice):
    """Raises `UserError` naming `data.group_column`, what `frame` has instead and `advice`,
    if the recipe names a group column the table lacks.

    Example:
    >>> check_group_column(pd.DataFrame({"a": [1]}), "movie", "or unset it")
    Traceback (most recent call last):
    ...
    rnn_tasks.errors.UserError: data: no column 'movie' (data.group_column; the data has: 'a'); or unset it
    """
    if column and column not in frame.columns:
        raise UserError(f"data: no column {column!r} (data.group_column; the data has: "
                        f"{listed(frame.columns)}); {advice}")


def check_text_column(column):
    """Raises `UserError` if a column meant to hold text holds objects or lists (nested JSON)."""
    nested = column.map(lambda value: isinstance(value, (dict, list)))
    if nested.any():
        value = column[nested].iloc[0]
        raise UserError(f"column {column.name!r} must hold text, got a {type(value).__name__} "
                        f"{str(value)[:40]!r}; flatten it to a string column first")


def not_utf8(path, error):
    """The `UserError` for a file that `error` (a `UnicodeDecodeError`) found not UTF-8."""
    return UserError(f"{path} is not UTF-8 text ({error.reason}: "
                     f"{error.object[error.start:error.end]!r}); save it as UTF-8")


def read_lines(path):
    """A UTF-8 text file's lines (decompressed as `open_binary` does): split at line ends
    only (`\\n`, `\\r\\n`, or `\\r` in a file that has no `\\n`: classic Mac OS), never at
    the Unicode separators `str.splitlines` also splits at (U+2028, form feed, ...); a
    byte-order mark is dropped.

    Raises:
        UserError: not UTF-8, a damaged archive, a `.zip` of several files, UTF-16, NUL bytes.
    """
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except BROKEN_ARCHIVE as error:
        raise UserError(f"cannot read {path}: {error}") from None
    refuse_utf16(data, path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    if "\x00" in text:
        raise UserError(f"{path} is a binary file (it has NUL bytes), not text")
    lines = text.split("\n" if "\n" in text else "\r")
    if lines[-1] == "":  # the file's final line end
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def parse_dates(column, date_format=None):
    """A column of dates -> the UTC instants they name; ISO 8601 unless `date_format` says
    otherwise. Instants order the rows and find repeats; calendar features read the
    local time (`wall_clock`).

    Day-first and month-first dates (`03/04/2020`) cannot be told apart
    reliably, so anything but ISO 8601 needs an explicit `data.date_format`.

    Args:
        column: `pandas.Series` of date strings (or datetime64, with or without a time zone).
        date_format: a `strftime` format such as `"%d/%m/%Y"`, or `None` for ISO 8601.

    Returns:
        `pandas.Series` of UTC timestamps (a date without an offset is read as UTC).

    Example:
    >>> parse_dates(pd.Series(["31/12/2020"], name="Date"), "%d/%m/%Y").dt.day.tolist()
    [31]
    """
    try:
        dates = pd.to_datetime(date_text(column), format=date_format or "ISO8601",
                               errors="coerce", utc=True)
    except ValueError as error:  # a format pandas cannot use, e.g. "%Q"
        raise UserError(f"recipe: `data.date_format` {date_format!r} is not a strftime format "
                        f"pandas can read ({str(error).splitlines()[0]})") from None
    if dates.isna().any():
        empty = column.isna() | (column.astype(str).str.strip() == "")
        if empty.any():
            raise UserError(f"data: column {column.name!r} has {int(empty.sum())} empty cell(s); "
                            "every row needs a date: fill or drop those rows")
        bad = column[dates.isna()].iloc[0]
        bad = bad.item() if hasattr(bad, "item") else bad  # 1577836800, not np.int64(1577836800)
        expected = (f"the format {date_format!r} of `data.date_format`" if date_format else
                    "ISO 8601 (2020-12-31, 2020-12-31 23:59); for other formats set "
                    "`data.date_format` when training (e.g. --set 'data.date_format=%d/%m/%Y'), "
                    "or write the dates as ISO 8601")
        if pd.api.types.is_integer_dtype(column):  # epoch seconds, or a time index (Darts')
            expected += ("; seconds since 1970? write them as dates (pandas.to_datetime(column, "
                         "unit='s'))" if column.abs().max() >= 10**9 else
                         "; for a column of step numbers (no dates), set data.date_column='' "
                         "(and leave data.calendar empty): rows are then read in file order")
        raise UserError(f"data: column {column.name!r} has a non-date value {bad!r}; "
                        f"expected {expected}")
    return dates


def wall_clock(column, date_format=None):
    """The local times a column of dates names: a UTC offset (`+09:00`, `Z`) is dropped,
    not applied, also where it changes from row to row (daylight saving time).

    Args:
        column: `pandas.Series` of date strings or datetime64 (as `parse_dates`).
        date_format: a `strftime` format, or `None` for ISO 8601.

    Returns:
        `pandas.Series` of timestamps without a time zone (`NaT` where a cell is not a date).

    Example:
    >>> wall_clock(pd.Series(["2024-03-30T23:00+01:00", "2024-03-31T23:00+02:00"])).dt.day.tolist()
    [30, 31]
    """
    text, date_format = date_text(column), date_format or "ISO8601"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas 2: mixed offsets give objects
        try:
            dates = pd.to_datetime(text, format=date_format, errors="coerce")
        except ValueError:  # pandas 3: "Mixed timezones detected"
            dates = None
    if dates is None or dates.dtype == object:  # offsets that differ: one cell at a time
        dates = pd.to_datetime(text.map(
            lambda cell: strip_zone(pd.to_datetime(cell, format=date_format, errors="coerce"))))
    return strip_zone(dates)


def date_text(column):
    """A date column as `pd.to_datetime` should read it: datetime64 as is, anything else as
    text (numbers are not dates here; pandas would read them as nanoseconds since 1970)."""
    return column if pd.api.types.is_datetime64_any_dtype(column) else column.astype(str)


def strip_zone(dates):
    """A timestamp, or a Series of them, with its time zone dropped (its wall-clock time kept)."""
    if isinstance(dates, pd.Series):
        return dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
    return dates.tz_localize(None) if getattr(dates, "tz", None) is not None else dates


def header_names(path):
    """The names in the first line of the (first) file at `path`, split at tabs and at
    commas; an empty set if it cannot be read (the table reader then says why)."""
    try:
        with open_binary(expand_paths(path)[0]) as handle:
            header = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    except (*BROKEN_ARCHIVE, UserError):
        return set()
    return set(header.split("\t")) | set(header.split(","))
