"""Trains the layers and the forecasting network under `keras.distribution.DataParallel`
on the JAX backend, and again without it, from the same initial weights.

Run as a script with `KERAS_BACKEND=jax` and
`XLA_FLAGS=--xla_force_host_platform_device_count=2` (two virtual CPU
devices); prints `{name: {"devices": n, "single": losses, "parallel": losses}}`.
"""

import json
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np


def layers_model():
    from rnn_tasks.layers import LayerNormGRU, LayerNormLSTM, LayerNormSimpleRNN

    inputs = keras.Input((12, 4))
    x = LayerNormLSTM(8, return_sequences=True, zoneout=0.0)(inputs)
    x = keras.layers.Bidirectional(LayerNormGRU(8, return_sequences=True))(x)
    x = LayerNormSimpleRNN(8)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def forecasting_data_and_model(folder):
    from rnn_tasks.templates import ForecastingTask
    from tests.test_forecasting import TINY, write_prices

    task = ForecastingTask.from_recipe("price_forecasting",
                                       {**TINY, "data.path": str(write_prices(folder / "p.csv"))})
    task.prepare()
    return task.training_data("train"), task.build_model


def train(build, x, y, weights, distribution):
    keras.distribution.set_distribution(distribution)
    model = build()
    model.set_weights(weights)
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    keras.distribution.set_distribution(None)
    return history.history["loss"]


def main():
    devices = keras.distribution.list_devices("cpu")
    rng = np.random.default_rng(0)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        (x, y), build_forecaster = forecasting_data_and_model(Path(folder))
        cases = {"layers": (layers_model, rng.normal(size=(128, 12, 4)).astype("float32"),
                            rng.normal(size=(128, 1)).astype("float32")),
                 "forecasting": (build_forecaster, x[:256], y[:256])}
        for name, (build, inputs, targets) in cases.items():
            keras.utils.set_random_seed(0)
            weights = build().get_weights()
            results[name] = {
                "devices": len(devices),
                "single": train(build, inputs, targets, weights, None),
                "parallel": train(build, inputs, targets, weights,
                                  keras.distribution.DataParallel(devices=devices)),
            }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
