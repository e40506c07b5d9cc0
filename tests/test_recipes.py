"""Recipe loading, validation and --set overrides."""

import re

import numpy as np
import pytest

from rnn_tasks.errors import UserError
from rnn_tasks.recipes import (
    Field,
    apply_overrides,
    builtin_recipes,
    load_recipe,
    parse_overrides,
    read_toml,
    validate,
)
from rnn_tasks.templates import ForecastingTask, Task

SCHEMA = {
    "": {"task": Field(str, Field.REQUIRED)},
    "train": {"epochs": Field(int, 10, minimum=1), "rate": Field(float, 0.1),
              "flag": Field(bool, False), "kind": Field(str, "a", choices=("a", "b")),
              "names": Field(list, [], items=str)},
}


def test_validate_fills_defaults_and_converts_int_to_float():
    recipe = validate({"task": "t", "train": {"rate": 1}}, SCHEMA)
    assert recipe == {"task": "t", "train": {"epochs": 10, "rate": 1.0, "flag": False,
                                             "kind": "a", "names": []}}
    assert isinstance(recipe["train"]["rate"], float)


@pytest.mark.parametrize("recipe, message", [
    ({"task": "t", "train": {"epoch": 3}},
     "unknown key `train.epoch` (allowed in [train]: epochs, rate, flag, kind, names)"),
    ({"task": "t", "trian": {}}, "unknown key `trian` (allowed: task, train)"),
    ({"task": "t", "train": {"epochs": "ten"}}, "`train.epochs` must be an integer >= 1, got 'ten'"),
    ({"task": "t", "train": {"epochs": 0}}, "`train.epochs` must be an integer >= 1, got 0"),
    ({"task": "t", "train": {"epochs": True}}, "`train.epochs` must be an integer"),
    ({"task": "t", "train": {"flag": 1}}, "`train.flag` must be a boolean (true or false), got 1"),
    ({"task": "t", "train": {"kind": "c"}}, "`train.kind` must be one of 'a', 'b', got 'c'"),
    ({"task": "t", "train": {"names": ["x", 2]}}, "`train.names` must be a list of strings"),
    ({"task": "t", "train": 3}, "`train` must be a [train] section"),
    ({"train": {}}, "`task` is required"),
])
def test_validate_errors_name_key_and_allowed(recipe, message):
    with pytest.raises(UserError) as error:
        validate(recipe, SCHEMA)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_parse_overrides_reads_toml_values_and_bare_strings():
    overrides = parse_overrides(["train.epochs=5", "train.rate=1e-3", "train.flag=true",
                                 "data.columns=['a', 'b']", "data.group=IBM", "task=forecasting",
                                 'data.path="x y.csv"'])
    assert overrides == {("train", "epochs"): 5, ("train", "rate"): 1e-3,
                         ("train", "flag"): True, ("data", "columns"): ["a", "b"],
                         ("data", "group"): "IBM", ("task",): "forecasting",
                         ("data", "path"): "x y.csv"}


@pytest.mark.parametrize("item", ["train.epochs", "=3", "a.b.c=1", ".x=1"])
def test_parse_overrides_rejects_malformed(item):
    with pytest.raises(UserError, match="--set expects section.key=value"):
        parse_overrides([item])


def test_apply_overrides_does_not_mutate():
    recipe = {"train": {"epochs": 3}}
    assert apply_overrides(recipe, {("train", "epochs"): 4}) == {"train": {"epochs": 4}}
    assert recipe == {"train": {"epochs": 3}}


def test_from_recipe_builtin_name_and_overrides():
    task = Task.from_recipe("price_forecasting", {"train.epochs": 2, "model.cell": "gru"})
    assert isinstance(task, ForecastingTask)
    assert task.recipe["train"]["epochs"] == 2 and task.recipe["model"]["cell"] == "gru"
    assert task.recipe_name == "price_forecasting"
    same = Task.from_recipe("tasks/price_forecasting.toml", ["train.epochs=2", "model.cell=gru"])
    assert same.recipe == task.recipe


def test_every_builtin_recipe_validates():
    recipes = builtin_recipes()
    assert {"price_forecasting", "temperature_forecasting"} <= set(recipes)
    for path in recipes.values():
        Task.from_recipe(path)


def test_recipe_errors(tmp_path):
    with pytest.raises(UserError, match="not found: not a file, nor a built-in recipe"):
        Task.from_recipe("no_such_recipe")
    bad = tmp_path / "bad.toml"
    bad.write_text("task = \n")
    with pytest.raises(UserError, match="is not valid TOML"):
        read_toml(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UserError, match="is not UTF-8"):
        read_toml(binary)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('task = "dancing"\n')
    with pytest.raises(UserError, match="`task` must be one of 'captioning', 'forecasting', "
                                        "'sentiment', 'translation', got 'dancing'"):
        Task.from_recipe(unknown)
    with pytest.raises(UserError, match="unknown key `model.unit`"):
        Task.from_recipe("price_forecasting", {"model.unit": 3})


def test_a_field_of_two_kinds_takes_either_and_names_both():
    field = Field((str, list), items=str, length=(1, None))  # data.group: one name or a list
    assert field.check("data.group", "IBM") == "IBM"
    assert field.check("data.group", ["IBM", "MSFT"]) == ["IBM", "MSFT"]
    for value in ([3], [], "", 3):
        with pytest.raises(UserError, match="`data.group` must be a non-empty string or a "
                                            "non-empty list of strings, got "):
            field.check("data.group", value)


@pytest.mark.parametrize("overrides, message", [
    ({"model.units.x": 99}, "override 'model.units.x': keys are 'section.key'"),
    ({"train": {"epochs": 1}}, "--set train: `train` is a section; set its keys one by one"),
    (["train={epochs=1}"], "--set train: `train` is a section"),
])
def test_overrides_that_would_set_something_else_are_refused(overrides, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_recipe("price_forecasting", overrides)


def test_numpy_numbers_are_plain_values():
    recipe, _ = load_recipe("price_forecasting", {"model.units": np.int64(8),
                                                  "train.learning_rate": np.float32(0.5)})
    assert recipe["model"]["units"] == 8 and type(recipe["model"]["units"]) is int
    assert type(recipe["train"]["learning_rate"]) is float
    recipe = validate({"train": {"epochs": np.int64(3), "rates": [np.float32(0.5)]}},
                      {"train": {"epochs": Field(int, 1), "rates": Field(list, [], items=float)}})
    assert recipe == {"train": {"epochs": 3, "rates": [0.5]}}
    assert type(recipe["train"]["epochs"]) is int and type(recipe["train"]["rates"][0]) is float
