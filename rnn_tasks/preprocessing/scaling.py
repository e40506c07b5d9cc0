"""Scale-free encoding of price-like series, inside the model.

Forecasting models see changes, not levels: a stock that grew thirtyfold
after the training span would otherwise fall outside every scaler fitted on
that span. `EncodeHistory` turns a raw history into standardized one-step
changes; `DecodeForecast` turns standardized changes relative to each step
back into raw values. With `mode="log"` the change is `log(x_t / x_{t-1})`
(prices), with `mode="difference"` it is `x_t - x_{t-1}` (temperatures), in
units of the window's own mean absolute one-step change (`window_unit`), so
series of any scale share one model, as DeepAR scales each window.
"""

import keras
import numpy as np
from keras import ops

def change(new, old, mode):
    """`log(new / old)` or `new - old`."""
    return ops.log(new / old) if mode == "log" else new - old


def apply_change(base, delta, mode):
    """Inverse of `change`: `base * exp(delta)` or `base + delta`."""
    return base * ops.exp(delta) if mode == "log" else base + delta


def window_unit(history, floor):
    """The unit a window's differences are read in, `(B, 1, F)`: each column's mean
    absolute one-step change in the window, at least `floor` times its mean absolute
    value (a nearly flat window would blow the next real move up to thousands of
    units), and 1 for a window of zeros. Both are scale-free: a series a million times
    smaller is read alike. 1 where `floor` is `None` (log returns, scale-free already,
    and models saved before units existed).

    Example:
    >>> import numpy as np
    >>> unit = window_unit(np.array([[[1.0, 5.0, 0.0], [3.0, 5.0, 0.0], [7.0, 5.1, 0.0]]]), 0.1)
    >>> np.round(keras.ops.convert_to_numpy(unit), 3).tolist()
    [[[3.0, 0.503, 1.0]]]
    """
    if floor is None:
        return ops.ones_like(history[:, :1])
    unit = ops.mean(ops.abs(history[:, 1:] - history[:, :-1]), axis=1, keepdims=True)
    unit = ops.maximum(unit, floor * ops.mean(ops.abs(history), axis=1, keepdims=True))
    return ops.where(unit > 0, unit, ops.ones_like(unit))


def window_units(history, floor):
    """`window_unit` of NumPy windows `(n, W, F)`, as float64 `(n, 1, F)`."""
    return np.asarray(keras.ops.convert_to_numpy(window_unit(np.asarray(history, "float64"), floor)),
                      dtype="float64")


