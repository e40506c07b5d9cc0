"""TensorFlow Datasets sources of the catalog (`[source] kind = "tfds"`).

`tensorflow-datasets` is optional (`pip install "rnn-tasks[tfds]"`). A
dataset already prepared in the data directory (`data_dir` in the card, or
`$TFDS_DATA_DIR`, default `~/tensorflow_datasets`) is read without any
network access. Otherwise its download host is probed for a few seconds
first: a plain `tfds.load` without network spends minutes in DNS and HTTP
retries before it gives up.
"""

import os
import urllib.parse

import pandas as pd

from rnn_tasks.checks import reachable
from rnn_tasks.errors import UserError

PROBE_TIMEOUT_S = 5


def read_tfds(name, source):
    """Reads a TFDS dataset's splits into one DataFrame.

    Args:
        name: the catalog name (for messages).
        source: the card's `[source]`: `name` (TFDS name, e.g.
            `"imdb_reviews"`), `splits` (e.g. `["train", "test[:50%]"]`),
            `columns` (features to keep; `"captions/text"` reaches into a
            nested feature), `probe_url` (the download host), optionally
            `data_dir`, `undecoded` (image features kept as their encoded
            bytes), `explode` (a sequence column that becomes one row per
            item) and `rename` (`{column: new name}`). Class-label features
            become their names, text features `str`.

    Returns:
        `pandas.DataFrame` with the (renamed) columns plus `split`.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise UserError(f"dataset {name!r} needs tensorflow-datasets: "
                        'pip install "rnn-tasks[tfds]"') from None
    data_dir = os.path.expanduser(source.get("data_dir") or os.environ.get("TFDS_DATA_DIR")
                                  or "~/tensorflow_datasets")
    builder = tfds.builder(source["name"], data_dir=data_dir)
    decoders = {name: tfds.decode.SkipDecoding() for name in source.get("undecoded", [])}
    options = {"split": list(source["splits"]), "data_dir": data_dir, "decoders": decoders or None}
    try:
        splits = tfds.load(source["name"], download=False, **options)
    except (AssertionError, FileNotFoundError, ValueError):  # not prepared locally
        if not _reachable(source["probe_url"]):
            raise UserError(
                f"dataset {name!r} is not prepared in {data_dir} and its host "
                f"{urllib.parse.urlparse(source['probe_url']).hostname} is unreachable; on a "
                f"machine with network run `tfds build {source['name']} --data_dir DIR`, copy "
                "DIR here and set TFDS_DATA_DIR=DIR (or pass --set data.path=FILE)"
            ) from None
        builder.download_and_prepare()
        splits = tfds.load(source["name"], **options)
    frames = []
    for split, dataset in zip(source["splits"], splits):
        rows = list(tfds.as_numpy(dataset))
        frame = pd.DataFrame({column: [_value(row, column, builder.info.features, source)
                                       for row in rows] for column in source["columns"]})
        if source.get("explode"):
            frame = frame.explode(source["explode"], ignore_index=True)
        frames.append(frame.assign(split=split))
    return pd.concat(frames, ignore_index=True).rename(columns=source.get("rename", {}))


def _value(row, column, features, source):
    """A row's `column` (`a/b` for nested features) as plain Python values."""
    value, feature = row, features
    for key in column.split("/"):
        value, feature = value[key], feature[key]
        feature = getattr(feature, "feature", feature)  # a Sequence's item feature
    if column in source.get("undecoded", []):
        return bytes(value)
    if hasattr(feature, "int2str"):
        return feature.int2str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "dtype") and value.dtype == object:  # a sequence of strings
        return [v.decode("utf-8", errors="replace") for v in value.tolist()]
    return value


def _reachable(url):
    """Whether a TCP connection to `url`'s host opens within `PROBE_TIMEOUT_S` (DNS included)."""
    parsed = urllib.parse.urlparse(url)
    return reachable(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80),
                     PROBE_TIMEOUT_S)
