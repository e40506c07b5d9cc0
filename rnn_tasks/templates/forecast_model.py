"""The forecaster's network: the core that trains, and the raw-in, raw-out model around it.

The core reads standardized one-step changes `(W, F)` (+ covariates
`(W, H, C)` with known-future inputs) and forecasts standardized changes at
every window step, `(W, H, T)`, or `(W, H, T, Q)` with quantiles, sorted so
they never cross. `raw_model` puts it between `EncodeHistory` and
`DecodeForecast`, so the saved model takes and returns raw units; with
quantiles it also carries the shift that `calibration_shift` fits.
"""

import keras
import numpy as np

from rnn_tasks.layers import recurrent_layer
from rnn_tasks.preprocessing.calendar import CalendarFeatures
from rnn_tasks.preprocessing.scaling import (DecodeForecast, EncodeHistory, ShiftQuantiles,
                                              SortQuantiles, change, window_units)


def n_covariates(data):
    """Width of the covariates: future columns plus a sine and cosine per calendar feature
    (0: no known-future inputs)."""
    return len(data.future_columns) + 2 * len(data.calendar)


def encode_future(known, dates, data, preprocessing):
    """Known-future inputs -> the network's covariates `(..., C)`: future columns
    standardized, calendar features as sines and cosines. Used both to train and
    inside the saved model, so the two agree.

    Args:
        known: future column values `(..., K)`, or `None` without future columns.
        dates: int64 Unix seconds `(...)`, or `None` without calendar features.
        data: the recipe's `[data]` section.
        preprocessing: the task's fitted preprocessing (`future_mean`, `future_scale`).

    Returns:
        A tensor `(..., C)`, `C = n_covariates(data)`.
    """
    parts = []
    if data.future_columns:
        parts.append(keras.layers.Normalization(  # raw values: float32 under mixed precision
            mean=preprocessing["future_mean"],
            variance=np.square(preprocessing["future_scale"]), dtype="float32")(known))
    if data.calendar:
        parts.append(CalendarFeatures(data.calendar)(dates))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)


def core_model(data, spec, n_features, n_targets, levels):
    """The core: standardized changes `(W, F)` [+ covariates `(W, H, C)`] ->
    standardized forecasts `(W, H, T)` [`(W, H, T, Q)` with quantiles].

    Args:
        data, spec: the recipe's `[data]` and `[model]` sections.
        n_features: `F`, the history's columns (targets, then features).
        n_targets: `T`, the target columns.
        levels: the quantile levels (empty: a point forecast).

    Returns:
        A `keras.Model` named "forecaster_core".
    """
    window, horizon = data.window, data.horizon
    inputs = [keras.Input((window, n_features), name="changes")]
    x = inputs[0]
    for _ in range(spec.layers):
        x = recurrent_layer(spec.cell, spec.units, spec.layer_norm,
                            return_sequences=True)(x)
        # Dropout on the outputs, not the inputs: dropping the one or two
        # input features zeroes whole sequences, where layer norm blows
        # gradients up (see the layers' README section).
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
    per_step = n_targets * max(len(levels), 1)  # T or T * Q numbers
    if n_covariates(data):  # per (step, horizon step): state + that step's covariates
        covariates = keras.Input((window, horizon, n_covariates(data)), name="covariates")
        inputs.append(covariates)
        x = keras.layers.Reshape((window, horizon, spec.units))(
            keras.layers.Dense(horizon * spec.units)(x))
        x = keras.layers.Add()([x, keras.layers.Dense(spec.units)(covariates)])
        x = keras.layers.Dense(per_step, dtype="float32")(keras.layers.Activation("relu")(x))
    else:
        x = keras.layers.Dense(horizon * per_step, dtype="float32")(x)
    shape = (window, horizon, n_targets) + ((len(levels),) if levels else ())
    outputs = keras.layers.Reshape(shape, dtype="float32")(x)  # float32 under mixed precision
    if levels:
        outputs = SortQuantiles()(outputs)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs,
                       name="forecaster_core")


def raw_model(core, data, preprocessing, n_features, n_targets, levels):
    """The raw-in, raw-out model: the serving inputs -> raw forecasts of every window
    step `(B, W, H, T[, Q])`; serving keeps the final step.

    The known-future inputs are those of the final step's `horizon` steps;
    the core reads them at every step, where only the final one counts.

    Args:
        core: the trained core (`core_model` or a subclass's).
        data: the recipe's `[data]` section.
        preprocessing: the task's fitted preprocessing (scales and means).
        n_features, n_targets, levels: as in `core_model`.

    Returns:
        A `keras.Model` named "forecaster"; with quantiles it holds the
        `ShiftQuantiles` layer "calibration".
    """
    window, horizon = data.window, data.horizon
    history = keras.Input((window, n_features), name="history")
    inputs = {"history": history}
    if data.future_columns:
        inputs["future"] = keras.Input((horizon, len(data.future_columns)), name="future")
    if data.calendar:
        inputs["future_dates"] = keras.Input((horizon,), dtype="int64", name="future_dates")
    changes = EncodeHistory(data.scaling, preprocessing["input_scale"],
                            preprocessing["unit_floor"])(history)
    core_inputs = changes
    if n_covariates(data):
        covariates = encode_future(inputs.get("future"), inputs.get("future_dates"), data,
                                   preprocessing)
        covariates = keras.layers.Reshape((1, horizon, n_covariates(data)))(covariates)
        covariates = keras.layers.UpSampling2D((window, 1))(covariates)  # (B, W, H, C)
        core_inputs = [changes, covariates]
    prediction = core(core_inputs)
    if levels:  # the shift stays zero unless `calibration_shift` sets it
        shape = (horizon, n_targets, len(levels))
        prediction = SortQuantiles()(ShiftQuantiles(shape, name="calibration")(prediction))
    scale = np.asarray(preprocessing["target_scale"]).tolist()
    forecast = DecodeForecast(data.scaling, scale, preprocessing["unit_floor"])([history, prediction])
    model_inputs = list(inputs.values())
    return keras.Model(model_inputs if len(model_inputs) > 1 else history, forecast,
                       name="forecaster")


def calibration_shift(quantiles, windows, levels, mode, target_scale, floor):
    """The shift of each quantile level but the median, in standardized changes, that
    puts that share of the windows' final-step targets below it.

    Args:
        quantiles: the uncalibrated quantile forecasts of the windows' final
            steps, raw units, `(n, H, T, Q)`.
        windows: the `forecast_data.Windows` they forecast.
        levels: the quantile levels.
        mode: the recipe's `data.scaling`.
        target_scale: the scale of the standardized changes, `(H, T)`, in
            window units (`window_unit`).
        floor: the preprocessing's `unit_floor` (`None`: log returns).

    Returns:
        float32 `(H, T, Q)`, zero for the median.
    """
    n_targets = quantiles.shape[2]
    base = windows.history[:, -1, None, :n_targets, None]  # the last value of each target
    actual = windows.future[:, -1][..., None]
    errors = (np.asarray(change(actual, base, mode)) - np.asarray(change(quantiles, base, mode)))
    units = window_units(windows.history, floor)[..., :n_targets, None]  # (n, 1, T, 1)
    errors = errors / units / target_scale[..., None]  # (n, H, T, Q) standardized
    shift = np.stack([np.zeros(errors.shape[1:3]) if level == 0.5 else
                      np.quantile(errors[..., j], level, axis=0)
                      for j, level in enumerate(levels)], axis=-1)
    return shift.astype("float32")
