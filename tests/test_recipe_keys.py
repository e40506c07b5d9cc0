"""Every recipe key changes what a task does.

For each template and each key of its schema, either two values of the key give
two different fingerprints of the task before training (the first shuffled
training batch, the split sizes, the network's architecture, its optimizer,
loss and XLA setting, the callbacks, the strategy), or `ELSEWHERE` names the
test that shows the key's effect after training. A key added to a schema
without either fails `test_every_key_is_exercised`.
"""

import hashlib
import importlib
import json

import keras
import numpy as np
import pandas as pd
import pytest

from rnn_tasks.schemas import SCHEMAS
from rnn_tasks.templates import (
    CaptioningTask,
    ForecastingTask,
    SentimentTask,
    TranslationTask,
)
from tests.test_captioning import write_captions_table

TEMPLATES = {"forecasting": ForecastingTask, "sentiment": SentimentTask,
             "translation": TranslationTask, "captioning": CaptioningTask}

# `template -> {key: (value, other value)}`: keys whose effect shows before training.
COMMON = {
    "model.layer_norm": (True, False),
    "model.units": (8, 9), "model.layers": (1, 2), "model.dropout": (0.0, 0.25),
    "train.batch_size": (16, 24), "train.learning_rate": (0.01, 0.02),
    "train.clipnorm": (1.0, 0.0), "train.patience": (0, 2),
    "train.strategy": ("auto", "mirrored"), "train.jit_compile": (True, False),
    "data.seed": (0, 1), "train.seed": (0, 1), "data.split": ([0.8, 0.1, 0.1], [0.6, 0.2, 0.2]),
}
VARIANTS = {
    "forecasting": {
        **COMMON, "model.cell": ("gru", "lstm"),
        "data.date_column": ("Date", "Shuffled date"),
        "data.group_column": ("Ticker", "Other ticker"), "data.group": ("A", "B"),
        "data.target_columns": (["Adj Close"], ["Open"]),
        "data.feature_columns": ([], ["Volume"]), "data.future_columns": ([], ["Volume"]),
        "data.calendar": ([], ["day_of_week"]), "data.window": (20, 21),
        "data.horizon": (3, 4), "data.scaling": ("log", "difference"),
        "model.quantiles": ([0.25, 0.5, 0.75], [0.1, 0.25, 0.5, 0.75, 0.9]), "train.loss": ("mse", "huber"),
    },
    "sentiment": {
        **COMMON, "model.cell": ("gru", "minlstm"),
        "data.text_column": ("text", "other text"), "data.label_column": ("label", "other label"),
        "data.labels": (["rotten", "fresh"], ["fresh", "rotten"]),
        "data.group_column": ("movie", "other movie"), "data.vocabulary_size": (40, 12),
        "data.sequence_length": (12, 13), "model.embedding_dim": (8, 9),
        "model.embedding_dropout": (0.0, 0.25), "model.bidirectional": (True, False),
        "model.pooling": ("last", "attention"), "model.ngrams": (0, 2),
        "train.loss": ("binary_crossentropy", "binary_focal_crossentropy"),
    },
    "translation": {
        **COMMON, "model.cell": ("gru", "mingru"),
        "data.source_column": ("source", "other source"),
        "data.target_column": ("target", "other target"), "data.vocabulary_size": (60, 30),
        "data.max_source_length": (12, 6), "data.max_target_length": (12, 7),
        "model.embedding_dim": (8, 9), "model.bidirectional": (True, False),
        "model.attention": ("luong", "bahdanau"), "model.embedding_dropout": (0.0, 0.25),
        "train.label_smoothing": (0.0, 0.1),
    },
    "captioning": {
        **COMMON, "model.cell": ("gru", "simple_rnn"),
        "data.image_column": ("image", "other image"),
        "data.caption_column": ("caption", "other caption"), "data.vocabulary_size": (40, 12),
        "data.image_size": (32, 40), "data.max_caption_length": (12, 6),
        "model.embedding_dim": (8, 9), "model.filters": ([4], [4, 4]),
        "model.backbone": ("none", "mobilenet_v3_small"), "train.label_smoothing": (0.0, 0.1),
    },
}

# Keys that need others set with them, for both of their values.
COMPANIONS = {
    ("forecasting", "model.quantiles"): {"train.loss": "pinball"},
    ("captioning", "model.backbone"): {"model.backbone_weights": ""},  # no download
}

