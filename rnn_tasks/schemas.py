"""What each template's recipe may say, checked before any data is read.

`SCHEMAS` maps a recipe's `task` to its schema (`{section: {key: Field}}`),
with every key's full allowed range; `RULES` maps it to the checks that join
several keys (window against season, pooling against image size, ...).
`resolve_recipe` applies both. This module imports neither TensorFlow nor
Keras, so the command line answers a bad recipe in well under a second.

Example:
>>> data = {"path": "prices.csv", "target_columns": ["y"]}
>>> recipe = resolve_recipe({"task": "forecasting", "data": data})
>>> recipe["data"]["window"], recipe["model"]["cell"]
(60, 'lstm')
>>> resolve_recipe({"task": "forecasting", "data": {**data, "season": 90}})
Traceback (most recent call last):
...
rnn_tasks.errors.UserError: recipe: `data.season` (90) must be <= `data.window` (60)
"""

from rnn_tasks.errors import UserError
from rnn_tasks.recipes import Field, validate

SEED_MAX = 2**32 - 1  # NumPy's and Keras's seeds are unsigned 32-bit
SCALING_MODES = ("log", "difference")
BACKBONES = {"mobilenet_v3_small": "MobileNetV3Small", "efficientnet_b0": "EfficientNetB0",
             "resnet50": "ResNet50"}
MIN_BACKBONE_IMAGE_SIZE = 32  # the smallest input keras.applications accept
PARALLEL_CELLS = ("mingru", "minlstm")  # layer-normalized only: Keras has no such layer
CALENDAR = ("day_of_week", "day_of_month", "month", "day_of_year", "hour")


def _size(default, maximum, minimum=1):
    """An integer size (units, lengths, counts) between `minimum` and `maximum`."""
    return Field(int, default, minimum=minimum, maximum=maximum)


def _split(default):
    """Three positive fractions for train / validation / test (normalized by their sum)."""
    return Field(list, default, items=float, minimum=0.0, above=True, length=(3, 3))


def _columns(default):
    """A list of column names, each a non-empty string."""
    return Field(list, default, items=str, length=(0, None))


BASE_SCHEMA = {
    "": {"task": Field(str, Field.REQUIRED), "description": Field(str, "")},
    "data": {
        "dataset": Field(str, length=(1, None)),
        "path": Field(str, length=(1, None)),
        "seed": Field(int, 0, minimum=0, maximum=SEED_MAX),
    },
    "model": {
        "cell": Field(str, "lstm", choices=("simple_rnn", "lstm", "gru") + PARALLEL_CELLS),
        "layer_norm": Field(bool, True),
        "units": _size(64, 2**16),
        "layers": _size(1, 64),
        "dropout": Field(float, 0.0, minimum=0.0, maximum=1.0, below=True),
    },
    "train": {
        "epochs": _size(10, 10**6),
        "batch_size": _size(64, 2**20),
        "learning_rate": Field(float, 1e-3, minimum=0.0, above=True, maximum=10.0),
        "clipnorm": Field(float, 1.0, minimum=0.0, maximum=1e6),
        # Initial weights, dropout masks, batch order (unset: data.seed); the split stays.
        "seed": Field(int, minimum=0, maximum=SEED_MAX),
        "patience": _size(5, 10**6, minimum=0),
        "strategy": Field(str, "auto", choices=("auto", "mirrored", "multi_worker", "tpu")),
        # XLA: "auto" picks what measured faster on the device (templates/training.py).
        "jit_compile": Field((str, bool), "auto", choices=("auto", True, False)),
    },
    # TF Serving reads at most 1,000 warmup records per model version.
    "export": {"warmup_examples": _size(8, 1000, minimum=0)},
}


def extend_schema(base, extra):
    """`base` with `extra`'s sections and keys added (extra wins)."""
    merged = {section: dict(fields) for section, fields in base.items()}
    for section, fields in extra.items():
        merged.setdefault(section, {}).update(fields)
    return merged


