"""TOML recipes: find, read, override with `--set`, validate, write back.

A recipe is data, never code. Each template declares a schema: for every
section a mapping of key -> `Field`. Validation fills defaults and rejects
unknown keys and wrong types with one line naming the key and what is allowed.

Example:
>>> schema = {"train": {"epochs": Field(int, 10)}}
>>> validate({"train": {"epochs": 3}}, schema)
{'train': {'epochs': 3}}
>>> apply_overrides({"train": {"epochs": 3}}, parse_overrides(["train.epochs=5"]))
{'train': {'epochs': 5}}
"""

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import tomli_w

from rnn_tasks.errors import UserError, path_argument

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_MISSING = object()
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list"}


@dataclasses.dataclass(frozen=True)
class Field:
    """One recipe key: its type, default and allowed values.

    Args:
        kind: `bool`, `int`, `float`, `str` or `list`, or a tuple of them
            (with `choices`: `(str, bool)` for `"auto"`, `true`, `false`;
            `(str, list)`: one string or a list of strings).
        default: value when the recipe omits the key; `Field.REQUIRED` for none.
        choices: allowed values (for `list`: allowed items), or `None`.
        items: type of list items (a tuple for several), or `None`.
        minimum: smallest allowed number (for `list`: of each item), or `None`.
        maximum: largest allowed number (for `list`: of each item), or `None`.
        above: the minimum itself is not allowed (`> minimum`).
        below: the maximum itself is not allowed (`< maximum`).
        length: `(fewest, most)` items of a list or characters of a string
            (`None` for no bound on that side), or `None`.

    Example:
    >>> Field(float, 0.0, minimum=0.0, maximum=1.0, below=True).describe()
    'a number >= 0.0 and < 1.0'
    """

    kind: type
    default: object = None
    choices: tuple = None
    items: type = None
    minimum: float = None
    maximum: float = None
    above: bool = False
    below: bool = False
    length: tuple = None

    REQUIRED = _MISSING

    def describe(self):
        if isinstance(self.kind, tuple) and not self.choices:
            parts = [dataclasses.replace(self, kind=kind).describe() for kind in self.kind]
            return ", ".join(parts[:-1]) + " or " + parts[-1]
        if self.choices:
            text = "one of " + ", ".join(toml_repr(c) for c in self.choices)
            return f"a list of {text}" if self.kind is list else text
        text = _TYPE_NAMES[self.kind] + (" (true or false)" if self.kind is bool else "")
        if self.kind is list:
            kinds = self.items if isinstance(self.items, tuple) else (self.items,)
            names = [_TYPE_NAMES[k].split(" ", 1)[1] + "s" for k in kinds]
            items = (", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]) \
                if self.items else "items"
            text = (f"a non-empty list of {items}" if self.length == (1, None)
                    else f"a list of {self._describe_length()}{items}")
        elif self.kind is str and self.length:
            text = ("a non-empty string" if self.length == (1, None)
                    else f"a string of {self._describe_length()}characters")
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{'>' if self.above else '>='} {self.minimum}")
        if self.maximum is not None:
            bounds.append(f"{'<' if self.below else '<='} {self.maximum}")
        return " ".join([text, " and ".join(bounds)]) if bounds else text

    def _describe_length(self):
        """`"3 "`, `"1 to 16 "`, `"at least 1 "` or `""`: how many items (or characters)."""
        fewest, most = self.length or (0, None)
        if most is None:
            return f"at least {fewest} " if fewest else ""
        return f"{fewest} " if fewest == most else f"{fewest} to {most} "

    def check(self, key, value, where="recipe"):
        """Returns `value` converted to this field's type, or raises `UserError` that
        starts with `where` (what the value came from)."""
        value = _plain(value)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.kind is list and self.items is float and isinstance(value, list):
            value = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        if not self._allows(value):
            raise UserError(f"{where}: `{key}` must be {self.describe()}, got {value!r}")
        return value

    def _allows(self, value):
        if not _is(value, self.kind):
            return False
        if self.length and isinstance(value, (str, list)):  # of a string or a list
            fewest, most = self.length
            if len(value) < fewest or (most is not None and len(value) > most):
                return False
        values = value if isinstance(value, list) else [value]
        if self.items and not all(_is(v, self.items) for v in values):
            return False
        if self.choices and not all(v in self.choices for v in values):
            return False
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if any(v != v or v in (float("inf"), float("-inf")) for v in numbers):
            return False  # NaN and infinities are never a recipe value
        if self.minimum is not None and any(v < self.minimum or (self.above and v == self.minimum)
                                            for v in numbers):
            return False
        if self.maximum is not None and any(v > self.maximum or (self.below and v == self.maximum)
                                            for v in numbers):
            return False
        return True


def _plain(value):
    """NumPy scalars (also inside a list) as the Python values they hold; a tuple as a list."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def toml_repr(value):
    """`value` as a recipe writes it: `true`/`false` for booleans, else `repr`."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _is(value, kinds):
    """`isinstance` where `True` is not an integer and integers are numbers."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def builtin_dir(kind):
    """Folder of the built-in `tasks` or `datasets` TOML files.

    An installed wheel carries them as `rnn_tasks/resources/<kind>`; in a
    source checkout they sit at the top of the repository.
    """
    package = Path(__file__).resolve().parent
    if (package / "resources" / kind).is_dir():
        return package / "resources" / kind
    if (package.parent / "pyproject.toml").is_file() and (package.parent / kind).is_dir():
        return package.parent / kind
    raise UserError(f"cannot find the built-in {kind}/ folder next to {package}")


def builtin_recipes():
    """Mapping of built-in recipe name -> path."""
    return {p.stem: p for p in sorted(builtin_dir("tasks").glob("*.toml"))}


def resolve_recipe_path(source):
    """A recipe file path, or the name of a built-in recipe, to an existing path."""
    path = Path(source)
    if path.is_file():
        return path
    recipes = builtin_recipes()
    if str(source) in recipes:
        return recipes[str(source)]
    raise UserError(
        f"recipe {str(source)!r} not found: not a file, nor a built-in recipe "
        f"(built-in: {', '.join(recipes)})"
    )


def read_toml(path):
    """Parses a TOML file; raises `UserError` naming the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not TOML
        return tomllib.loads(text)
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text, so not a TOML recipe") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


def parse_overrides(items):
    """`["section.key=value", ...]` -> `{("section", "key"): value}`.

    The value is read as a TOML value (`5`, `1e-3`, `true`, `["a", "b"]`,
    `"text"`); anything that is not TOML is taken as a plain string, so
    `--set data.group=IBM` works.
    """
    overrides = {}
    for item in items or []:
        if not isinstance(item, str):
            raise UserError(f"overrides must be 'section.key=value' strings, got {item!r}")
        name, sep, text = item.partition("=")
        parts = name.strip().split(".")
        if not sep or not name.strip() or len(parts) > 2 or not all(parts):
            raise UserError(
                f"--set expects section.key=value (or key=value for top-level keys), got {item!r}"
            )
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        overrides[tuple(parts)] = value
    return overrides


def as_overrides(overrides):
    """`{"train.epochs": 2}` or `["train.epochs=2"]` -> `{("train", "epochs"): 2}`."""
    if isinstance(overrides, (str, bytes)):
        raise UserError(f"overrides must be a dict {{'section.key': value}} or a list of "
                        f"'section.key=value' strings, got the string {overrides!r}")
    if overrides is None or isinstance(overrides, dict):
        wrong = [key for key in overrides or {} if not isinstance(key, (str, tuple))]
        if wrong:
            raise UserError(f"overrides: keys must be 'section.key' strings, got "
                            f"{type(wrong[0]).__name__} {wrong[0]!r}")
        # A path value may be a pathlib.Path, as for every path argument.
        return {tuple(k.split(".")) if isinstance(k, str) else k:
                os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in (overrides or {}).items()}
    if not isinstance(overrides, (list, tuple)):
        raise UserError(f"overrides must be a dict {{'section.key': value}} or a list of "
                        f"'section.key=value' strings, got {type(overrides).__name__} "
                        f"{repr(overrides)[:60]}")
    return parse_overrides(overrides)


def without_data_path(raw):
    """A parsed recipe without `data.path`, for a DataFrame given in its place.

    Example:
    >>> without_data_path({"task": "sentiment", "data": {"path": "r.csv", "seed": 1}})
    {'task': 'sentiment', 'data': {'seed': 1}}
    """
    if not isinstance(raw.get("data"), dict):
        return raw
    return {**raw, "data": {k: v for k, v in raw["data"].items() if k != "path"}}


def load_recipe(source, overrides=None):
    """Reads a recipe file or built-in recipe name and applies overrides (not validated).

    Args:
        source: path to a TOML recipe, or a built-in name like `"price_forecasting"`.
        overrides: `{"section.key": value}` or `["section.key=value"]`.

    Returns:
        `(recipe dict, recipe name)`; the name is the file's stem.

    Example:
    >>> recipe, name = load_recipe("price_forecasting", ["train.epochs=2"])
    >>> name, recipe["task"], recipe["train"]["epochs"]
    ('price_forecasting', 'forecasting', 2)
    """
    path = resolve_recipe_path(path_argument("recipe", source))
    return apply_overrides(read_toml(path), as_overrides(overrides)), Path(path).stem


def apply_overrides(recipe, overrides):
    """Returns a copy of `recipe` with `{(section, key) or (key,): value}` applied."""
    result = {k: dict(v) if isinstance(v, dict) else v for k, v in recipe.items()}
    for parts, value in (overrides or {}).items():
        if isinstance(parts, str):
            parts = tuple(parts.split("."))
        name = ".".join(map(str, parts))
        if not 1 <= len(parts) <= 2 or not all(isinstance(p, str) and p for p in parts):
            raise UserError(f"override {name!r}: keys are 'section.key' (or 'key' for "
                            "top-level keys)")
        if isinstance(value, np.generic):  # a NumPy number from a user's own code
            value = value.item()
        if len(parts) == 1:
            if isinstance(value, dict) or isinstance(result.get(parts[0]), dict):
                raise UserError(f"--set {name}: `{name}` is a section; set its keys one by one "
                                f"({name}.key=value)")
            result[parts[0]] = value
        else:
            section = result.setdefault(parts[0], {})
            if not isinstance(section, dict):
                raise UserError(f"--set {'.'.join(parts)}: `{parts[0]}` is not a section")
            section[parts[1]] = value
    return result


def validate(recipe, schema):
    """Checks `recipe` against `schema`; returns it complete with defaults.

    Args:
        recipe: parsed TOML, `{section: {key: value}}` plus top-level keys.
        schema: `{section: {key: Field}}`; top-level keys live under `""`.

    Returns:
        The validated recipe, every schema key present.

    Raises:
        UserError: unknown section or key, wrong type, missing required key.
    """
    top = schema.get("", {})
    resolved = {}
    for name, value in recipe.items():
        if name in top:
            resolved[name] = top[name].check(name, value)
        elif name not in schema:
            allowed = sorted(list(top) + [s for s in schema if s])
            raise UserError(f"recipe: unknown key `{printable(name)}` (allowed: {', '.join(allowed)})")
        elif not isinstance(value, dict):
            raise UserError(f"recipe: `{name}` must be a [{name}] section, got {value!r}")
    for name, field in top.items():
        if name not in resolved:
            resolved[name] = _default(name, field)
    for section, fields in schema.items():  # a misspelt key first: it may be a missing one
        for key in recipe.get(section, {}) if section else ():
            if key not in fields:
                raise UserError(
                    f"recipe: unknown key `{section}.{printable(key)}` "
                    f"(allowed in [{section}]: {', '.join(fields)})"
                )
    for section, fields in schema.items():
        if not section:
            continue
        given = recipe.get(section, {})
        resolved[section] = {
            key: field.check(f"{section}.{key}", given[key]) if key in given
            else _default(f"{section}.{key}", field)
            for key, field in fields.items()
        }
    return resolved


def as_config(recipe, schema):
    """A validated recipe as frozen sections read by attribute: `config.model.units`.

    Each section is a frozen dataclass whose fields are the schema's keys, in
    the schema's order, so code reads a key it names (a misspelt one is an
    `AttributeError` where it is read) and cannot change the recipe it was
    given. Top-level keys (`task`, `description`) are fields of the config.

    Args:
        recipe: a recipe that `validate` returned for `schema`.
        schema: `{section: {key: Field}}`; top-level keys live under `""`.

    Returns:
        A frozen dataclass with one field per top-level key and per section.

    Example:
    >>> schema = {"": {"task": Field(str)}, "train": {"epochs": Field(int, 10)}}
    >>> config = as_config({"task": "demo", "train": {"epochs": 3}}, schema)
    >>> config.task, config.train.epochs
    ('demo', 3)
    >>> config.train.epochs = 4
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'epochs'
    """
    values = {name: recipe[name] for name in schema.get("", {})}
    for section, fields in schema.items():
        if section:
            typed = [(key, field.kind if isinstance(field.kind, type) else object)
                     for key, field in fields.items()]
            kind = dataclasses.make_dataclass(section.capitalize(), typed, frozen=True)
            values[section] = kind(**{key: recipe[section][key] for key in fields})
    return dataclasses.make_dataclass("Config", list(values), frozen=True)(**values)


def _default(key, field):
    if field.default is _MISSING:
        raise UserError(f"recipe: `{key}` is required ({field.describe()})")
    return field.default


def write_recipe(recipe, path):
    """Writes a resolved recipe as TOML (`None` values are left out), with a relative
    `data.path` made absolute: the run reads the same file from any working folder."""
    def clean(table):
        return {k: clean(v) if isinstance(v, dict) else v
                for k, v in table.items() if v is not None}

    Path(path).write_text(tomli_w.dumps(with_absolute_path(clean(recipe))), encoding="utf-8")


def with_absolute_path(recipe):
    """`recipe` with a relative `data.path` made absolute (against the working folder).

    Example:
    >>> with_absolute_path({"data": {"path": "/data/x.csv"}})
    {'data': {'path': '/data/x.csv'}}
    """
    data = recipe.get("data")
    if not (isinstance(data, dict) and isinstance(data.get("path"), str) and data["path"]):
        return recipe
    return {**recipe, "data": {**data, "path": os.path.abspath(os.path.expanduser(data["path"]))}}


def printable(name):
    """A key as it can be shown on one line: control characters escaped ("\\n")."""
    return name if name.isprintable() else repr(name)[1:-1]
