"""Dataset catalog: package, file and url sources, caching and sha256 checks."""

import hashlib
import time

import pandas as pd
import pytest

from rnn_tasks.data.catalog import fetch, list_cards, load_card, read_frame
from rnn_tasks.data.readers import read_table, require_columns
from rnn_tasks.errors import UserError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_TASKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def card(source, tmp_path, name="sample"):
    return {"name": name, "task": "forecasting", "source": source, "_path": tmp_path / "card.toml"}


def test_builtin_cards_have_the_required_fields():
    cards = list_cards()
    assert {"stocks_daily", "sea_surface_temperature"} <= {c["name"] for c in cards}
    for c in cards:
        assert {"name", "task", "description", "license", "citation", "source", "format"} <= set(c)


def test_package_source_is_verified_and_readable():
    path = fetch(load_card("stocks_daily"))
    frame = read_table(path, ["Ticker", "Date", "Adj Close"])
    assert set(frame["Ticker"]) == {"AAPL", "IBM", "MSFT", "GOOG", "FB"}
    assert (frame["Ticker"] == "AAPL").sum() == 3270


def test_package_source_with_wrong_sha256_is_refused():
    stocks = load_card("stocks_daily")
    stocks["source"] = {**stocks["source"], "sha256": "0" * 64}
    with pytest.raises(UserError, match="expected 0000"):
        fetch(stocks)


def test_unknown_dataset_lists_the_catalog():
    with pytest.raises(UserError, match="unknown dataset 'nope' \\(catalog: .*stocks_daily"):
        load_card("nope")


def test_url_source_downloads_once_into_the_cache(tmp_path, cache):
    remote = tmp_path / "remote.csv"
    remote.write_text("a,b\n1,2\n")
    digest = hashlib.sha256(remote.read_bytes()).hexdigest()
    source = {"kind": "url", "url": remote.as_uri(), "filename": "data.csv", "sha256": digest}
    path = fetch(card(source, tmp_path))
    assert path == cache / "sample" / "data.csv" and path.read_text() == "a,b\n1,2\n"
    remote.unlink()  # the second fetch must not need the source
    assert fetch(card(source, tmp_path)) == path


def test_url_source_with_bad_checksum_leaves_nothing(tmp_path, cache):
    remote = tmp_path / "remote.csv"
    remote.write_text("a,b\n1,2\n")
    source = {"kind": "url", "url": remote.as_uri(), "filename": "data.csv", "sha256": "f" * 64}
    with pytest.raises(UserError, match="expected ffff"):
        fetch(card(source, tmp_path))
    assert not (cache / "sample").exists()  # no partial file, no empty folder


def test_url_source_without_network_fails_fast_with_a_way_out(tmp_path, cache):
    source = {"kind": "url", "url": "http://127.0.0.1:9/data.csv", "filename": "data.csv"}
    start = time.monotonic()
    with pytest.raises(UserError) as error:
        fetch(card(source, tmp_path))
    assert time.monotonic() - start < 15
    assert "needs the network" in str(error.value) and "--set data.path=FILE" in str(error.value)


def test_file_source_relative_to_the_card(tmp_path):
    (tmp_path / "local.csv").write_text("a\n1\n")
    assert fetch(card({"kind": "file", "path": "local.csv"}, tmp_path)) == tmp_path / "local.csv"
    with pytest.raises(UserError, match="file not found"):
        fetch(card({"kind": "file", "path": "missing.csv"}, tmp_path))


def test_unsupported_source_kind(tmp_path):
    with pytest.raises(UserError, match="unsupported source kind 'ftp'"):
        fetch(card({"kind": "ftp"}, tmp_path))


@pytest.mark.parametrize("content, message", [
    (b"", "cannot read"),
    (b"a,b\n", "has no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is a binary file \\(it has NUL bytes\\)"),
    ("caf\xe9,b\n1,2\n".encode("latin-1"), "not UTF-8"),
])
def test_read_table_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_table(path)