FORECASTING = extend_schema(BASE_SCHEMA, {
    "data": {
        # Unset or "": no dates, the rows are the steps in file order.
        "date_column": Field(str, length=(0, None)),
        "date_format": Field(str, length=(1, None)),
        # Unset or "" (with `group`): the table is one series.
        "group_column": Field(str, length=(0, None)),
        # One group, a list of groups, or "*" (every group of `group_column`).
        "group": Field((str, int, list), items=(str, int), length=(0, None)),  # ids: 4 is "4"
        "target_columns": Field(list, Field.REQUIRED, items=str, length=(1, None)),
        "feature_columns": _columns([]),
        "future_columns": _columns([]),
        "calendar": Field(list, [], choices=CALENDAR, length=(0, len(CALENDAR))),
        "window": _size(60, 2**20, minimum=2),
        "horizon": _size(5, 2**16),
        "season": _size(5, 2**20),
        "scaling": Field(str, "log", choices=SCALING_MODES),
        "split": _split([0.7, 0.15, 0.15]),
    },
    "model": {
        # Quantile levels to forecast, 0.5 among them ([]: a point forecast).
        "quantiles": Field(list, [], items=float, minimum=0.0, above=True, maximum=1.0,
                           below=True, length=(0, 99)),
        # Shift each level (but the median) by its error quantile on the validation windows.
        "calibrate": Field(bool, False),
    },
    "train": {"loss": Field(str, "mse", choices=("mse", "mae", "huber", "pinball"))},
})

SENTIMENT = extend_schema(BASE_SCHEMA, {
    "data": {
        "text_column": Field(str, "text", length=(1, None)),
        "label_column": Field(str, "label", length=(1, None)),
        "labels": Field(list, Field.REQUIRED, items=(str, int, bool), length=(2, 2)),
        # Rows with one value here stay in one split; unset or "": every row its own group.
        "group_column": Field(str, length=(0, None)),
        "split": _split([0.8, 0.1, 0.1]),
        # Padding and the out-of-vocabulary id, plus at least one word.
        "vocabulary_size": _size(20000, 2**24, minimum=3),
        "sequence_length": _size(64, 2**20),
    },
    "model": {
        "embedding_dim": _size(64, 2**16),
        "embedding_dropout": Field(float, 0.0, minimum=0.0, maximum=1.0, below=True),
        "bidirectional": Field(bool, True),
        # What the classifier reads: the last state, or all steps' outputs pooled.
        "pooling": Field(str, "last", choices=("last", "max", "mean", "attention")),
        # A linear score of the 1..ngrams-grams added to the logit; 0: none.
        "ngrams": _size(0, 8, minimum=0),
        # With ngrams > 0, the n-gram weights' start: naive Bayes log-count ratios of the
        # training split, or 0.
        "ngram_initializer": Field(str, "naive_bayes", choices=("naive_bayes", "zeros")),
    },
    "train": {"loss": Field(str, "binary_crossentropy",
                            choices=("binary_crossentropy", "binary_focal_crossentropy"))},
})

SEQUENCE = extend_schema(BASE_SCHEMA, {
    "data": {
        "split": _split([0.8, 0.1, 0.1]),
        # Padding, out-of-vocabulary, start and end tokens, plus at least one word.
        "vocabulary_size": _size(10000, 2**24, minimum=5),
    },
    "model": {"embedding_dim": _size(64, 2**16)},
    # Share of each target token's probability spread over the vocabulary in the loss.
    "train": {"label_smoothing": Field(float, 0.0, minimum=0.0, maximum=1.0, below=True)},
    "decode": {
        "method": Field(str, "greedy", choices=("greedy", "beam")),
        "beam_width": _size(4, 256),
        "max_length": _size(0, 4096, minimum=0),
        "length_penalty": Field(float, 0.6, minimum=0.0, maximum=10.0),
    },
})

CAPTIONING = extend_schema(SEQUENCE, {
    "data": {
        "image_column": Field(str, "image", length=(1, None)),
        "caption_column": Field(str, "caption", length=(1, None)),
        "image_dir": Field(str, ""),
        "image_size": _size(64, 4096, minimum=8),
        "max_caption_length": _size(16, 4096),
        "vocabulary_size": _size(5000, 2**24, minimum=5),
    },
    "model": {
        "embedding_dim": _size(32, 2**16),
        "filters": Field(list, [32, 64, 128], items=int, minimum=1, maximum=2**16,
                         length=(0, 16)),
        "backbone": Field(str, "none", choices=("none", *BACKBONES)),
        "backbone_weights": Field(str, "imagenet"),
    },
})

