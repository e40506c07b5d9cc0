"""`ForecastingTask`: sequence-to-sequence forecasting of one or many time series.

The story:

1. data: the chosen series of a table (`data.group`: one, a list, or `"*"`),
   each sorted by date, split chronologically on its own into train /
   validation / test and cut into windows; at every window step the targets
   are the next `horizon` values (see `forecast_data`). The windows of all
   series are pooled: one global model.
2. preprocessing: the scale of one-step changes, fitted on the training
   spans only (`EncodeHistory` / `DecodeForecast` apply it inside the model),
   the mean and scale of the known-future columns, and the baselines'
   training-span errors (their prediction intervals).
3. model: stacked recurrent layers (LayerNormLSTM by default) read the
   standardized changes; a head forecasts `horizon` standardized changes at
   every step, from the recurrent state and, with known-future inputs, the
   future columns and calendar features of those `horizon` steps. With
   `model.quantiles` it forecasts each level, sorted so they never cross
   (see `forecast_model`).
4. training: the recipe's loss (the pinball loss with quantiles) over all
   steps and horizons; with `model.calibrate`, each quantile level is then
   shifted to hold on the validation windows (`calibrate`).
5. evaluation: the final step's forecast in raw units against the test
   spans, beside the naive baselines last value, drift and seasonal naive,
   pooled and per series (see `forecast_scores`).
6. export: `history` [batch, window, n_features] (+ `future` [batch,
   horizon, n_future] and `future_dates` int64 [batch, horizon] with
   known-future inputs) -> `forecast` [batch, horizon, n_targets] (+
   `quantiles` [batch, horizon, n_targets, n_quantiles]), raw units.
"""


import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from rnn_tasks.data.readers import check_group_column, read_table
from rnn_tasks.data.windows import baseline_forecasts, residual_quantiles
from rnn_tasks.errors import UserError, notice
from rnn_tasks.losses import PinballLoss
from rnn_tasks.metrics import remember_metrics, timed
from rnn_tasks.preprocessing.scaling import EncodeHistory, change, window_units
from rnn_tasks.schemas import FORECASTING
from rnn_tasks.templates import forecast_data, forecast_inputs, forecast_model, forecast_scores
from rnn_tasks.templates.task import Task

# A window's unit (`window_unit`) is at least this share of its mean absolute value.
UNIT_FLOOR = 0.01


