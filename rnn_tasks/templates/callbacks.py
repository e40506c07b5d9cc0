"""Keras callbacks the templates train with."""

import keras
import numpy as np


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
