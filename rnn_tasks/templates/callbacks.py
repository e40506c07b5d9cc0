"""Keras callbacks the templates train with."""

import shutil
from pathlib import Path

import keras
import numpy as np

from rnn_tasks.errors import UserError


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
    when the latest is damaged in any way.

    Keras falls back to the older copy only on an `OSError`; a kill while the
    latest weights were written can leave an HDF5 file that opens but lacks
    layers (a `ValueError`), or a cut metadata file (a JSON `ValueError`).

    Args:
        backup_dir: the run's `checkpoints/` folder.
    """

    # Keras's file names in `backup_dir`; `.bkp` is the copy from the epoch before.
    FILES = ("latest.weights.h5", "training_metadata.json")

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)
        self.folder = Path(backup_dir)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
            return
        except (OSError, ValueError) as error:
            damage = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        older = [self.folder / f"{name}.bkp" for name in self.FILES]
        if not all(path.is_file() for path in older):
            raise UserError(f"fit: resume=True, but the backup in {self.folder} is damaged "
                            f"({damage}) and there is no older one; delete {self.folder} to "
                            "train the run again from its first epoch") from None
        for path in older:
            shutil.copyfile(path, path.with_suffix(""))
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError):
            raise UserError(f"fit: resume=True, but both backups in {self.folder} are damaged "
                            f"({damage}); delete {self.folder} to train the run again from its "
                            "first epoch") from None