class Float32Layer(keras.layers.Layer):
    """A layer computing in float32 under any dtype policy (a `dtype` argument still wins).

    Raw values overflow float16 (above 65,504) and lose their cents in
    bfloat16, so the layers that read or write them keep to float32 under
    `mixed_float16` and `mixed_bfloat16`, as Keras's mixed precision guide
    has the model's output layer do.

    Example:
    >>> keras.mixed_precision.set_global_policy("mixed_float16")
    >>> try:
    ...     print(EncodeHistory("log", [1.0]).compute_dtype)
    ... finally:
    ...     keras.mixed_precision.set_global_policy("float32")
    float32
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)


@keras.saving.register_keras_serializable(package="rnn_tasks")
class EncodeHistory(Float32Layer):
    """Raw history `(B, W, F)` -> standardized one-step changes `(B, W, F)`.

    The first step has no predecessor inside the window and gets 0.

    Args:
        mode: `"log"` or `"difference"`.
        scale: `(F,)` standard deviation of the one-step changes on the
            training span (in window units, with `unit_floor`).
        unit_floor: differences are divided by their `window_unit` (with
            this floor) first; `None` for log returns (and models saved
            before units existed, which read differences in raw units).

    Example:
    >>> import numpy as np
    >>> layer = EncodeHistory("difference", [2.0])
    >>> keras.ops.convert_to_numpy(layer(np.array([[[1.0], [3.0], [7.0]]]))).ravel().tolist()
    [0.0, 1.0, 2.0]
    """

    def __init__(self, mode, scale, unit_floor=None, **kwargs):
        super().__init__(**kwargs)
        self.mode, self.scale, self.unit_floor = mode, [float(s) for s in scale], unit_floor

    def call(self, history):
        steps = change(history[:, 1:], history[:, :-1], self.mode)
        steps = ops.concatenate([ops.zeros_like(history[:, :1]), steps], axis=1)
        if self.unit_floor is not None:
            steps = steps / window_unit(history, self.unit_floor)
        return steps / ops.convert_to_tensor(self.scale, dtype=history.dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "scale": self.scale,
                "unit_floor": self.unit_floor}


@keras.saving.register_keras_serializable(package="rnn_tasks")
class DecodeForecast(Float32Layer):
    """`[history (B, W, F), prediction (B, W, H, T[, Q])]` -> raw forecast `(B, W, H, T[, Q])`.

    `prediction[:, t, k]` is the standardized change from the targets at
    step `t` (the first `T` history columns) to step `t + 1 + k`; a last
    axis of `Q` quantiles, if any, is decoded alike (the decoding is
    increasing, so sorted quantiles stay sorted).

    Args:
        mode: `"log"` or `"difference"`.
        scale: `(H, T)` standard deviation of those changes on the training span.
        unit_floor: as `EncodeHistory`'s: the changes are in `window_unit`s.
    """

    def __init__(self, mode, scale, unit_floor=None, **kwargs):
        super().__init__(**kwargs)
        self.mode, self.unit_floor = mode, unit_floor
        self.scale = [[float(s) for s in row] for row in scale]

    def call(self, inputs):
        history, prediction = inputs
        n_targets = len(self.scale[0])
        base = ops.expand_dims(history[..., :n_targets], 2)  # (B, W, 1, T)
        scale = ops.convert_to_tensor(self.scale, dtype=prediction.dtype)  # (H, T)
        if self.unit_floor is not None:
            unit = window_unit(history, self.unit_floor)[..., :n_targets]  # (B, 1, T)
            scale = scale * ops.expand_dims(unit, 1)
        if len(prediction.shape) == 5:  # quantiles: (B, W, H, T, Q)
            base, scale = ops.expand_dims(base, -1), ops.expand_dims(scale, -1)
        return apply_change(base, prediction * scale, self.mode)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "scale": self.scale,
                "unit_floor": self.unit_floor}


@keras.saving.register_keras_serializable(package="rnn_tasks")
class ShiftQuantiles(Float32Layer):
    """Adds a fixed `(H, T, Q)` shift to standardized quantile forecasts `(B, W, H, T, Q)`.

    The shift is a non-trainable weight, zero until set after training (a
    conformal calibration on held-out windows), saved with the model.

    Args:
        shape: `(horizon, n_targets, n_quantiles)`.
    """

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape = [int(n) for n in shape]

    def build(self, input_shape):
        self.shift = self.add_weight(shape=self.shape, initializer="zeros", trainable=False,
                                     name="shift")

    def call(self, quantiles):
        return quantiles + ops.cast(self.shift, quantiles.dtype)

    def get_config(self):
        return {**super().get_config(), "shape": self.shape}


@keras.saving.register_keras_serializable(package="rnn_tasks")
class SortQuantiles(Float32Layer):
    """Sorts the last axis (quantile levels), so forecast quantiles never cross.

    Sorting never raises the pinball loss (Chernozhukov et al. 2010), so a
    network trained through it loses nothing.

    Example:
    >>> SortQuantiles()(keras.ops.convert_to_tensor([[0.3, -1.0, 2.0]])).numpy().tolist()
    [[-1.0, 0.30000001192092896, 2.0]]
    """

    def call(self, quantiles):
        return ops.sort(quantiles, axis=-1)