def test_read_table_missing_columns(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("x\ty\n1\t2\n")
    with pytest.raises(UserError, match="lacks column\\(s\\) 'Date' \\(it has: 'x', 'y'\\)"):
        read_table(path, ["Date", "x"])
    with pytest.raises(UserError, match="data file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "excel.csv").write_text("Date;Adj Close\n2001-01-01;1,5\n")  # a European Excel export
    with pytest.raises(UserError, match="^[^;]*excel.csv lacks column\\(s\\) 'Date', 'Adj Close' \\(it has: 'Date;Adj "
                                        "Close'\\); 'Date;Adj Close' is one name: the file separates "
                                        "its columns with another character"):
        read_table(tmp_path / "excel.csv", ["Date", "Adj Close"])
    numbered = pd.DataFrame([[1.0, 2.0]])  # as built from a NumPy array: columns 0 and 1
    with pytest.raises(UserError, match="^the data frame lacks column\\(s\\) '0' \\(it has: '0', "
                                        "'1'\\); its column names are not text \\(0 is int\\): rename"):
        require_columns(numbered, ["0"], "the data frame")
    spaced = pd.DataFrame({"date": [1], " Sales": [2]})  # a stray space after Excel's comma
    with pytest.raises(UserError, match="^x.csv lacks column\\(s\\) 'sales' \\(it has: 'date', "
                                        "' Sales'\\); ' Sales' differs from 'sales' only in "
                                        "spaces or case: rename it$"):
        require_columns(spaced, ["date", "sales"], "x.csv")


def test_a_catalog_file_keeps_na_words_in_its_text_columns(tmp_path):
    (tmp_path / "r.csv").write_text("text,label\nNone,1\nfine,0\n")
    card = {"name": "mine", "source": {"kind": "file", "path": "r.csv"},
            "_path": str(tmp_path / "mine.toml")}
    assert read_frame(card, ["text"], ["text"])["text"].tolist() == ["None", "fine"]


def test_tsv_quotes_are_text_and_suffixes_are_read_in_any_case(tmp_path, capsys):
    """A stray `"` in a TSV cell (`6" tall`) must not join the lines up to the next one
    into one cell, as CSV quoting would; `.TSV` and `.CSV.GZ` are what `.tsv`, `.csv.gz` are."""
    lines = ["text\tlabel", '"Unclosed quote\tpos', *[f"review {i}\tneg" for i in range(5)],
             'six" tall\tpos', "last\tneg"]
    (tmp_path / "reviews.tsv").write_text("\n".join(lines) + "\n")
    frame = read_table(tmp_path / "reviews.tsv", ["text", "label"])
    assert frame["text"].tolist() == [line.split("\t")[0] for line in lines[1:]]
    # A TSV that quotes its cells as pandas and Excel write them (a quote doubled, a line
    # break inside) reads back as written.
    written = pd.DataFrame({"text": ['a "quoted" word', "two\nlines", "a\ttab", "tab\tthen\nline",
                                     "line\n\tthen tab", 'quotes\n"x"\t'], "label": [1, 0, 1, 0, 1, 0]})
    written.to_csv(tmp_path / "quoted.tsv", sep="\t", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "quoted.tsv", ["text"]), written)
    # A quote that opens a cell and is never closed stays text too (not "EOF inside string").
    (tmp_path / "open.tsv").write_text('text\tlabel\n"Run, he said\tfresh\nbad\trotten\n')
    assert read_table(tmp_path / "open.tsv")["text"].tolist() == ['"Run, he said', "bad"]
    # A stray quote that meets another before a tab reads as quoting, which it could be (as
    # in quoted.tsv above): a notice says which rows may have been joined.
    capsys.readouterr()
    (tmp_path / "inch.tsv").write_text('text\tlabel\n"Run, he said\tfresh\nok\trotten\n'
                                       'He is 6\'2"\tfresh\nbye\trotten\n')
    assert len(read_table(tmp_path / "inch.tsv")) == 2
    assert ("inch.tsv: 1 quoted cell(s) hold a tab and a line break (the first in data row 1); "
            "if a \" that opens one is text") in capsys.readouterr().err
    (tmp_path / "upper.TSV").write_text("a\tb\n1\t2\n")
    assert read_table(tmp_path / "upper.TSV", ["a", "b"]).values.tolist() == [[1, 2]]
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "upper.CSV.GZ", index=False, compression="gzip")
    assert read_table(tmp_path / "upper.CSV.GZ", ["a"])["a"].tolist() == [1, 2]


def test_read_table_reads_sharded_files_from_a_glob(tmp_path):
    for i in range(3):
        (tmp_path / f"part-{i}.csv").write_text(f"a,b\n{i},{10 * i}\n{i},{10 * i + 1}\n")
    frame = read_table(tmp_path / "part-*.csv", ["a", "b"])
    assert frame["b"].tolist() == [0, 1, 10, 11, 20, 21]
    with pytest.raises(UserError, match="no file matches the pattern"):
        read_table(tmp_path / "nothing-*.csv")
