"""Keras callbacks the templates train with."""

import shutil
from pathlib import Path

import keras
import numpy as np

from rnn_tasks.checks import BACKUP_FILES
from rnn_tasks.errors import UserError, first_line


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


class TwoBackups(keras.callbacks.BackupAndRestore):
    """Keras's `BackupAndRestore` keeping two backups (the epoch before the last too), kept
    after the last epoch (`Task.save` removes them), that resumes from the older one
    when the latest does not load, and never overwrites a backup that does not load.

    Keras falls back to the older copy only on an `OSError`, and then copies it
    over the latest before it knows the copy loads; a kill while the latest
    weights were written can also leave an HDF5 file that opens but lacks
    layers or holds zeros (`ValueError`, `KeyError`, `RuntimeError`), or a cut
    metadata file (a JSON `ValueError`). Each copy is tried in a folder of its
    own, with a plain `BackupAndRestore`.

    Args:
        backup_dir: the run's `checkpoints/` folder.
    """

    UNREADABLE = (OSError, ValueError, KeyError, RuntimeError)  # what h5py and json raise

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)
        self.folder = Path(backup_dir)

    def on_train_begin(self, logs=None):
        if not any((self.folder / name).is_file() for name in BACKUP_FILES):
            return  # a new run
        failure = self.restore("")
        if failure and self.restore(".bkp"):
            older = (self.folder / f"{BACKUP_FILES[1]}.bkp").is_file()
            which = (f"neither backup in {self.folder} loads" if older else
                     f"the backup in {self.folder} does not load")
            raise UserError(f"fit: resume=True, but {which} into this model ({failure}): "
                            "damaged, or the model changed since the run was interrupted; "
                            f"delete {self.folder} to train the run again from its first epoch")

    def restore(self, suffix):
        """Loads the backup whose files end in `suffix` (`""`: the latest, `".bkp"`: the
        one before) into the model; it becomes the latest. Returns `None`, or why not."""
        trial = self.folder / "trial"
        shutil.rmtree(trial, ignore_errors=True)
        try:
            trial.mkdir()
            for name in BACKUP_FILES:
                shutil.copyfile(self.folder / f"{name}{suffix}", trial / name)
            restoring = keras.callbacks.BackupAndRestore(str(trial))
            restoring.set_model(self.model)
            restoring.on_train_begin()
            for name in BACKUP_FILES if suffix else ():  # epochs first: a kill between
                (trial / name).replace(self.folder / name)  # leaves a latest to retry
        except self.UNREADABLE as error:
            return first_line(error)[:120]
        finally:
            shutil.rmtree(trial, ignore_errors=True)
        return None
