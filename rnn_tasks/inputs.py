"""Raw inputs from the command line and from Python, and outputs back to text."""

import json
import re
from pathlib import Path

import numpy as np

from rnn_tasks.data.readers import (TABLES, check_text_column, read_lines, read_table,
                                    require_columns, table_kind, text_cells)
from rnn_tasks.errors import UserError


def text_batch(inputs):
    """A string, a list of strings or `{"text": ...}` -> object array `[batch]`.

    Example:
    >>> text_batch("Hello.").tolist()
    ['Hello.']
    """
    inputs = named_input(inputs, "text")
    if isinstance(inputs, (str, bytes)):
        inputs = [inputs]
    texts = np.asarray(inputs, dtype=object)
    if texts.ndim == 0:
        raise UserError(f"predict: `text` must be a string or a list of strings, got "
                        f"{type(inputs).__name__} {inputs!r:.60}")
    if texts.ndim != 1:
        raise UserError(f"predict: `text` must be a list of strings, got shape {list(texts.shape)}")
    wrong = [text for text in texts if not isinstance(text, (str, bytes))]
    if wrong:
        raise UserError(f"predict: `text` must be strings, got {type(wrong[0]).__name__} {wrong[0]!r}")
    for index, text in enumerate(texts):
        try:
            text.decode("utf-8") if isinstance(text, bytes) else text.encode("utf-8")
        except UnicodeError:
            raise UserError(f"predict: text {index} ({text[:40]!r}) is not valid UTF-8 "
                            "(broken surrogates or bytes in another encoding)") from None
        if ("\0" if isinstance(text, str) else b"\0") in text:  # a tokenizer stops there
            raise UserError(f"predict: text {index} ({text[:40]!r}) has a NUL character; "
                            "remove it (or replace it with a space)")
    return texts


def named_input(inputs, name):
    """`inputs[name]` for a dict of serving inputs, else `inputs` itself."""
    if not isinstance(inputs, dict):
        return inputs
    if name not in inputs:
        raise UserError(f"predict: the inputs are named {name!r}, got {', '.join(map(repr, inputs))}")
    return inputs[name]


def texts_from_arguments(arguments, column, pair_lines=None):
    """CLI `predict` texts: a CSV/TSV/JSONL table its `column`, any other file one text
    per line (the source side of `source<TAB>target` lines), `-` standard input one
    text per line; an argument that is not a file is the text itself, unless it
    looks like a file name.

    Args:
        arguments: the command line's inputs.
        column: the text column of tables.
        pair_lines: `path -> bool`, whether a file holds `source<TAB>target` lines
            (translation, which reads a file as its training does): their source is
            kept. By default no file does.

    Returns:
        Object array of `str`.
    """
    texts = []
    for argument in arguments:
        if argument == "-":  # standard input, one text per line (`... | rnn-tasks predict RUN -`)
            argument = "/dev/stdin"
        kind = _path_kind(argument)
        if kind == "folder":
            raise UserError(f"predict: {argument} is a folder; give texts, or text/CSV files")
        if kind is None and (re.fullmatch(r"\S{1,255}\.(txt|csv|tsv|jsonl|json)", argument, re.I)
                             or re.fullmatch(r"\S{0,250}/\S*\.[A-Za-z0-9]{1,5}", argument)):
            raise UserError(f"predict: file not found: {argument} (to predict that text itself, "
                            "add a space or punctuation)")
        if kind is None:
            try:
                argument.encode("utf-8")
            except UnicodeEncodeError:  # bytes the shell passed on undecoded
                raise UserError(f"predict: the text {argument.encode('utf-8', 'replace')[:40]!r}"
                                " is not UTF-8; give UTF-8 text") from None
            texts.append(argument)
            continue
        path = Path(argument)
        pairs = bool(pair_lines and pair_lines(path))
        if column and table_kind(path) in TABLES and not pairs:
            frame = read_table(path, (), [column])
            cells = require_columns(frame, [column], path, fix=(
                f"the model reads its texts from column {column!r}, as in training: rename "
                "that column, or give a text file, one text per line"))[column]
            check_text_column(cells)
            found = text_cells(cells).tolist()
            unit, problem = "row(s)", f"have no text in column {column!r}; give a text in every row"
        else:
            found = read_lines(path)
            while found and not found[-1].strip():  # blank lines at the end: an editor's
                found.pop()
            if pairs:
                found = pair_sources(found, path)
            unit, problem = "line(s)", "are blank; give one text per line"
        blank = [str(i + 1) for i, text in enumerate(found) if not text.strip()]
        if blank:
            raise UserError(f"predict: {path} {unit} {', '.join(blank[:5])} {problem}")
        if not found:
            raise UserError(f"predict: {path} has no texts")
        texts += found
    return np.asarray(texts, dtype=object)


def pair_sources(lines, path):
    """The sources of `source<TAB>target` lines; lines without a tab are sources whole.
    A file of both kinds is refused: the text after a tab would be dropped unseen.

    Args:
        lines: the file's lines.
        path: the file, for the message.

    Returns:
        The texts to translate, one per line.

    Example:
    >>> pair_sources(["Hello.\\tHola.", "Yes.\\tSí."], "p.tsv")
    ['Hello.', 'Yes.']
    """
    tabbed = [str(i + 1) for i, line in enumerate(lines) if "\t" in line]
    plain = [str(i + 1) for i, line in enumerate(lines) if "\t" not in line and line.strip()]
    if tabbed and plain:
        raise UserError(f"predict: {path} line(s) {', '.join(tabbed[:5])} are source<TAB>target "
                        f"pairs and line(s) {', '.join(plain[:5])} have no tab; give one text per "
                        "line without tabs, or a pair on every line")
    return [line.split("\t")[0] for line in lines]


def _path_kind(argument):
    """`"file"`, `"folder"` or `None` (not a path that exists: then it is a text)."""
    if not argument.strip():
        return None
    try:
        path = Path(argument)
        if path.is_dir():
            return "folder"
        # A pipe or device is a file too: /dev/stdin, <(command), /dev/null.
        return "file" if path.exists() else None
    except OSError:  # e.g. a long text: too long for a file name
        return None


def plain(value):
    """A serving output as NumPy, text as `str` (the graph returns UTF-8 bytes)."""
    value = np.asarray(value)
    if value.dtype == object:
        return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v,
                            otypes=[object])(value) if value.size else value
    return value


def format_outputs(labels, outputs, encoding="utf-8"):
    """Serving outputs as one JSON object (CLI `predict`): `labels` first, as given, then
    the outputs by name (a loaded SavedModel's signature returns them in an order that
    changes from process to process), text as it is where `encoding` (the terminal's)
    can write it, else as `\\u` escapes.

    Args:
        labels: `{name: list}` that label the rows (forecasting's series and dates).
        outputs: `{name: array}`.
        encoding: the encoding of the stream it is printed to (`None`: UTF-8).

    Returns:
        The JSON text.

    Example:
    >>> format_outputs({}, {"text": np.array(["café"], dtype=object), "score": np.ones(1)}, "ascii")
    '{"score": [1.0], "text": ["caf\\\\u00e9"]}'
    """
    plain_outputs = {name: plain(value).tolist()
                     for name, value in [*labels.items(), *sorted(outputs.items())]}
    text = json.dumps(plain_outputs, ensure_ascii=False)
    try:
        text.encode(encoding or "utf-8")
    except UnicodeEncodeError:
        return json.dumps(plain_outputs)
    return text