TRANSLATION = extend_schema(SEQUENCE, {
    "data": {
        "source_column": Field(str, ""),
        "target_column": Field(str, ""),
        "max_source_length": _size(20, 4096),
        "max_target_length": _size(20, 4096),
    },
    "model": {
        "bidirectional": Field(bool, True),
        "attention": Field(str, "luong", choices=("luong", "bahdanau")),
        # Whole tokens dropped from both sides' embedded sequences in training.
        "embedding_dropout": Field(float, 0.0, minimum=0.0, maximum=1.0, below=True),
    },
})

SCHEMAS = {"forecasting": FORECASTING, "sentiment": SENTIMENT, "captioning": CAPTIONING,
           "translation": TRANSLATION}


# Rules that join several keys --------------------------------------------------------------

def check_forecasting(recipe):
    data = recipe["data"]
    if data["season"] > data["window"]:
        raise UserError(f"recipe: `data.season` ({data['season']}) must be <= "
                        f"`data.window` ({data['window']})")
    columns = [*data["target_columns"], *data["feature_columns"], *data["future_columns"]]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise UserError(f"recipe: column(s) {', '.join(map(repr, repeated))} named twice in "
                        "`data.target_columns` + `data.feature_columns` + `data.future_columns`; "
                        "name each column once")
    if not all(columns):
        raise UserError(f"recipe: column names must be non-empty, got {columns}")
    for key in ("date_column", "group_column"):
        if data[key] and data[key] in columns:
            raise UserError(f"recipe: `data.{key}` {data[key]!r} cannot also be a target, feature "
                            "or future column")
    check_groups(data)
    if data["date_format"] and not data["date_column"]:
        raise UserError("recipe: `data.date_format` needs `data.date_column`")
    if data["calendar"] and not data["date_column"]:
        raise UserError(f"recipe: `data.calendar` {data['calendar']} is computed from the dates; "
                        "set `data.date_column`")
    if len(set(data["calendar"])) != len(data["calendar"]):
        raise UserError(f"recipe: `data.calendar` names a feature twice, got {data['calendar']}")
    check_quantiles(recipe)


def check_groups(data):
    """`data.group` (one name, a list, or "*") goes with `data.group_column`."""
    group = data["group"]
    if bool(data["group_column"]) != (group not in (None, "", [])):
        raise UserError("recipe: set both `data.group_column` and `data.group` (the series to "
                        "forecast: one name, a list, or \"*\" for all), or neither; got "
                        f"group_column={data['group_column']!r}, group={group!r}")
    if isinstance(group, list):
        if not all(map(str, group)):
            raise UserError(f"recipe: `data.group` names must be non-empty, got {group}")
        if len(set(map(str, group))) != len(group):
            raise UserError(f"recipe: `data.group` names a group twice, got {group}")
        if "*" in group:
            raise UserError(f'recipe: `data.group` "*" means every group; give it alone, not in '
                            f"a list, got {group}")


def check_quantiles(recipe):
    """`model.quantiles`: increasing levels with 0.5 (the point forecast), trained with pinball."""
    levels, loss = recipe["model"]["quantiles"], recipe["train"]["loss"]
    if levels:
        if any(b <= a for a, b in zip(levels, levels[1:])):
            raise UserError(f"recipe: `model.quantiles` must be increasing, got {levels}")
        if 0.5 not in levels or len(levels) < 2:
            raise UserError("recipe: `model.quantiles` must hold 0.5 (the point forecast) and at "
                            f"least one other level, e.g. [0.1, 0.5, 0.9]; got {levels}")
        if loss != "pinball":
            raise UserError(f"recipe: `model.quantiles` {levels} train with the quantile loss; "
                            f"set `train.loss = \"pinball\"` (got {loss!r})")
    elif recipe["model"]["calibrate"]:
        raise UserError("recipe: `model.calibrate` shifts quantile forecasts; set `model.quantiles`, "
                        "e.g. [0.1, 0.5, 0.9]")
    elif loss == "pinball":
        raise UserError('recipe: `train.loss = "pinball"` needs `model.quantiles`, '
                        "e.g. [0.1, 0.5, 0.9]")


