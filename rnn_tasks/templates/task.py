"""`Task`: the base class every template subclasses.

A task reads as its story: data -> preprocessing -> model -> training ->
evaluation -> export. `fit` runs the first four steps, each an overridable
method:

    load_data()            -> whatever the template's splits are
    build_preprocessing()  -> state fitted on the training split only
    build_model()          -> the trainable network (the "core")
    compile_model(model)   -> optimizer, loss, metrics
    callbacks()            -> Keras callbacks for `fit`

`assemble(core)` wraps the core with the template's pre- and postprocessing
into `task.model`, the raw-in, raw-out Keras model that is saved as
`model.keras`, used by `predict`, and exported. `serve(inputs)` maps the
serving inputs to the serving outputs; `predict` calls it eagerly and
`export` traces it into the `serving_default` signature, so the two agree.
"""

import json
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from rnn_tasks.data.readers import read_lines
from rnn_tasks.errors import UserError
from rnn_tasks.recipes import load_recipe, write_recipe
from rnn_tasks.schemas import resolve_recipe

TASKS = {}  # recipe `task` value -> Task subclass


class Task:
    """Base class of the task templates.

    Args:
        recipe: a validated recipe (use `from_recipe` to read one).

    Example:
    >>> from rnn_tasks.templates import ForecastingTask
    >>> task = ForecastingTask.from_recipe("price_forecasting", {"train.epochs": 1})
    >>> task.recipe["train"]["epochs"]
    1
    """

    name = None  # the recipe's `task` value
    schema = None  # `{section: {key: Field}}`, from `rnn_tasks.schemas`

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name and cls.name not in TASKS:
            TASKS[cls.name] = cls

    def __init__(self, recipe):
        self.recipe = recipe
        self.recipe_name = recipe.get("task")
        self.data = None
        self.preprocessing = None
        self.model = None
        self.history = None
        self.run_dir = None
        self.resume = False
        self._strategy = None

    # Construction -------------------------------------------------------------

    @classmethod
    def from_recipe(cls, source, overrides=None):
        """Reads a recipe file or built-in recipe name, applies overrides, validates.

        Args:
            source: path to a TOML recipe, or a built-in name like
                `"price_forecasting"`.
            overrides: `{"section.key": value}` or `["section.key=value"]`.

        Returns:
            An instance of the template the recipe names (`cls` itself when
            called on a subclass).
        """
        raw, name = load_recipe(source, overrides)
        task = cls.from_dict(raw)
        task.recipe_name = name
        return task

    @classmethod
    def from_dict(cls, raw):
        """Validates a recipe dict and builds the task it names."""
        name = raw.get("task")
        if cls is Task:
            if name not in TASKS:
                raise UserError(
                    f"recipe: `task` must be one of {', '.join(map(repr, TASKS))}, got {name!r}"
                )
            cls = TASKS[name]
        elif name != cls.name and name not in (None, ""):
            base = next((c for c in cls.__mro__ if c.name == name), None)
            if base is None:
                raise UserError(f"recipe: {cls.__name__} runs `task = {cls.name!r}`, got {name!r}")
        raw = {"task": cls.name, **{k: v for k, v in raw.items() if k != "task"}}
        return cls(resolve_recipe(raw, cls.schema))

    @property
    def strategy(self):
        """The `tf.distribute` strategy the model is built and trained under.

        `train.strategy`: `auto` (MirroredStrategy over the GPUs when there
        are several, else the default), `mirrored` (all GPUs, or all logical
        CPUs without GPUs), `multi_worker` (MultiWorkerMirroredStrategy from
        `TF_CONFIG`), `tpu` (TPUStrategy; needs a TPU, not tested here).
        """
        if self._strategy is None:
            import tensorflow as tf

            kind = self.recipe["train"]["strategy"]
            if kind == "multi_worker":  # first: listing devices would start TensorFlow's runtime
                self._strategy = tf.distribute.MultiWorkerMirroredStrategy()
            elif kind in ("auto", "mirrored"):
                gpus = tf.config.list_logical_devices("GPU")
                if kind == "mirrored" and not gpus:
                    # Logical CPUs: reduce on one device, which also takes the sparse
                    # (IndexedSlices) gradients of embeddings that differ per replica.
                    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
                    self._strategy = tf.distribute.MirroredStrategy(
                        devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
                elif kind == "mirrored" or len(gpus) > 1:
                    self._strategy = tf.distribute.MirroredStrategy([d.name for d in gpus])
                else:
                    self._strategy = tf.distribute.get_strategy()
            elif kind == "tpu":
                resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
                tf.config.experimental_connect_to_cluster(resolver)
                tf.tpu.experimental.initialize_tpu_system(resolver)
                self._strategy = tf.distribute.TPUStrategy(resolver)
            else:
                self._strategy = tf.distribute.get_strategy()
        return self._strategy

    @property
    def is_chief(self):
        """Whether this process writes the run directory and exports (always, on one machine)."""
        resolver = getattr(self.strategy, "cluster_resolver", None)
        if resolver is None or not resolver.task_type:
            return True
        has_chief = "chief" in resolver.cluster_spec().as_dict()
        return resolver.task_type == "chief" or (
            not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)

    # The story: overridable steps ------------------------------------------------

    def load_data(self):
        """Reads the recipe's data and returns the template's splits."""
        raise NotImplementedError

    def read_frame(self, required_columns=(), path=None):
        """A table: `path` if given, else the recipe's `data.path`, else its catalog dataset."""
        from rnn_tasks.data.catalog import load_card, read_frame
        from rnn_tasks.data.readers import read_table

        path = path or self.recipe["data"]["path"]
        if path:
            return read_table(path, required_columns)
        return read_frame(load_card(self.recipe["data"]["dataset"]), required_columns)

    def build_preprocessing(self):
        """Fits preprocessing state on the training split only; returns it."""
        return None

    def build_model(self):
        """Returns the trainable network (the core) as a Keras model."""
        raise NotImplementedError

    def compile_model(self, model):
        """Compiles the core: Adam with the recipe's learning rate and clipnorm."""
        train = self.recipe["train"]
        optimizer = keras.optimizers.Adam(train["learning_rate"],
                                          clipnorm=train["clipnorm"] or None)
        model.compile(optimizer=optimizer, loss=self.loss(), metrics=self.training_metrics())

    def loss(self):
        """The training loss, as `compile` takes it."""
        return self.recipe["train"]["loss"]

    def training_metrics(self):
        """Metrics Keras shows while training (the test metrics come from `evaluate`)."""
        return []

    def callbacks(self):
        """Early stopping, NaN guard and, with a run directory, its logs and backups."""
        patience = self.recipe["train"]["patience"]
        callbacks = [StopOnNonFiniteLoss()]
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                patience=patience, restore_best_weights=True, monitor="val_loss"))
        if self.run_dir is not None:
            run = Path(self.run_dir)
            # The epoch's history row is written before its backup: a kill between
            # the two repeats the epoch on resume, and `save` keeps its last row.
            callbacks += [
                keras.callbacks.CSVLogger(str(run / "history.csv"), append=self.resume),
                # Two copies: a kill while one is written leaves the other readable.
                keras.callbacks.BackupAndRestore(str(run / "checkpoints"), double_checkpoint=True),
                keras.callbacks.TensorBoard(str(run / "logs")),
            ]
        return callbacks

    def assemble(self, core):
        """Wraps the core with pre/postprocessing into the raw-in, raw-out model."""
        return core

    def training_data(self, split):
        """`(inputs, targets)` arrays of a split as the core consumes them, or a
        `tf.data.Dataset` of such batches (`global_batch_size` each)."""
        raise NotImplementedError

    @property
    def global_batch_size(self):
        """The recipe's batch size per replica times the replicas in sync."""
        return self.recipe["train"]["batch_size"] * self.strategy.num_replicas_in_sync

    def as_dataset(self, data, shuffle):
        """`training_data`'s output as a batched `tf.data` pipeline sharded by DATA.

        Arrays `(x, y)` are sliced, shuffled (seeded, every epoch) and batched
        with `global_batch_size`. Our pipelines start from tensors, not files,
        so FILE sharding cannot apply: with DATA every worker reads the
        pipeline and keeps its share of each global batch.
        """
        import tensorflow as tf

        if isinstance(data, tuple):
            dataset = tf.data.Dataset.from_tensor_slices(data)
            if shuffle:
                dataset = dataset.shuffle(len(data[0]), seed=self.recipe["data"]["seed"])
            data = dataset.batch(self.global_batch_size).prefetch(tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return data.with_options(options)

    def evaluate(self):
        """Test-split metrics, the keys of metrics.json."""
        raise NotImplementedError

    def evaluate_file(self, path):
        """Metrics over the whole of another data file of the recipe's format
        (`evaluate --data`), with the keys of `evaluate`."""
        raise NotImplementedError

    def serve(self, inputs):
        """Serving inputs (dict of tensors) -> serving outputs (dict of tensors)."""
        raise NotImplementedError

    def serving_signature(self):
        """`{input name: tf.TensorSpec}` of the `serving_default` signature."""
        raise NotImplementedError

    def warmup_inputs(self, count):
        """`count` real validation inputs as `{input name: numpy array}`."""
        raise NotImplementedError

    def plot(self, plots_dir, metrics):
        """Writes the template's plots into `plots_dir`."""

    def report_rows(self, metrics):
        """Rows of the report's metrics table: `[(name, {metric: value})]`."""
        return [("model", {k: v for k, v in metrics.items() if isinstance(v, (int, float))})]

    # Entry points ----------------------------------------------------------------

    def prepare(self):
        """Loads the data and fits the preprocessing, once."""
        if self.data is None:
            self.data = self.load_data()
            self.preprocessing = self.build_preprocessing()

    def fit(self, run_dir=None, resume=False, verbose="auto"):
        """Builds data and model on first use and trains.

        Args:
            run_dir: where history.csv, TensorBoard logs and backups go
                (`None`: nowhere).
            resume: continue from the backups in `run_dir/checkpoints`.
            verbose: Keras progress-bar setting.

        Returns:
            The Keras `History`.
        """
        self.run_dir, self.resume = run_dir, resume
        import tensorflow as tf

        keras.utils.set_random_seed(self.recipe["data"]["seed"])
        self.prepare()
        with self.strategy.scope():
            core = self.build_model()
            self.compile_model(core)
        self.model = self.assemble(core)
        train = self.as_dataset(self.training_data("train"), shuffle=True)
        validation = self.as_dataset(self.training_data("validation"), shuffle=False)
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            _build_before_multi_worker_fit(core, train, self.strategy)
        callbacks = self.callbacks()
        self.history = core.fit(
            train,
            validation_data=validation,
            epochs=self.recipe["train"]["epochs"],
            shuffle=False,  # the tf.data pipeline shuffles (Keras warns it ignores `shuffle`)
            callbacks=callbacks,
            verbose=verbose,
        )
        for callback in callbacks:
            if isinstance(callback, StopOnNonFiniteLoss) and callback.failure:
                raise UserError(f"training stopped: {callback.failure}; lower train.learning_rate "
                                f"(now {self.recipe['train']['learning_rate']:g}) or look for "
                                "extreme values in the data")
        return self.history

    def predict(self, inputs):
        """Raw inputs -> `{output name: numpy array}`, as the exported signature."""
        if self.model is None:
            raise UserError("predict: the task has no model yet; call fit() or Task.load()")
        import tensorflow as tf

        specs = self.serving_signature().values()
        tensors = [tf.convert_to_tensor(value, dtype=spec.dtype)
                   for spec, value in zip(specs, self._as_input_list(inputs))]
        outputs = self.serving_function()(*tensors)
        return {name: np.asarray(value) for name, value in outputs.items()}

    def predict_output(self, inputs, output, batch_size=256):
        """One output of `predict` over many raw inputs, `batch_size` at a time.

        Args:
            inputs: a sequence of raw inputs of the single serving input.
            output: the serving output's name.

        Returns:
            NumPy array of the output for all inputs; strings decoded to `str`.
        """
        if not isinstance(inputs, np.ndarray):  # lists of texts or bytes stay whole objects
            inputs = np.asarray(inputs, dtype=object)
        values = np.concatenate([self.predict(inputs[i:i + batch_size])[output]
                                 for i in range(0, len(inputs), batch_size)])
        if values.dtype == object:
            return np.array([v.decode("utf-8") for v in values], dtype=object)
        return values

    def serving_function(self):
        """`serve` as a `tf.function` over the serving signature, traced once per model.

        `predict` calls it and `export` saves it, so both run the same graph.
        """
        if getattr(self, "_served_model", None) is not self.model:
            import tensorflow as tf

            signature = self.serving_signature()
            names = list(signature)

            # No autograph: serve() has no Python control flow on tensors (decoding
            # loops are explicit tf.while_loops), so nothing needs converting.
            @tf.function(input_signature=list(signature.values()), autograph=False)
            def serving_default(*args):
                return self.serve(dict(zip(names, args)))

            self._serving_function, self._served_model = serving_default, self.model
        return self._serving_function

    def _as_input_list(self, inputs):
        if isinstance(inputs, dict):
            return [inputs[name] for name in self.serving_signature()]
        return [inputs]

    def inputs_from_files(self, paths):
        """CLI `predict` arguments -> `{input name: array}`."""
        raise NotImplementedError

    @staticmethod
    def text_batch(inputs):
        """A string, a list of strings or `{"text": ...}` -> object array `[batch]`."""
        if isinstance(inputs, dict):
            inputs = inputs["text"]
        if isinstance(inputs, (str, bytes)):
            inputs = [inputs]
        texts = np.asarray(inputs, dtype=object)
        if texts.ndim != 1:
            raise UserError(f"predict: `text` must be a list of strings, got shape {list(texts.shape)}")
        return texts

    @staticmethod
    def texts_from_arguments(arguments, column):
        """CLI `predict` texts: a text file gives one text per line, a CSV/TSV/JSONL
        file its `column`; an argument that is not a file is the text itself."""
        from rnn_tasks.data.readers import check_text_column, read_table, text_cells

        texts = []
        for argument in arguments:
            path = Path(argument)
            if path.is_dir():
                raise UserError(f"predict: {path} is a folder; give texts, or text/CSV files")
            if not path.is_file():
                texts.append(argument)
            elif column and path.suffix in (".csv", ".tsv", ".jsonl"):
                cells = read_table(path, [column])[column]
                check_text_column(cells)
                texts += text_cells(cells).tolist()
            else:
                try:
                    texts += read_lines(path)
                except UnicodeDecodeError:
                    raise UserError(f"{path} is not UTF-8 text") from None
        return np.asarray(texts, dtype=object)

    @staticmethod
    def format_outputs(outputs):
        """Serving outputs as one JSON object (CLI `predict`); bytes become text."""
        def plain(value):
            value = np.asarray(value)
            if value.dtype == object:
                return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.tolist()]
            return value.tolist()

        return json.dumps({name: plain(value) for name, value in outputs.items()}, ensure_ascii=False)

    def save(self, run_dir, metrics=None):
        """Writes recipe.toml, model.keras, metrics.json, plots/ and report.md."""
        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
        write_recipe(self.recipe, run / "recipe.toml")
        self.model.save(run / "model.keras")
        history = run / "history.csv"
        if history.is_file():  # one row per epoch, also after an interrupted run resumed
            frame = pd.read_csv(history)
            frame.drop_duplicates("epoch", keep="last").to_csv(history, index=False)
        if metrics is not None:
            (run / "metrics.json").write_text(metrics_json(metrics) + "\n")
            plots = run / "plots"
            plots.mkdir(exist_ok=True)
            self.plot_training_curves(plots / "training_curves.png")
            self.plot(plots, metrics)
            self.write_report(run / "report.md", metrics)
        shutil.rmtree(run / "checkpoints", ignore_errors=True)  # training finished
        (run / "checkpoints").mkdir(exist_ok=True)

    @classmethod
    def load(cls, run_dir, overrides=None):
        """Reads a run directory back: the right subclass, its recipe and model."""
        from rnn_tasks.checks import finished_run_recipe

        run = Path(run_dir)
        raw = finished_run_recipe(run, overrides)
        task = cls.from_dict(raw)
        task.run_dir = run
        import rnn_tasks.layers  # noqa: F401  registers the custom layers

        try:
            task.model = keras.saving.load_model(run / "model.keras", safe_mode=True)
        except ValueError as error:  # e.g. a Lambda layer: arbitrary code is never loaded
            raise UserError(f"{run / 'model.keras'} cannot be loaded safely: "
                            f"{str(error).strip().splitlines()[0][:200]}") from None
        return task

    def export(self, base_dir, version=None):
        """Writes a TF Serving SavedModel to `base_dir/<version>/`; returns its path."""
        from rnn_tasks.export import export_task

        return export_task(self, base_dir, version)

    # Shared reporting ------------------------------------------------------------------

    def plot_training_curves(self, path):
        history = self._history_frame()
        if history is None:
            return
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        for column in [c for c in history.columns if c.endswith("loss")]:
            ax.plot(history["epoch"] + 1, history[column], label=column)
        ax.set(xlabel="epoch", ylabel="loss", title="Training curves", yscale="log")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    def _history_frame(self):
        if self.run_dir is not None and (Path(self.run_dir) / "history.csv").is_file():
            return pd.read_csv(Path(self.run_dir) / "history.csv")
        if self.history is not None and self.history.history:
            frame = pd.DataFrame(self.history.history)
            return frame.assign(epoch=np.arange(len(frame)))
        return None

    def write_report(self, path, metrics):
        rows = self.report_rows(metrics)
        columns = list(dict.fromkeys(k for _, values in rows for k in values))
        lines = [f"# {self.recipe_name}: {self.recipe.get('description') or self.name}", "",
                 f"Test split: {metrics.get('n_examples')} examples; "
                 f"evaluation took {metrics.get('seconds', 0):.1f} s.", "",
                 "| | " + " | ".join(columns) + " |",
                 "| --- |" + " --- |" * len(columns)]
        for name, values in rows:
            cells = [f"{values[c]:.4g}" if c in values else "" for c in columns]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        plots = sorted((Path(path).parent / "plots").glob("*.png"))
        lines += [f"![{p.stem}](plots/{p.name})" for p in plots]
        Path(path).write_text("\n".join(lines) + "\n")


