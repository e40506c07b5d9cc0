"""Training a template's core: the `tf.data` pipeline, the XLA setting, the default
callbacks, `fit`, and a one-line error when the loss stopped being finite."""

from pathlib import Path

import keras

from rnn_tasks.errors import UserError
from rnn_tasks.templates import distribute
from rnn_tasks.templates.callbacks import StopOnNonFiniteLoss, TwoBackups


def xla_setting(setting):
    """`jit_compile` for `model.compile`, from the recipe's `train.jit_compile`.

    `true` and `false` pass through. `"auto"` picks what measured faster
    (`benchmarks/recipes.py`, README "Benchmarks"): on TensorFlow with no GPU,
    `False`: in its first epoch XLA compiles the training step for the full
    and again for the smaller last batch, and the validation step, which
    costs most recipes more than their faster steps win back (and the
    sentiment and captioning steps run 5-7x slower under it).
    `tasks/temperature_forecasting.toml` sets `true`, where XLA measured
    faster. Elsewhere Keras's own `"auto"` (XLA on a GPU
    outside a `tf.distribute` strategy; always on JAX, whose steps are
    otherwise run op by op).

    Args:
        setting: `"auto"`, `True` or `False`.

    Returns:
        `True`, `False` or `"auto"`, as `model.compile(jit_compile=...)` takes it.

    Example:
    >>> xla_setting(True)
    True
    """
    if setting != "auto":
        return setting
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            return False
    return "auto"


def default_callbacks(patience, run_dir=None, resume=False):
    """Early stopping, NaN guard and, with a run directory, its logs and backups.

    Args:
        patience: epochs without a better validation loss before stopping
            (restoring the best weights); 0: never stop early.
        run_dir: where history.csv, TensorBoard logs and backups go, or `None`.
        resume: continue the run's history.csv rather than start it.

    Returns:
        A list of Keras callbacks.
    """
    callbacks = [StopOnNonFiniteLoss()]
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            patience=patience, restore_best_weights=True, monitor="val_loss"))
    if run_dir is not None:
        run = Path(run_dir)
        # The epoch's history row is written before its backup: a kill between
        # the two repeats the epoch on resume, and `save` keeps its last row.
        callbacks += [
            keras.callbacks.CSVLogger(str(run / "history.csv"), append=resume),
            # Kept after the last epoch, so an interrupted evaluation leaves a run
            # that --resume finishes rather than one to delete.
            TwoBackups(run / "checkpoints"),
            keras.callbacks.TensorBoard(str(run / "logs")),
        ]
    return callbacks


def batched(data, shuffle, batch_size, seed):
    """Training data as a batched `tf.data` pipeline sharded by DATA.

    Arrays `(x, y)` are sliced, shuffled (seeded, every epoch) and batched;
    a `tf.data.Dataset` is taken as it is. Our pipelines start from tensors,
    not files, so FILE sharding cannot apply: with DATA every worker reads
    the pipeline and keeps its share of each global batch.

    Args:
        data: `(inputs, targets)` arrays, or a `tf.data.Dataset` of batches.
        shuffle: shuffle the arrays.
        batch_size: the global batch size.
        seed: the shuffle's seed.

    Returns:
        A `tf.data.Dataset`.
    """
    import tensorflow as tf

    if isinstance(data, tuple):
        dataset = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            # The targets' length: the inputs may be a tuple of several arrays.
            dataset = dataset.shuffle(len(data[1]), seed=seed)
        data = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


def fit_core(core, train, validation, callbacks, strategy, epochs, verbose="auto"):
    """Trains a compiled core with Keras `fit`, also under mirrored strategies.

    Args:
        core: the compiled Keras model.
        train, validation: `tf.data` pipelines of batches.
        callbacks: Keras callbacks (`default_callbacks` and any others).
        strategy: the `tf.distribute` strategy the core was built in.
        epochs: the number of epochs.
        verbose: Keras progress-bar setting.

    Returns:
        The Keras `History`.
    """
    with distribute.distributed_fit(core, train, strategy):
        return core.fit(
            train,
            validation_data=validation,
            epochs=epochs,
            shuffle=False,  # the tf.data pipeline shuffles (Keras warns it ignores `shuffle`)
            callbacks=callbacks,
            verbose=verbose,
        )


def check_finite(callbacks, learning_rate):
    """Raises `UserError` with its reason if a `StopOnNonFiniteLoss` in `callbacks`
    stopped training (`learning_rate`, the recipe's, is named in the advice)."""
    for callback in callbacks:
        if isinstance(callback, StopOnNonFiniteLoss) and callback.failure:
            raise UserError(f"training stopped: {callback.failure}; lower train.learning_rate "
                            f"(now {learning_rate:g}) or look for "
                            "extreme values in the data")