# Keys whose effect shows only in training, evaluation, export or the source of the data:
# the test that shows it (`module::function`).
DECODE = {key: "test_recipe_keys::test_decode_keys_set_the_default_decoding"
          for key in ("decode.method", "decode.beam_width", "decode.max_length", "decode.length_penalty")}
SHARED_ELSEWHERE = {
    "description": "test_forecasting::test_cli_lists_recipes_and_datasets",
    "data.dataset": "test_forecasting::test_default_recipe_on_the_builtin_dataset",
    "data.path": "test_forecasting::test_cli_train_evaluate_predict_export",
    "train.epochs": "test_reliability::test_training_killed_with_sigkill_resumes_from_its_last_epoch",
    "export.warmup_examples": "test_forecasting::test_warmup_records_are_prediction_logs_of_validation_inputs",
}
ELSEWHERE = {
    "forecasting": {
        **SHARED_ELSEWHERE,
        "data.date_format": "test_reliability::test_bad_input_in_a_real_shell_is_one_line_exit_2_and_writes_nothing",
        "data.season": "test_recipe_keys::test_season_sets_the_seasonal_baseline",
        "model.calibrate": "test_forecasting::test_calibration_makes_each_level_hold_on_the_validation_windows",
    },
    "sentiment": {
        **SHARED_ELSEWHERE,
        "model.ngram_initializer": "test_sentiment::test_ngram_weights_start_as_naive_bayes_of_the_training_split",
    },
    "translation": {**SHARED_ELSEWHERE, **DECODE},
    "captioning": {
        **SHARED_ELSEWHERE, **DECODE,
        "data.image_dir": "test_captioning::test_missing_and_unreadable_images_are_named",
        "model.backbone_weights": "test_captioning::test_backbone_without_weights_is_a_clear_error",
    },
}


def schema_keys(template):
    return {f"{section}.{key}" if section else key
            for section, fields in SCHEMAS[template].items() for key in fields} - {"task"}


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_key_is_exercised(template):
    covered = set(VARIANTS[template]) | set(ELSEWHERE[template])
    assert schema_keys(template) - covered == set(), "keys without a test"
    assert covered - schema_keys(template) == set(), "tests of keys the schema lacks"
    assert not set(VARIANTS[template]) & set(ELSEWHERE[template])
    for test in ELSEWHERE[template].values():
        module, function = test.split("::")
        assert callable(getattr(importlib.import_module(f"tests.{module}"), function, None)), test


def frames(folder):
    """`{template: (recipe, base overrides, DataFrame or None)}`: tiny data in which each
    column key has a second column to point at."""
    rng = np.random.default_rng(0)
    rows = 160
    dates = pd.date_range("2001-01-01", periods=rows)
    prices = pd.DataFrame({
        "Ticker": np.repeat(["A", "B"], rows), "Other ticker": np.tile(["A", "B"], rows),
        "Date": np.tile(dates, 2), "Shuffled date": np.tile(rng.permutation(dates), 2),
        "Adj Close": 50 + rng.random(2 * rows).cumsum(), "Open": 60 + rng.random(2 * rows).cumsum(),
        "Volume": rng.integers(1000, 2000, 2 * rows)})
    words = np.array(["good", "bad", "film", "plot", "cast", "dull", "witty", "long", "sharp"])
    texts = [" ".join(rng.choice(words, 6)) for _ in range(rows)]
    reviews = pd.DataFrame({
        "text": texts, "other text": texts[::-1],
        "label": rng.choice(["rotten", "fresh"], rows), "other label": rng.choice(["rotten", "fresh"], rows),
        "movie": rng.integers(0, 20, rows), "other movie": rng.integers(0, 20, rows)})
    sources = [" ".join(rng.choice(words, rng.integers(2, 10))) for _ in range(rows)]
    pairs = pd.DataFrame({"source": sources, "target": [s.upper() for s in sources],
                          "other source": sources[::-1], "other target": sources})
    captions = pd.read_csv(write_captions_table(folder))
    captions["other image"] = captions["image"].iloc[::-1].to_numpy()
    captions["other caption"] = captions["caption"].iloc[::-1].to_numpy()
    captions.to_csv(folder / "captions.csv", index=False)
    tiny = {"model.units": 8, "model.embedding_dim": 8, "train.batch_size": 16}
    return {
        "forecasting": ("price_forecasting", {"data.window": 20, "data.horizon": 3, "model.units": 8,
                                              "data.group_column": "Ticker", "data.group": "A",
                                              "train.batch_size": 16}, prices),
        "sentiment": ("sentiment", {**tiny, "data.sequence_length": 12, "data.text_column": "text",
                                    "data.label_column": "label", "data.group_column": "movie",
                                    "data.vocabulary_size": 40}, reviews),
        "translation": ("translation", {**tiny, "data.source_column": "source",
                                        "data.target_column": "target", "data.vocabulary_size": 60,
                                        "data.max_source_length": 12, "data.max_target_length": 12},
                        pairs),
        "captioning": ("captioning", {**tiny, "data.path": str(folder / "captions.csv"),
                                      "data.image_size": 32, "model.filters": [4],
                                      "data.vocabulary_size": 40, "data.max_caption_length": 12},
                       None),
    }