def _build_before_multi_worker_fit(core, dataset, strategy):
    """Works around Keras 3 `fit` under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Keras averages a distributed batch with an eager `strategy.reduce` to
    build the optimizer, loss and metrics, and reduces scalar logs with
    `axis=0`; both fail with several workers. Here the model is built on one
    local batch instead, and logs (already global: Keras metrics aggregate
    across workers) are averaged over this worker's replicas only.
    """
    from keras.src.backend.tensorflow import trainer

    inputs, targets = next(iter(dataset.take(1)))
    with strategy.scope():
        core._symbolic_build(data_batch=(inputs, targets))
    core._maybe_symbolic_build = lambda *args, **kwargs: None
    trainer._collective_all_reduce_multi_worker = lambda strategy: False


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite batch loss and says where.

    After `fit`, `failure` is `None` or a sentence naming the value, epoch
    and batch (Keras's `TerminateOnNaN` only prints the batch).
    """

    def __init__(self):
        super().__init__()
        self.failure = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.failure = f"the loss became {float(loss)} at epoch {self.epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True


def metrics_json(metrics):
    """Metrics as strict JSON text: a value that is not a finite number (an AUC with one
    class present, a MAPE with every actual value zero) is written as `null`.

    Example:
    >>> metrics_json({"auc": float("nan"), "n": 3})
    '{\\n  "auc": null,\\n  "n": 3\\n}'
    """
    def finite(value):
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [finite(v) for v in value]
        if isinstance(value, float) and not np.isfinite(value):
            return None
        return value

    return json.dumps(finite(metrics), indent=2, allow_nan=False)


def dropped_counts(dropped):
    """`{reason: count}` -> metrics keys `dropped_<reason>`, zero counts left out."""
    return {f"dropped_{reason}": count for reason, count in dropped.items() if count}


def pyplot():
    """`matplotlib.pyplot` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def timed(evaluate):
    """Decorator for `evaluate`: adds `seconds` to the returned metrics."""
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        metrics = evaluate(self, *args, **kwargs)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
        return metrics

    wrapper.__doc__ = evaluate.__doc__
    wrapper.__name__ = evaluate.__name__
    return wrapper
