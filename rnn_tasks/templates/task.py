"""`Task`: the base class every template subclasses.

A task is a recipe, the preprocessing fitted on its training split and a
model. `fit` builds the last two; `Task.load` restores them (and the
validation examples the export warms TF Serving up with) from a run
directory, so `predict`, `evaluate`, `save` and `export` work after either.

A template reads as its story: data -> preprocessing -> model -> training ->
evaluation -> serving. The steps are methods to override; the abstract ones
a fifth template must write are marked with `abc`:

    load_data()            -> the template's splits                 (abstract)
    build_preprocessing()  -> state fitted on the training split only
    build_model()          -> the trainable network (the "core")    (abstract)
    compile_model(model)   -> optimizer, loss, metrics
    callbacks(run_dir, resume) -> Keras callbacks for `fit`
    training_data(split)   -> what the core trains on               (abstract)
    assemble(core)         -> the raw-in, raw-out model `task.model`
    check_assembled(model) -> refuses a model the template cannot use, before training
    evaluate(), evaluate_file(path) -> metrics                      (abstract)
    serving_signature(), serve(inputs) -> the export's signature    (abstract)
    input_list(inputs), inputs_from_files(paths), warmup_inputs(count) (abstract)

`serve(inputs)` maps the serving inputs to the serving outputs; `predict`
calls it eagerly and `export` traces it into the `serving_default`
signature, so the two agree.

The plumbing sits beside it: `training` (pipeline, callbacks, `fit`),
`serving` (tracing and calling `serve`), `run_dir` (`save`, `load`) and
`distribute` (the strategy).
"""

import abc
import copy
import shutil

import keras
import pandas as pd

from rnn_tasks.checks import (check_cluster, check_fit_arguments, check_keras_backend,
                              check_writable)
from rnn_tasks.data.readers import check_unique_columns, read_table, require_columns
from rnn_tasks.errors import UserError, path_argument
from rnn_tasks.metrics import note_dropped
from rnn_tasks.recipes import as_config, as_overrides, load_recipe, without_data_path
from rnn_tasks.schemas import resolve_recipe
from rnn_tasks.templates import distribute, run_dir as runs, serving, training
from rnn_tasks.templates.hooks import (check_core_shapes, check_returned, check_training_data,
                                     check_warmup_inputs)

TASKS = {}  # recipe `task` value -> Task subclass