def check_sentiment(recipe):
    data = recipe["data"]
    labels = [str(label) for label in data["labels"]]
    if labels[0].strip().casefold() == labels[1].strip().casefold():  # cells compare so
        raise UserError(f"recipe: `data.labels` must be two different labels, negative first, "
                        f"got {data['labels']}")
    check_two_columns(data, "text_column", "label_column")


def check_two_columns(data, first, second):
    """An input column that is also the output column would teach the model to copy it."""
    if data[first] and data[first] == data[second]:
        raise UserError(f"recipe: `data.{first}` and `data.{second}` must differ, both "
                        f"are {data[first]!r}")


def check_decoding(recipe):
    width, vocabulary = recipe["decode"]["beam_width"], recipe["data"]["vocabulary_size"]
    if recipe["decode"]["method"] == "beam" and width > vocabulary:
        raise UserError(f"recipe: `decode.beam_width` ({width}) must be <= "
                        f"`data.vocabulary_size` ({vocabulary})")


def check_captioning(recipe):
    check_decoding(recipe)
    check_two_columns(recipe["data"], "image_column", "caption_column")
    size, spec = recipe["data"]["image_size"], recipe["model"]
    if spec["backbone"] == "none" and size >> len(spec["filters"]) < 1:
        raise UserError(
            f"recipe: {len(spec['filters'])} convolution blocks halve a {size}-pixel image "
            f"{len(spec['filters'])} times, to nothing; use fewer `model.filters` or a larger "
            f"`data.image_size` (>= {2 ** len(spec['filters'])})")
    if spec["backbone"] != "none" and size < MIN_BACKBONE_IMAGE_SIZE:
        raise UserError(f"recipe: `model.backbone` {spec['backbone']!r} needs "
                        f"`data.image_size` >= {MIN_BACKBONE_IMAGE_SIZE}, got {size}")


def check_translation(recipe):
    check_decoding(recipe)
    data = recipe["data"]
    if bool(data["source_column"]) != bool(data["target_column"]):
        raise UserError("recipe: set both `data.source_column` and `data.target_column` (a table), "
                        "or neither (a source<TAB>target file)")
    check_two_columns(data, "source_column", "target_column")


def check_model(recipe):
    """Rules of the `[model]` keys every template shares."""
    spec = recipe["model"]
    if spec["cell"] in PARALLEL_CELLS and not spec["layer_norm"]:
        raise UserError(f"recipe: `model.cell` {spec['cell']!r} exists only layer-normalized; "
                        "set `model.layer_norm = true` or choose 'simple_rnn', 'lstm' or 'gru'")
    if spec["layer_norm"] and spec["cell"] in ("simple_rnn", "lstm") and spec["units"] == 1:
        lost = ("the cell state would never reach the output" if spec["cell"] == "lstm"
                else "the output would not depend on the inputs")
        raise UserError(f"recipe: `model.units` = 1 with a layer-normalized {spec['cell']!r}: "
                        f"normalizing one unit leaves only its offset, so {lost}; set "
                        "`model.units` >= 2 or `model.layer_norm = false`")


RULES = {"forecasting": check_forecasting, "sentiment": check_sentiment,
         "captioning": check_captioning, "translation": check_translation}


def resolve_recipe(raw, schema=None):
    """Validates a parsed recipe against its template's schema and rules.

    Args:
        raw: the recipe as parsed from TOML (overrides applied).
        schema: the schema to use; default `SCHEMAS[raw["task"]]` (a
            subclass of a template may pass an extended schema).

    Returns:
        The recipe with every key of the schema present.

    Raises:
        UserError: an unknown task or key, a value out of range, or keys
            that contradict each other.
    """
    name = raw.get("task")
    if not isinstance(name, str):
        raise UserError(f"recipe: `task` must be a string, one of {', '.join(map(repr, SCHEMAS))}, "
                        f"got {name!r}")
    if schema is None:
        if name not in SCHEMAS:
            raise UserError(f"recipe: `task` must be one of {', '.join(map(repr, SCHEMAS))}, "
                            f"got {name!r}")
        schema = SCHEMAS[name]
    recipe = validate(raw, schema)
    check_model(recipe)
    if name in RULES:
        RULES[name](recipe)
    return recipe
