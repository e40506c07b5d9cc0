"""`ForecastingTask`: sequence-to-sequence forecasting of a time series.

The story:

1. data: one series from a table (a group of it, sorted by date, duplicate
   dates dropped), split chronologically into train / validation / test,
   cut into windows; at every window step the targets are the next
   `horizon` values.
2. preprocessing: the scale of one-step changes, fitted on the training
   span only (`EncodeHistory` / `DecodeForecast` apply it inside the model).
3. model: stacked recurrent layers (LayerNormLSTM by default) and a dense
   head that forecasts `horizon` standardized changes at every step.
4. training: MSE over all steps and horizons.
5. evaluation: the final step's forecast in raw units against the test
   span, beside the naive baselines last value, drift and seasonal naive.
6. export: `history` [batch, window, n_features] -> `forecast`
   [batch, horizon, n_targets], raw units in and out.
"""

import dataclasses

import keras
import numpy as np
import pandas as pd

from rnn_tasks.data.readers import parse_dates, read_table, text_cells
from rnn_tasks.inputs import named_input
from rnn_tasks.data.windows import (
    baseline_forecasts,
    make_windows,
    split_bounds,
    window_starts,
)
from rnn_tasks.errors import UserError
from rnn_tasks.layers import recurrent_layer
from rnn_tasks.preprocessing.scaling import DecodeForecast, EncodeHistory, change
from rnn_tasks.schemas import FORECASTING
from rnn_tasks.metrics import forecast_metrics, remember_metrics, timed
from rnn_tasks.templates.run_dir import pyplot
from rnn_tasks.templates.task import Task

SPLITS = ("train", "validation", "test")
FLOAT32_MAX = float(np.finfo("float32").max)


@dataclasses.dataclass
class SeriesData:
    """One series and its windows.

    Attributes:
        dates: `(N,)` timestamps (or row numbers without a date column).
        values: `(N, F)` float64, targets first.
        bounds: `{split: (start, stop)}` index ranges.
        windows: `{split: (history (n, W, F), future (n, W, H, T), starts (n,))}`.
        dropped_duplicates: how many rows with a repeated date were dropped.
    """

    dates: np.ndarray
    values: np.ndarray
    bounds: dict
    windows: dict
    dropped_duplicates: int = 0