class ForecastingTask(Task):
    """Sequence-to-sequence forecasting; see the module docstring for the story.

    Example:
    >>> task = ForecastingTask.from_recipe("price_forecasting",
    ...                                    {"train.epochs": 1, "model.units": 8})
    >>> _ = task.fit(verbose=0)
    >>> sorted(task.evaluate())[:3]
    ['baselines', 'groups', 'mae']
    """

    name = "forecasting"
    schema = FORECASTING
    data_class = forecast_data.ForecastData

    # Shortcuts to the recipe -------------------------------------------------------

    @property
    def columns(self):
        """The history's columns: targets, then feature columns."""
        data = self.config.data
        return list(data.target_columns) + list(data.feature_columns)

    def value_columns(self):
        """Columns every file of a series needs: values, future columns, dates if any."""
        data = self.config.data
        date = data.date_column
        return self.columns + list(data.future_columns) + ([date] if date else [])

    @property
    def n_targets(self):
        return len(self.config.data.target_columns)

    @property
    def levels(self):
        """The quantile levels (empty: a point forecast)."""
        return list(self.config.model.quantiles)

    def future_inputs(self):
        """Names of the known-future serving inputs: `future`, `future_dates`, both or none."""
        data = self.config.data
        return [name for name, used in (("future", data.future_columns),
                                        ("future_dates", data.calendar)) if used]

    # 1. Data ---------------------------------------------------------------------------

    def load_data(self):
        data = self.config.data
        frame = self.read_frame(self.value_columns())
        check_group_column(frame, data.group_column, "name the column that tells the series "
                           "apart, or for one series --set data.group_column='' --set data.group=''")
        return forecast_data.load_data(frame, data, self.n_targets)

    # 2. Preprocessing ---------------------------------------------------------------------

    def build_preprocessing(self):
        """Scales fitted on the training spans only (all series pooled), and the
        baselines' error quantiles there."""
        mode = self.config.data.scaling
        spans = [s.values[slice(*s.bounds["train"])] for s in self.data.series]
        steps = np.concatenate([np.asarray(change(v[1:], v[:-1], mode)) for v in spans])
        too_large = ~(np.abs(steps) <= forecast_data.FLOAT32_MAX)
        if too_large.any():  # the model computes them in float32
            column = self.columns[int(np.argwhere(too_large)[0][1])]
            raise UserError(f"data: column {column!r} changes from one step to the next by more "
                            f"than float32 holds ({forecast_data.FLOAT32_MAX:.3g}) in "
                            f"{int(too_large.any(axis=1).sum())} step(s); divide the column by a "
                            "constant first")
        train = self.data.windows["train"]
        # Differences are read in each window's unit (`window_unit`); log returns as they are.
        floor = (self.model_unit_floor() if self.model is not None else  # a loaded model's
                 UNIT_FLOOR if mode == "difference" else None)
        known = np.concatenate([s.known[slice(*s.bounds["train"])] for s in self.data.series])
        return {
            "unit_floor": floor,
            "input_scale": self.change_scale(steps, floor),
            "target_scale": _positive(self.relative_targets("train", floor).std(axis=(0, 1))),
            "future_mean": known.mean(axis=0), "future_scale": _positive(known.std(axis=0)),
            "naive_scale": {s.name: forecast_scores.naive_scale(v[:, :self.n_targets])
                            for s, v in zip(self.data.series, spans)},
            "baseline_residuals": self.baseline_residuals(train, floor),
        }

    def baseline_residuals(self, windows, floor):
        """`{baseline: (Q, H, T)}` quantiles of its errors on `windows` ({} without quantiles),
        differences in window units (`floor`: `unit_floor`, or `None`)."""
        if not self.levels:
            return {}
        data = self.config.data
        actual = windows.future[:, -1]
        units = window_units(windows.history, floor)[..., :self.n_targets]
        return {name: residual_quantiles(actual, forecast, self.levels, data.scaling, units)
                for name, forecast in baseline_forecasts(windows.history, data.horizon,
                                                         data.season, self.n_targets).items()}

    def model_unit_floor(self):
        """The model's `unit_floor` (`EncodeHistory`'s): `None` for log returns, and for a
        model saved before window units existed, which read differences in raw units."""
        return next((layer.unit_floor for layer in self.model.layers
                     if isinstance(layer, EncodeHistory)), None)

    def change_scale(self, steps, floor):
        """`input_scale`: the standard deviation of the one-step changes as the model reads
        them: `steps`, the training spans' log returns, or with a unit `floor` the
        training windows' differences in window units (as `EncodeHistory` reads them)."""
        if floor is None:
            return _positive(steps.std(axis=0))
        history = self.data.windows["train"].history.astype("float32")
        encode = EncodeHistory(self.config.data.scaling, np.ones(history.shape[-1]), floor)
        changes = keras.ops.convert_to_numpy(encode(history))[:, 1:]  # the first step is 0
        return _positive(changes.reshape(-1, history.shape[-1]).std(axis=0))

    def relative_targets(self, split, floor):
        """Changes from each window step's targets to the next `horizon` values, in the
        window's unit (`window_unit` with `floor`), not yet standardized.

        Returns:
            `(n, W, H, T)`: what `DecodeForecast` turns back into raw values.
        """
        windows, mode = self.data.windows[split], self.config.data.scaling
        base = windows.history[:, :, None, :self.n_targets]
        units = window_units(windows.history, floor)[:, :, None, :self.n_targets]
        return np.asarray(change(windows.future, base, mode)) / units

    def training_data(self, split):
        windows = self.data.windows[split]
        encode = EncodeHistory(self.config.data.scaling, self.preprocessing["input_scale"],
                               self.preprocessing["unit_floor"])
        x = keras.ops.convert_to_numpy(encode(windows.history.astype("float32"))).astype("float32")
        if self.future_inputs():
            covariates = forecast_model.encode_future(
                windows.known.astype("float32"), windows.dates, self.config.data,
                self.preprocessing)
            x = (x, keras.ops.convert_to_numpy(covariates).astype("float32"))
        targets = self.relative_targets(split, self.preprocessing["unit_floor"])
        return x, (targets / self.preprocessing["target_scale"]).astype("float32")

    # 3. Model ---------------------------------------------------------------------------

    def build_model(self):
        """The core: standardized changes `(W, F)` [+ covariates `(W, H, C)`] ->
        standardized forecasts `(W, H, T)` [`(W, H, T, Q)` with quantiles].

        A subclass may return any Keras model with these inputs and outputs.
        """
        return forecast_model.core_model(self.config.data, self.config.model,
                                         len(self.columns), self.n_targets, self.levels)

    def loss(self):
        return PinballLoss(self.levels) if self.levels else super().loss()

    def assemble(self, core):
        """The raw-in, raw-out model: the serving inputs -> raw forecasts of every window
        step `(B, W, H, T[, Q])`; serving keeps the final step (`forecast_model.raw_model`)."""
        return forecast_model.raw_model(core, self.config.data, self.preprocessing,
                                        len(self.columns), self.n_targets, self.levels)

    # 4. Training ------------------------------------------------------------------------

    def fit(self, run_dir=None, *, resume=False, verbose="auto", callbacks=()):
        """Trains (see `Task.fit`); with `model.calibrate`, then calibrates the quantiles."""
        history = super().fit(run_dir, resume=resume, verbose=verbose, callbacks=callbacks)
        if self.config.model.calibrate:
            self.calibrate()
        return history

    def calibrate(self):
        """Shifts each quantile level but the median so that, on the validation windows'
        final steps, that share of targets lies below it (per horizon step and target).

        This is conformalized quantile regression (Romano et al. 2019) with
        one shift per level: the network's intervals, fitted on the training
        span, are corrected on the more recent validation span. The shift
        lives in the model (`ShiftQuantiles` layer "calibration"), in
        standardized changes, and is saved and exported with it.
        """
        layer = self.model.get_layer("calibration")
        layer.shift.assign(np.zeros(layer.shape, dtype="float32"))
        windows = self.data.windows["validation"]
        quantiles = self.predict_windows(windows)["quantiles"].astype("float64")  # (n, H, T, Q)
        layer.shift.assign(forecast_model.calibration_shift(
            quantiles, windows, self.levels, self.config.data.scaling,
            self.preprocessing["target_scale"], self.model_unit_floor()))

    # 5. Evaluation ----------------------------------------------------------------------

    @remember_metrics
    def evaluate(self, backtest=None):
        """Test metrics of the final-step forecast, with the naive baselines.

        Args:
            backtest: if set, also report `backtest` rolling forecast origins
                through the test span, `horizon` steps apart (one model, no
                refit), each with its own metrics, and their mean and spread.

        Returns:
            `{mae, rmse, mape, smape, mase, relative_mae[, coverage,
            interval_width, pinball], baselines: {name: {...}}, [groups:
            {name: {...}},] n_examples, seconds[, backtest, backtest_summary]}`.
        """
        self.prepare()
        metrics = self.score(self.data.windows["test"], self.data.series,
                             self.preprocessing["naive_scale"],
                             self.preprocessing["baseline_residuals"], backtest)
        if self.data.dropped_duplicates:
            metrics["dropped_duplicate_dates"] = self.data.dropped_duplicates
        return metrics

    @timed
    def evaluate_file(self, path, backtest=None):
        """Metrics over a whole other file: a forecast from every origin it allows.

        The file needs the recipe's value and date columns; without the group
        column it is one series. MASE is scaled by each series' own one-step
        naive error, and the baselines' intervals come from their errors on
        the file itself (there is no training span in it).

        Args:
            path: a CSV/TSV/JSONL file (or glob) of the recipe's format.
            backtest: as in `evaluate`, over the file.

        Returns:
            The keys of `evaluate`.
        """
        data = self.config.data
        frame = read_table(path, self.value_columns(), self.group_columns())
        try:
            series = forecast_data.load_series(frame, data, split=False)
        except UserError as error:
            raise forecast_inputs.about(path, error) from None
        try:
            windows = forecast_data.cut_windows(series, "test", data.window, data.horizon,
                                                self.n_targets)
        except UserError:
            longest = max(series, key=lambda one: len(one.values))
            raise UserError(f"{path}: {forecast_data.rows_note(longest)}, too few for "
                            f"window={data.window} + horizon={data.horizon}") from None
        short = list(forecast_data.left_out_series(series, {"test": windows}))
        if short:  # as in training: named on stderr, counted in the metrics
            notice(f"{len(short)} of {len(series)} series in {path} are too short for "
                   f"window={data.window} + horizon={data.horizon} and left out: "
                   f"{', '.join(map(repr, short[:10]))}{', ...' if len(short) > 10 else ''}")
        forecast_data.note_repeated_dates(series, data, f" in {path}")
        naive = {s.name: forecast_scores.naive_scale(s.values[:, :self.n_targets]) for s in series}
        residuals = self.baseline_residuals(windows, self.model_unit_floor())
        metrics = self.score(windows, series, naive, residuals, backtest)
        dropped = sum(s.dropped_duplicates for s in series)
        if dropped:
            metrics["dropped_duplicate_dates"] = dropped
        if short:
            metrics["dropped_short_series"] = len(short)
        return metrics

    def score(self, windows, series, naive_scale, residuals, backtest=None):
        """Metrics of the model and the baselines on `windows` of `series`."""
        if backtest is not None and (isinstance(backtest, bool) or not isinstance(backtest, int)
                                     or backtest < 1):
            raise UserError(f"evaluate: backtest must be a positive integer (forecast origins) "
                            f"or None, got {backtest!r}")
        forecasts = self.forecasts(windows, residuals)
        scale = np.stack([naive_scale[series[i].name] for i in windows.series])[:, None]
        metrics = forecast_scores.all_metrics(windows.future[:, -1], forecasts, scale, self.levels)
        if self.config.data.group_column:
            metrics["groups"] = {
                str(series[index].name): forecast_scores.all_metrics(
                    windows.future[rows, -1], {k: (p[rows], q if q is None else q[rows])
                                               for k, (p, q) in forecasts.items()},
                    scale[rows], self.levels)
                for index in np.unique(windows.series)
                for rows in [windows.series == index]}
        if backtest:
            dates = [s.dates for s in series]
            metrics.update(forecast_scores.backtest(windows, dates, forecasts, scale, self.levels,
                                                    backtest, self.config.data))
        return metrics

    def forecasts(self, windows, residuals):
        """`{"model" or baseline: (point (n, H, T), quantiles (n, H, T, Q) or None)}`, raw units."""
        data = self.config.data
        outputs = self.predict_windows(windows)
        result = {"model": (outputs["forecast"].astype("float64"),
                            outputs["quantiles"].astype("float64") if self.levels else None)}
        units = window_units(windows.history, self.model_unit_floor())[..., :self.n_targets]
        for name, point in baseline_forecasts(windows.history, data.horizon, data.season,
                                              self.n_targets).items():
            result[name] = (point, forecast_scores.baseline_quantiles(
                point, residuals.get(name), data.scaling, units))
        return result

    def predict_windows(self, windows, batch_size=1024):
        """`predict` of the final step of every window, `batch_size` at a time."""
        inputs = self.final_step_inputs(windows)
        parts = [self.predict({k: v[i:i + batch_size] for k, v in inputs.items()})
                 for i in range(0, len(windows.history), batch_size)]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def final_step_inputs(self, windows):
        """The serving inputs of each window's final step, `{name: array}`."""
        inputs = {"history": windows.history.astype("float32"),
                  "future": windows.known[:, -1].astype("float32"),
                  "future_dates": windows.dates[:, -1].astype("int64")}
        return {name: inputs[name] for name in ["history", *self.future_inputs()]}

    def report_rows(self, metrics):
        keys = [k for k in forecast_scores.REPORTED if k in metrics]
        rows = [("model", {k: metrics[k] for k in keys})]
        return rows + [(name, {k: values[k] for k in keys if k in values})
                       for name, values in metrics["baselines"].items()]

    def report_notes(self, metrics):
        return forecast_scores.units_note(self.config.data, self.levels)

    def plot(self, plots_dir, metrics, span=None):
        """`forecast.png`: forecasts over the whole test span (or `span` = `(first, last)`
        origin dates) of up to 4 series, with the interval fan when the model forecasts
        quantiles (see `forecast_scores.plot_forecasts`)."""
        folder = self.plotting_folder(plots_dir)
        forecast_scores.plot_forecasts(self, folder / "forecast.png", span=span)

    def backtest_table(self, metrics):
        """`evaluate(backtest=K)`'s rows and summary as a `pandas.DataFrame`: one row per
        origin and forecaster, then the mean and the spread (standard deviation)."""
        return forecast_scores.backtest_table(metrics)

    # 6. Serving ------------------------------------------------------------------------

    def serving_signature(self):
        data = self.config.data
        window, horizon = data.window, data.horizon
        specs = {"history": tf.TensorSpec([None, window, len(self.columns)], tf.float32,
                                          name="history"),
                 "future": tf.TensorSpec([None, horizon, len(data.future_columns)], tf.float32,
                                         name="future"),
                 "future_dates": tf.TensorSpec([None, horizon], tf.int64, name="future_dates")}
        return {name: specs[name] for name in ["history", *self.future_inputs()]}

    def serve(self, inputs):
        names = list(self.serving_signature())
        forecast = self.model([inputs[n] for n in names] if len(names) > 1 else inputs["history"],
                              training=False)[:, -1]
        if not self.levels:
            return {"forecast": forecast}
        return {"forecast": forecast[..., self.levels.index(0.5)], "quantiles": forecast}

    def checked_inputs(self, inputs):
        """The serving inputs, made to fail the request (`InvalidArgumentError`, core ops)
        where `predict` would refuse them: NaN or infinite values, and values <= 0 for a
        model trained with `data.scaling = "log"` (the forecast would be NaN), and
        `future_dates` outside the dates' range; shapes are checked for every template
        (`serving.checked_shapes`)."""
        checked = dict(inputs)
        if "future_dates" in checked:
            low, high = forecast_data.SECONDS_RANGE
            dates = checked["future_dates"]
            dated = tf.debugging.Assert(
                tf.reduce_all((dates >= low) & (dates <= high)),
                [f"`future_dates` {forecast_data.DATES_ALLOWED}"])
            with tf.control_dependencies([dated]):
                checked["future_dates"] = tf.identity(dates)
        for name in ("history", "future"):
            if name in checked:
                checked[name] = tf.debugging.assert_all_finite(
                    checked[name], f"`{name}` has NaN or infinite values")
        if self.config.data.scaling == "log":
            positive = tf.debugging.Assert(tf.reduce_all(checked["history"] > 0), [
                "`history` must be > 0: this model was trained with data.scaling = log"])
            with tf.control_dependencies([positive]):
                checked["history"] = tf.identity(checked["history"])
        return checked

    def input_list(self, inputs):
        return forecast_inputs.serving_arrays(inputs, self.config.data, self.future_inputs())

    def warmup_inputs(self, count):
        windows = self.data.windows["validation"].take(slice(0, count))
        return self.final_step_inputs(windows)

    def inputs_from_files(self, paths):
        """CLI `predict` inputs, one forecast per series of each file: the last `window`
        rows are the history; with known-future inputs, a series ends with the `horizon`
        rows to forecast (dates and future columns filled, value cells empty)."""
        return self.labelled_inputs_from_files(paths)[0]

    def labelled_inputs_from_files(self, paths):
        """`inputs_from_files` and its labels: `"series"` (where a file has a group column;
        a file without one is named by its path) and `"dates"` (the forecast steps', with
        a date column), as `forecast_inputs.table_inputs` reads them."""
        names = ["history", *self.future_inputs()]
        tables = []
        for path in paths:  # ids as text: `01` and `1` are two series
            frame = read_table(path, text_columns=self.group_columns())
            tables.append((str(path), *forecast_inputs.table_inputs(frame, self.config.data, names,
                                                                    path)))
        inputs = {name: np.concatenate([arrays[name] for _, arrays, _ in tables]) for name in names}
        labels = {}
        if any("series" in table for _, _, table in tables):
            labels["series"] = [name for path, _, table in tables
                                for name in table.get("series", [path])]
        if self.config.data.date_column:
            labels["dates"] = [dates for _, _, table in tables for dates in table["dates"]]
        return inputs, labels

    def predict(self, inputs):
        """Raw inputs -> `{"forecast": ..., ["quantiles": ...]}` (see `Task.predict`); a
        `pandas.DataFrame` is read as a `predict` file: one forecast per series (sorted,
        named in `"series"` with a group column), with the steps' `"dates"`
        `[series, horizon]` (`None` where a history is irregular)."""
        if not isinstance(inputs, pd.DataFrame):
            return super().predict(inputs)
        names = ["history", *self.future_inputs()]
        arrays, labels = forecast_inputs.table_inputs(inputs, self.config.data, names,
                                                      "predict: the data frame")
        return {**{name: np.array(values, dtype=object) for name, values in labels.items()},
                **super().predict(arrays)}


def _positive(scale):
    """A scale with zeros (constant columns) replaced by 1."""
    scale = np.asarray(scale, dtype="float64")
    return np.where(scale > 0, scale, 1.0)