def plots_folder(plots_dir):
    """`plots_dir` as a folder that exists (made, with its parents, if need be), for a
    template's `plot`; `UserError` if it is not a path or cannot be a folder there."""
    folder = path_argument("plots_dir", plots_dir)
    check_writable(folder, "plots_dir")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Task(abc.ABC):
    """Base class of the task templates.

    Args:
        recipe: a validated recipe (use `from_recipe` to read one).
        frame: a `pandas.DataFrame` to read instead of the recipe's data
            source, or `None`.

    Attributes:
        recipe: the resolved recipe, as written to the run directory: a copy
            on each read (writing to it changes nothing, and it cannot be
            assigned), so that it always says what the task trains; change a
            recipe with `from_recipe(source, overrides)`.
        config: the same recipe as frozen sections the code reads
            (`config.model.units`; see `recipes.as_config`).
        preprocessing: what `build_preprocessing` fitted, `None` before `fit`.
        model: the raw-in, raw-out Keras model, `None` before `fit` or `load`.
        warmup_examples: `{input name: array}` of validation inputs for the
            export's warmup requests, from `fit` or `load`.
        metrics: the test metrics of the last `evaluate()`, which `save` writes.
        trained_on_frame: whether the model was trained on a DataFrame (a run
            keeps no copy of one: a loaded run needs it passed again).
        history: per-epoch losses (a Keras `History` or a DataFrame), if any.

    Example:
    >>> from rnn_tasks.templates import ForecastingTask
    >>> task = ForecastingTask.from_recipe("price_forecasting", {"train.epochs": 1})
    >>> task.config.train.epochs
    1
    """

    name = None  # the recipe's `task` value
    schema = None  # `{section: {key: Field}}`, from `rnn_tasks.schemas`
    data_class = object  # what `load_data` returns (a subclass's must return it too)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name and cls.name not in TASKS:
            TASKS[cls.name] = cls

    def __init__(self, recipe, frame=None):
        name = type(self).__name__
        fix = f"build the task with {name}.from_recipe(file or name) or {name}.from_dict(dict)"
        if not isinstance(recipe, dict):
            raise UserError(f"{name}(recipe) takes a resolved recipe, a dict; got "
                            f"{type(recipe).__name__}; {fix}")
        try:
            self.config = as_config(recipe, self.schema)
        except KeyError as missing:  # not what resolve_recipe returns
            raise UserError(f"{name}(recipe) takes a resolved recipe, every key set (lacks "
                            f"{missing}); {fix}") from None
        self._recipe = copy.deepcopy(recipe)
        self.recipe_name = recipe.get("task")
        self.frame = frame
        self.data = None
        self.preprocessing = None
        self.model = None
        self.warmup_examples = None
        self.metrics = None
        self.history = None
        self.trained_on_frame = False
        self._strategy = None

    @property
    def recipe(self):
        return copy.deepcopy(self._recipe)

    # Construction -------------------------------------------------------------

    @classmethod
    def from_recipe(cls, source, overrides=None, data=None):
        """Reads a recipe file or built-in recipe name, applies overrides, validates.

        Args:
            source: path to a TOML recipe, or a built-in name like
                `"price_forecasting"`.
            overrides: `{"section.key": value}` or `["section.key=value"]`.
            data: a `pandas.DataFrame` with the recipe's columns, read in
                place of `data.path` / `data.dataset` (the recipe file's; not
                with an override of `data.path`).

        Returns:
            An instance of the template the recipe names (`cls` itself when
            called on a subclass).
        """
        raw, name = load_recipe(source, overrides)
        if data is not None and ("data", "path") not in as_overrides(overrides):
            raw = without_data_path(raw)
        task = cls.from_dict(raw, data)
        task.recipe_name = name
        return task

    @classmethod
    def from_dict(cls, raw, data=None):
        """Validates a recipe dict and builds the task it names (see `from_recipe`)."""
        if not isinstance(raw, dict):
            raise UserError(f"a recipe must be a dict of sections, got {type(raw).__name__}")
        name = raw.get("task")
        if cls is Task:
            if not isinstance(name, str) or name not in TASKS:
                raise UserError(
                    f"recipe: `task` must be one of {', '.join(map(repr, TASKS))}, got {name!r}"
                )
            cls = TASKS[name]
        elif name not in (None, "") and name not in [getattr(c, "name", None) for c in cls.__mro__]:
            raise UserError(f"recipe: {cls.__name__} runs `task = {cls.name!r}`, got {name!r}")
        missing = sorted(cls.__abstractmethods__)
        if missing:
            raise UserError(f"{cls.__name__} does not implement {', '.join(missing)} (the steps "
                            "every template defines; see Task)")
        raw = {"task": cls.name, **{k: v for k, v in raw.items() if k != "task"}}
        if data is not None and not isinstance(data, pd.DataFrame):
            raise UserError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if data is not None and isinstance(raw.get("data"), dict) and raw["data"].get("path"):
            raise UserError(f"give the data once: data= a DataFrame or the recipe's data.path "
                            f"({raw['data']['path']!r}), not both")
        if data is not None:
            check_unique_columns(data, "the data frame")
        return cls(resolve_recipe(raw, cls.schema), data)

    @property
    def strategy(self):
        """The `tf.distribute` strategy of `train.strategy` (see `distribute.make_strategy`)."""
        if self._strategy is None:
            self._strategy = distribute.make_strategy(self.config.train.strategy)
        return self._strategy

    @property
    def is_chief(self):
        """Whether this process writes the run directory and exports (always, on one machine)."""
        return distribute.is_chief(self.strategy)

    # The story: overridable steps ------------------------------------------------

    @abc.abstractmethod
    def load_data(self):
        """Reads the recipe's data and returns the template's splits."""

    def read_frame(self, required_columns=(), path=None, text_columns=()):
        """A table: `path` if given, else the frame the task was given, else the
        recipe's `data.path`, else its catalog dataset. A file's `data.group_column`
        and `text_columns` are read as text (ids: `01` and `1` are two groups; `NA`
        is a word: see `read_table`)."""
        from rnn_tasks.data.catalog import load_card, read_frame

        if path is None:  # not `path or ...`: a DataFrame passed as the path has no truth value
            path = None if self.frame is not None else self.config.data.path
        texts = [*self.group_columns(), *text_columns]
        if path is not None:
            return read_table(path, required_columns, texts)
        if self.frame is not None:
            if len(self.frame) == 0:
                raise UserError("the data frame has no rows")
            return require_columns(self.frame, required_columns, "the data frame")
        if not self.config.data.dataset:
            raise UserError("recipe: set `data.dataset` (a catalog name) or `data.path` (a file), "
                            "or pass data=DataFrame")
        return read_frame(load_card(self.config.data.dataset), required_columns, texts)

    def group_columns(self):
        """`[data.group_column]` where the recipe names one, else `[]`."""
        return [column for column in [getattr(self.config.data, "group_column", "")] if column]

    def build_preprocessing(self):
        """Fits preprocessing state on the training split only; returns it."""
        return None

    @abc.abstractmethod
    def build_model(self):
        """Returns the trainable network (the core) as a Keras model."""

    def check_assembled(self, model):
        """Raises `UserError` if the template could not use the assembled `model` after
        training (to decode, say); `fit` asks before the first epoch. Any model of the
        right shapes will do here."""

    def compile_model(self, model):
        """Compiles the core: Adam with the recipe's learning rate and clipnorm, and
        XLA as `train.jit_compile` says (`training.xla_setting`)."""
        train = self.config.train
        optimizer = keras.optimizers.Adam(train.learning_rate,
                                          clipnorm=train.clipnorm or None)
        model.compile(optimizer=optimizer, loss=self.loss(), metrics=self.training_metrics(),
                      jit_compile=training.xla_setting(train.jit_compile))

    def loss(self):
        """The training loss, as `compile` takes it."""
        return self.config.train.loss

    def training_metrics(self):
        """Metrics Keras shows while training (the test metrics come from `evaluate`)."""
        return []

    def callbacks(self, run_dir=None, resume=False):
        """Early stopping, NaN guard and, with a run directory, its logs and backups.

        Args:
            run_dir: where history.csv, TensorBoard logs and backups go, or `None`.
            resume: continue the run's history.csv rather than start it.
        """
        return training.default_callbacks(self.config.train.patience, run_dir, resume)

    def assemble(self, core):
        """Wraps the core with pre/postprocessing into the raw-in, raw-out model."""
        return core

    @abc.abstractmethod
    def training_data(self, split):
        """`(inputs, targets)` arrays of a split as the core consumes them, or a
        `tf.data.Dataset` of such batches (`global_batch_size` each)."""

    @property
    def global_batch_size(self):
        """The recipe's batch size per replica times the replicas in sync."""
        return self.config.train.batch_size * self.strategy.num_replicas_in_sync

    def as_dataset(self, data, shuffle):
        """`training_data`'s output as a `tf.data` pipeline of `global_batch_size`
        batches (see `training.batched`)."""
        return training.batched(data, shuffle, self.global_batch_size, self.training_seed)

    @property
    def training_seed(self):
        """`train.seed`, or `data.seed` where the recipe leaves it unset: the seed of the
        initial weights, dropout masks and batch order (the split follows `data.seed`)."""
        seed = self.config.train.seed
        return self.config.data.seed if seed is None else seed

    @abc.abstractmethod
    def evaluate(self):
        """Test-split metrics, the keys of metrics.json (decorate with `remember_metrics`)."""

    @abc.abstractmethod
    def evaluate_file(self, path):
        """Metrics over the whole of another data file of the recipe's format
        (`evaluate --data`), with the keys of `evaluate`."""

    @abc.abstractmethod
    def serve(self, inputs):
        """Serving inputs (dict of tensors, after `checked_inputs`) -> serving outputs
        (dict of tensors)."""

    def checked_inputs(self, inputs):
        """The serving inputs, made to fail the request (`InvalidArgumentError`, core ops)
        where `predict` would refuse their values; the traced serving function
        (`serving.trace`) applies it after the shape checks, before `serve`, so a
        subclass's own `serve` keeps it. Here: as they are.

        Args:
            inputs: `{input name: tensor}`.

        Returns:
            `{input name: tensor}`.
        """
        return inputs

    @abc.abstractmethod
    def serving_signature(self):
        """`{input name: tf.TensorSpec}` of the `serving_default` signature."""

    @abc.abstractmethod
    def input_list(self, inputs):
        """`predict`'s raw inputs -> one array per serving input, in signature order."""

    @abc.abstractmethod
    def inputs_from_files(self, paths):
        """CLI `predict` arguments -> `{input name: array}`."""

    def labelled_inputs_from_files(self, paths):
        """`(inputs_from_files(paths), labels)`: what CLI `predict` prints beside the
        outputs to label their rows, `{}` where each argument is one row, in order."""
        return self.inputs_from_files(paths), {}

    @abc.abstractmethod
    def warmup_inputs(self, count):
        """`count` real validation inputs as `{input name: numpy array}`."""

    def plot(self, plots_dir, metrics):
        """Writes the template's plots into `plots_dir` (`plotting_folder(plots_dir)`)."""

    def plotting_folder(self, plots_dir):
        """`plots_dir` as a folder to draw in, once the task can plot: it has a model
        (`UserError` naming `plot` if not) and its data (read if need be)."""
        self.require_model("plot")
        self.prepare()
        return plots_folder(plots_dir)

    def report_rows(self, metrics):
        """Rows of the report's metrics table: `[(name, {metric: value})]`."""
        return [("model", {k: v for k, v in metrics.items() if isinstance(v, (int, float))})]

    def report_notes(self, metrics):
        """Lines the report prints under its table (what the metrics mean, their units)."""
        return []

    # Entry points ----------------------------------------------------------------

    def prepare(self):
        """Loads the data and fits the preprocessing, once (a loaded task keeps the
        preprocessing inside its model and only reads the data)."""
        if self.data is None:
            if self.trained_on_frame and self.frame is None:
                raise UserError(
                    f"{type(self).__name__}: this run was trained on a DataFrame (data=), which a "
                    "run directory does not keep; load it with data=frame, or score a file with "
                    "evaluate_file(path) (`rnn-tasks evaluate RUN --data FILE`)")
            self.data = check_returned(type(self).__name__, "load_data", self.load_data(),
                                       self.data_class)
            note_dropped(self.data)
            self.preprocessing = self.build_preprocessing()
            if self.model is None:  # a vocabulary to save later: saveable in this locale?
                runs.check_vocabularies_saveable(self.preprocessing)

    def fit(self, run_dir=None, *, resume=False, verbose="auto", callbacks=()):
        """Trains a new model from the recipe (data and preprocessing built on first use).

        Each call starts over from the recipe's seed (`train.seed`, by default
        `data.seed`, given to `keras.utils.set_random_seed`, which seeds Python's,
        NumPy's and the backend's random numbers), as scikit-learn's `fit` does,
        also on a loaded task; `resume=True` continues an interrupted
        run from its backups instead.

        Args:
            run_dir: where history.csv, TensorBoard logs and backups go
                (`None`: nowhere).
            resume: continue from the backups in `run_dir/checkpoints`.
            verbose: Keras progress-bar setting.
            callbacks: Keras callbacks (a list, or one) to run besides the
                template's own (`Task.callbacks`). Default: `()`.

        Returns:
            The Keras `History`.
        """
        # The core trains on any backend (keras.distribution on JAX builds it so); serving
        # and export need TensorFlow: say so now, not after the epochs.
        check_keras_backend(keras.backend.backend())
        check_cluster(self._recipe, resume)  # multi_worker: its TF_CONFIG, and no resume
        run_dir, extra_callbacks = check_fit_arguments(run_dir, resume, verbose, callbacks)
        fingerprint = None
        if run_dir is not None:
            path = None if self.frame is not None else self.config.data.path
            fingerprint = runs.data_fingerprint(path, self.frame)
            if resume:
                runs.prepare_resume(run_dir, fingerprint, path)
        keras.utils.set_random_seed(self.training_seed)
        self.prepare()
        self.trained_on_frame = self.frame is not None
        owner = type(self).__name__
        with self.strategy.scope():
            core = check_returned(owner, "build_model", self.build_model(), keras.Model,
                                  "a keras.Model")
            self.compile_model(core)
        train = self.as_dataset(check_training_data(owner, "train", self.training_data("train")),
                                shuffle=True)
        check_core_shapes(owner, core, train.element_spec)  # before the core is first called
        model = check_returned(owner, "assemble", self.assemble(core), keras.Model,
                               "a keras.Model")
        self.check_assembled(model)
        count = self.config.export.warmup_examples
        self.warmup_examples = check_warmup_inputs(owner, self.warmup_inputs(count),
                                                   self.serving_signature()) if count else None
        self.model = model
        validation = self.as_dataset(
            check_training_data(owner, "validation", self.training_data("validation")),
            shuffle=False)
        if run_dir is not None and not resume:  # a new fit never continues old backups
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
            runs.record_data(run_dir, fingerprint)
        callbacks = [*check_returned(owner, "callbacks", self.callbacks(run_dir, resume),
                                     (list, tuple), "a list of Keras callbacks"),
                     *extra_callbacks]
        self.history = training.fit_core(core, train, validation, callbacks, self.strategy,
                                         self.config.train.epochs, verbose)
        try:
            training.check_finite(callbacks, self.config.train.learning_rate)
        except UserError:  # its weights are NaN: nothing to predict with, save or export
            self.model = None
            raise
        return self.history

    def predict(self, inputs):
        """Raw inputs -> `{output name: numpy array}`, as the exported signature
        (text as `str`)."""
        self.require_model("predict")
        return self.run_serving(self.serving_function(), inputs)

    def require_model(self, action):
        """Raises `UserError` unless the task has a model (after `fit` or `load`)."""
        if self.model is None:
            raise UserError(f"{action}: the task has no model yet; call fit() or Task.load()")

    def run_serving(self, function, inputs):
        """Calls a serving function on raw inputs; NumPy outputs, text as `str`."""
        return serving.call(function, self.serving_signature(), self.input_list(inputs))

    def serving_function(self):
        """`serve` as a `tf.function` over the serving signature, traced once per model.

        `predict` calls it and `export` saves it, so both run the same graph.
        """
        check_keras_backend(keras.backend.backend())  # predict, evaluate, export on JAX too
        if getattr(self, "_served_model", None) is not self.model:
            owner = type(self).__name__

            def serve(inputs):
                return check_returned(owner, "serve", self.serve(inputs), dict,
                                      "a dict {output name: tensor}")

            self._serving_function = serving.trace(serve, self.serving_signature(),
                                                   self.checked_inputs)
            self._served_model = self.model
        return self._serving_function

    def save(self, run_dir, metrics=None, overwrite=False):
        """Writes the run directory: recipe.toml, model.keras, warmup examples and,
        with `metrics` or after `evaluate()`, metrics.json, plots/ and report.md.

        Args:
            run_dir: the folder (the one `fit` trained in, or a new one).
            metrics: test metrics; default: those of the last `evaluate()`.
            overwrite: replace a finished run already in `run_dir` (its old
                results go). Default: `False`, which refuses it.

        Raises:
            UserError: `run_dir` holds a finished run and `overwrite` is False.
        """
        self.require_model("save")
        runs.write_run(self, run_dir, metrics if metrics is not None else self.metrics, overwrite)

    @classmethod
    def load(cls, run_dir, overrides=None, as_template=False, data=None):
        """Reads a run directory back: recipe, model and warmup examples.

        `Task.load(run)` returns the built-in template the recipe names;
        a run trained by your subclass loads with `MySubclass.load(run)`
        (`Task.load` refuses it and names the class, so its overrides are
        never silently lost; no code named in a file is ever imported).

        Args:
            run_dir: a finished run directory.
            overrides: recipe overrides, as in `from_recipe`.
            as_template: load a subclass's run as its built-in template.
            data: a `pandas.DataFrame` for `evaluate` and `fit` to read in place
                of the recipe's data (a run trained on a DataFrame needs it).
        """
        return runs.read_run(cls, run_dir, overrides, as_template, data)

    def export(self, base_dir, version=None):
        """Writes a TF Serving SavedModel to `base_dir/<version>/`; returns its path."""
        from rnn_tasks.export import export_task

        return export_task(self, base_dir, version)