class ForecastingTask(Task):
    """Sequence-to-sequence forecasting; see the module docstring for the story.

    Example:
    >>> task = ForecastingTask.from_recipe("price_forecasting",
    ...                                    {"train.epochs": 1, "model.units": 8})
    >>> _ = task.fit(verbose=0)
    >>> sorted(task.evaluate())[:3]
    ['baselines', 'mae', 'mape']
    """

    name = "forecasting"
    schema = FORECASTING

    # Shortcuts to the recipe -------------------------------------------------------

    @property
    def columns(self):
        data = self.recipe["data"]
        return list(data["target_columns"]) + list(data["feature_columns"])

    def value_columns(self):
        """Columns every file of a series needs: the values, and the dates if the recipe has them."""
        date = self.recipe["data"]["date_column"]
        return self.columns + ([date] if date else [])

    @property
    def n_targets(self):
        return len(self.recipe["data"]["target_columns"])

    # 1. Data ---------------------------------------------------------------------------

    def series(self, frame):
        """Selects the group (when the frame has the group column), sorts by date,
        drops repeated dates, checks values.

        Returns:
            `(dates, values (N, F), dropped_duplicates)`.
        """
        data = self.recipe["data"]
        if data["group_column"] in frame.columns:  # a file without it is one series
            groups = text_cells(frame[data["group_column"]])
            if data["group"] not in set(groups):
                values = sorted(set(groups))
                listed = ", ".join(map(repr, values[:20])) + (", ..." if len(values) > 20 else "")
                raise UserError(f"data: `group` must be one of the values of column "
                                f"{data['group_column']!r} ({listed}), got {data['group']!r}")
            frame = frame[groups == data["group"]]
        dropped = 0
        if data["date_column"]:
            dates = parse_dates(frame[data["date_column"]], data["date_format"])
            frame = frame.assign(_date=dates).sort_values("_date", kind="stable")
            before = len(frame)
            frame = frame.drop_duplicates("_date", keep="last")
            dropped = before - len(frame)
            dates = frame["_date"].dt.tz_localize(None).to_numpy()
        else:
            dates = np.arange(len(frame))
        values = frame[self.columns].apply(pd.to_numeric, errors="coerce")
        for column in self.columns:
            missing = int(values[column].isna().sum())
            if missing:
                raise UserError(
                    f"data: column {column!r} has {missing} missing or non-numeric values; "
                    "fill or drop them first (training on NaN is refused)"
                )
        values = values.to_numpy(dtype="float64")
        too_large = ~(np.abs(values) <= FLOAT32_MAX)
        if too_large.any():
            row, column = np.argwhere(too_large)[0]
            raise UserError(
                f"data: column {self.columns[column]!r} has {int(too_large[:, column].sum())} "
                f"infinite or too large values (first: {values[row, column]:g} on {dates[row]}; "
                f"float32 holds up to {FLOAT32_MAX:.3g}); fix or drop them first")
        if self.recipe["data"]["scaling"] == "log" and (values <= 0).any():
            column = self.columns[int(np.argmax((values <= 0).any(axis=0)))]
            raise UserError(
                f"data: scaling = 'log' needs positive values, column {column!r} has "
                f"{values.min():g}; a model trained with data.scaling=difference takes them"
            )
        return dates, values, dropped

    def load_data(self):
        data = self.recipe["data"]
        required = self.value_columns() + ([data["group_column"]] if data["group_column"] else [])
        dates, values, dropped = self.series(self.read_frame(required))
        window, horizon = data["window"], data["horizon"]
        bounds = dict(zip(SPLITS, split_bounds(len(values), data["split"])))
        windows = {}
        for split, span in bounds.items():
            starts = window_starts(span, window, horizon)
            if len(starts) == 0:
                raise UserError(
                    f"data: the {split} split has {span[1] - span[0]} rows, too few for "
                    f"window={window} + horizon={horizon} (series length {len(values)})"
                )
            windows[split] = (*make_windows(values, starts, window, horizon, self.n_targets), starts)
        return SeriesData(dates, values, bounds, windows, dropped)

    # 2. Preprocessing ---------------------------------------------------------------------

    def build_preprocessing(self):
        """Scales of the changes on the training span, and MASE's naive scale."""
        mode = self.recipe["data"]["scaling"]
        start, stop = self.data.bounds["train"]
        train = self.data.values[start:stop]
        steps = np.asarray(change(train[1:], train[:-1], mode))
        return {
            "input_scale": _positive(steps.std(axis=0)),
            "target_scale": _positive(self.relative_targets("train").std(axis=(0, 1))),
            "naive_scale": np.abs(train[1:, :self.n_targets] - train[:-1, :self.n_targets]).mean(axis=0),
        }

    def relative_targets(self, split):
        """Unscaled changes from each window step's targets to the next `horizon` values.

        Returns:
            `(n, W, H, T)`: what `DecodeForecast` turns back into raw values.
        """
        history, future, _ = self.data.windows[split]
        base = history[:, :, None, :self.n_targets]
        return np.asarray(change(future, base, self.recipe["data"]["scaling"]))

    def training_data(self, split):
        history = self.data.windows[split][0]
        encode = EncodeHistory(self.recipe["data"]["scaling"], self.preprocessing["input_scale"])
        x = keras.ops.convert_to_numpy(encode(history.astype("float32")))
        y = self.relative_targets(split) / self.preprocessing["target_scale"]
        return x.astype("float32"), y.astype("float32")

    # 3. Model ---------------------------------------------------------------------------

    def build_model(self):
        """The core: standardized changes `(W, F)` -> standardized forecasts `(W, H, T)`.

        A subclass may return any Keras model with these input and output shapes.
        """
        data, spec = self.recipe["data"], self.recipe["model"]
        window, horizon = data["window"], data["horizon"]
        inputs = keras.Input((window, len(self.columns)), name="changes")
        x = inputs
        for _ in range(spec["layers"]):
            x = recurrent_layer(spec["cell"], spec["units"], spec["layer_norm"],
                                return_sequences=True)(x)
            # Dropout on the outputs, not the inputs: dropping the one or two
            # input features zeroes whole sequences, where layer norm blows
            # gradients up (see the layers' README section).
            if spec["dropout"]:
                x = keras.layers.Dropout(spec["dropout"])(x)
        x = keras.layers.Dense(horizon * self.n_targets)(x)
        outputs = keras.layers.Reshape((window, horizon, self.n_targets))(x)
        return keras.Model(inputs, outputs, name="forecaster_core")

    def assemble(self, core):
        data = self.recipe["data"]
        history = keras.Input((data["window"], len(self.columns)), name="history")
        changes = EncodeHistory(data["scaling"], self.preprocessing["input_scale"])(history)
        scale = np.asarray(self.preprocessing["target_scale"]).tolist()
        forecast = DecodeForecast(data["scaling"], scale)([history, core(changes)])
        return keras.Model(history, forecast, name="forecaster")

    # 5. Evaluation ----------------------------------------------------------------------

    @remember_metrics
    def evaluate(self, backtest=None):
        """Test metrics of the final-step forecast, with the naive baselines.

        Args:
            backtest: if set, also report `backtest` rolling forecast origins
                through the test span, `horizon` steps apart (one model, no
                refit), each with its own metrics.

        Returns:
            `{mae, rmse, mape, smape, mase, baselines: {name: {...}},
            n_examples, seconds[, backtest]}`.
        """
        self.prepare()
        metrics = self.score(self.data.windows["test"], self.data.dates,
                             self.preprocessing["naive_scale"], backtest)
        if self.data.dropped_duplicates:
            metrics["dropped_duplicate_dates"] = self.data.dropped_duplicates
        return metrics

    @timed
    def evaluate_file(self, path, backtest=None):
        """Metrics over a whole other file: a forecast from every origin it allows.

        The file needs the recipe's value and date columns; without the group
        column it is one series. MASE is scaled by the file's own one-step
        naive error (there is no training span in it).

        Args:
            path: a CSV/TSV/JSONL file (or glob) of the recipe's format.
            backtest: as in `evaluate`, over the file.

        Returns:
            The keys of `evaluate`.
        """
        data = self.recipe["data"]
        dates, values, dropped = self.series(read_table(path, self.value_columns()))
        starts = window_starts((0, len(values)), data["window"], data["horizon"])
        if len(starts) == 0:
            raise UserError(f"{path}: has {len(values)} rows, too few for window={data['window']} "
                            f"+ horizon={data['horizon']}")
        windows = (*make_windows(values, starts, data["window"], data["horizon"], self.n_targets),
                   starts)
        targets = values[:, :self.n_targets]
        metrics = self.score(windows, dates, np.abs(np.diff(targets, axis=0)).mean(axis=0), backtest)
        if dropped:
            metrics["dropped_duplicate_dates"] = dropped
        return metrics

    def score(self, windows, dates, naive_scale, backtest=None):
        """Metrics of the model and the baselines on `(history, future, starts)` windows."""
        history, future, starts = windows
        actual = future[:, -1]
        forecasts = self._forecasts(history)
        metrics = forecast_metrics(actual, forecasts["model"], naive_scale)
        metrics["baselines"] = {name: forecast_metrics(actual, values, naive_scale)
                                for name, values in forecasts.items() if name != "model"}
        metrics["n_examples"] = int(len(actual))
        if backtest:
            metrics["backtest"] = self._backtest(forecasts, windows, dates, naive_scale, backtest)
        return metrics

    def _forecasts(self, history):
        """`{"model": ..., baseline: ...}`, each `(n, H, T)` in raw units."""
        data = self.recipe["data"]
        predicted = self.predict(history.astype("float32"))["forecast"].astype("float64")
        return {"model": predicted, **baseline_forecasts(history, data["horizon"], data["season"],
                                                          self.n_targets)}

    def _backtest(self, forecasts, windows, dates, naive_scale, origins):
        """MASE at `origins` forecast origins, `horizon` apart, ending at the last window.

        Args:
            forecasts: `_forecasts` of every window.
            windows: `(history, future, starts)`.
            dates: the series' dates.
            naive_scale: MASE's denominator.
            origins: how many origins.
        """
        _, future, starts = windows
        window, horizon = self.recipe["data"]["window"], self.recipe["data"]["horizon"]
        available = len(self._origins(starts, len(starts)))
        if origins > available:
            raise UserError(f"--backtest {origins}: the data allows {available} forecast origins "
                            f"{horizon} steps apart")
        rows = []
        for pick in self._origins(starts, origins):
            actual = future[pick:pick + 1, -1]
            row = {"origin": str(dates[starts[pick] + window - 1])}
            for name, values in forecasts.items():
                row[name] = forecast_metrics(actual, values[pick:pick + 1], naive_scale)["mase"]
            rows.append(row)
        return rows

    def _origins(self, starts, count):
        """Indices of the last `count` windows, `horizon` apart, oldest first."""
        return np.arange(len(starts) - 1, -1, -self.recipe["data"]["horizon"])[:count][::-1]

    def report_rows(self, metrics):
        keys = ("mae", "rmse", "mape", "smape", "mase")
        rows = [("model", {k: metrics[k] for k in keys})]
        return rows + [(name, {k: values[k] for k in keys})
                       for name, values in metrics["baselines"].items()]

    def plot(self, plots_dir, metrics):
        """`forecast.png`: the end of the test span, forecasts from origins `horizon` apart."""
        plt = pyplot()
        data = self.recipe["data"]
        history, future, starts = self.data.windows["test"]
        horizon, window = data["horizon"], data["window"]
        picks = self._origins(starts, 12)
        forecasts = self._forecasts(history[picks])
        first = starts[picks[0]] + window - 3 * horizon
        last = starts[picks[-1]] + window + horizon
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.plot(self.data.dates[first:last], self.data.values[first:last, 0], color="black",
                label=f"actual {data['target_columns'][0]}")
        styles = {"model": "tab:red", "last_value": "tab:gray", "drift": "tab:blue",
                  "seasonal_naive": "tab:green"}
        for i, pick in enumerate(picks):
            when = self.data.dates[starts[pick] + window: starts[pick] + window + horizon]
            for name, color in styles.items():
                ax.plot(when, forecasts[name][i, :, 0], color=color, alpha=0.8,
                        linestyle="-" if name == "model" else "--",
                        label=name if i == 0 else None)
        ax.set(title=f"{self.recipe_name}: {horizon}-step forecasts on the test span")
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(plots_dir / "forecast.png", dpi=100)
        plt.close(fig)

    # 6. Serving ------------------------------------------------------------------------

    def serving_signature(self):
        import tensorflow as tf

        window = self.recipe["data"]["window"]
        return {"history": tf.TensorSpec([None, window, len(self.columns)], tf.float32,
                                         name="history")}

    def serve(self, inputs):
        return {"forecast": self.model(inputs["history"], training=False)[:, -1]}

    def input_list(self, inputs):
        inputs = named_input(inputs, "history")
        try:
            history = np.asarray(inputs, dtype="float64")
        except (TypeError, ValueError):
            raise UserError("predict: `history` must be numbers [batch, window, features] "
                            f"(or [window, features]), got {type(inputs).__name__}") from None
        if history.ndim == 2:
            history = history[None]
        expected = (self.recipe["data"]["window"], len(self.columns))
        if history.ndim != 3 or history.shape[1:] != expected:
            raise UserError(
                f"predict: `history` must have shape [batch, {expected[0]}, {expected[1]}] "
                f"(window, features: {', '.join(self.columns)}), got {list(history.shape)}"
            )
        too_large = ~(np.abs(history) <= FLOAT32_MAX)
        if too_large.any():
            raise UserError("predict: `history` has missing, infinite or too large values; "
                            "the model forecasts from finite float32 numbers")
        if self.recipe["data"]["scaling"] == "log" and (history <= 0).any():
            raise UserError("predict: `history` has values <= 0; this model (scaling = 'log') "
                            "forecasts from positive values")
        return [history.astype("float32")]

    def warmup_inputs(self, count):
        history = self.data.windows["validation"][0][:count]
        return {"history": history.astype("float32")}

    def inputs_from_files(self, paths):
        """CLI `predict` inputs: each CSV's last `window` rows -> `{"history": (n, W, F)}`."""
        histories = []
        window = self.recipe["data"]["window"]
        for path in paths:
            frame = read_table(path, self.value_columns())
            _, values, _ = self.series(frame)
            if len(values) < window:
                raise UserError(f"{path}: has {len(values)} rows, the model needs the last {window}")
            histories.append(values[-window:])
        return {"history": np.stack(histories).astype("float32")}


def _positive(scale):
    """A scale with zeros (constant columns) replaced by 1."""
    scale = np.asarray(scale, dtype="float64")
    return np.where(scale > 0, scale, 1.0)