@pytest.fixture(scope="module")
def setups(tmp_path_factory):
    return frames(tmp_path_factory.mktemp("keys"))


def digest(value):
    return hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()[:12]


def fingerprint(task):
    """What a task does before training, as comparable text."""
    import tensorflow as tf

    task.prepare()
    parts = {}
    for split in ("train", "validation", "test"):
        batches = task.as_dataset(task.training_data(split), shuffle=split == "train")
        first = next(iter(batches))
        parts[split] = [f"{tuple(t.shape)} {digest(t.numpy())}" for t in tf.nest.flatten(first)]
    core = task.build_model()
    task.compile_model(core)
    optimizer = core.optimizer.get_config()
    parts["network"] = json.loads(core.to_json())
    parts["optimizer"] = [optimizer["learning_rate"], optimizer["clipnorm"]]
    parts["loss"] = keras.saving.serialize_keras_object(core.loss)  # class and arguments
    parts["jit_compile"] = core.jit_compile
    parts["callbacks"] = [(type(c).__name__, getattr(c, "patience", None)) for c in task.callbacks()]
    parts["strategy"] = type(task.strategy).__name__
    return json.dumps(parts, sort_keys=True, default=str)


FINGERPRINTS = {}  # (template, overrides as JSON) -> fingerprint


def cases():
    return [(template, key) for template in TEMPLATES for key in sorted(VARIANTS[template])]


@pytest.mark.parametrize("template, key", cases())
def test_two_values_of_a_key_give_two_tasks(setups, template, key):
    recipe, base, frame = setups[template]
    base = {**base, **COMPANIONS.get((template, key), {})}
    prints = []
    for value in VARIANTS[template][key]:
        overrides = {**base, key: value}
        cached = (template, json.dumps(overrides, sort_keys=True))  # the base recurs: once each
        if cached not in FINGERPRINTS:
            task = TEMPLATES[template].from_recipe(recipe, overrides, data=frame)
            FINGERPRINTS[cached] = fingerprint(task)
        prints.append(FINGERPRINTS[cached])
    assert prints[0] != prints[1]


@pytest.mark.parametrize("template", ["translation", "captioning"])
def test_decode_keys_set_the_default_decoding(request, template):
    """Each `[decode]` key, set at load, decodes as the same setting passed per call."""
    task, run_dir, _ = request.getfixturevalue(f"{template}_run")
    inputs = {"translation": ["March 3, 2021", "the 1st of May, 1999"],
              "captioning": list(task.data.splits["test"][0][:2])}[template]
    output = task.output_name
    settings = {"method": "greedy", "beam_width": 1, "max_length": 2, "length_penalty": 0.0}
    for key, value in settings.items():
        loaded = TEMPLATES[template].load(run_dir, overrides={f"decode.{key}": value})
        expected = task.predict(inputs, **{key: value})
        got = loaded.predict(inputs)
        assert got[output].tolist() == expected[output].tolist(), key
        np.testing.assert_allclose(got["log_probability"], expected["log_probability"], rtol=1e-5)
    short = task.predict(inputs, max_length=2)[output]
    assert max(len(text.split()) for text in short) <= 2
    assert max(len(text.split()) for text in task.predict(inputs)[output]) > 2


def test_season_sets_the_seasonal_baseline(forecasting_run):
    task, run_dir, _ = forecasting_run
    other = ForecastingTask.load(run_dir, overrides={"data.season": 2}).evaluate()
    assert other["mae"] == task.metrics["mae"]  # the model is the same,
    assert other != {**task.metrics, "seconds": other["seconds"]}  # its seasonal baseline is not
