"""Forecasting metrics a reader can trust: pooled and per series, with intervals,
a labelled backtest and a plot of the whole test span.

Every forecaster (the model, and the baselines last value, drift and seasonal
naive) is scored the same way on the final step of each test window:
MAE, RMSE (target units), MAPE, sMAPE (%), MASE (scaled by each series' own
training-span one-step naive error), `relative_mae` (MAE / the last-value
baseline's MAE: below 1 beats it) and, with quantiles, `coverage` (share of
actual values inside the outermost interval), `interval_width` and `pinball`
(target units). The baselines' intervals come from the quantiles of their own
errors on the training windows (differences in each window's unit, so a series
gets intervals of its own scale), so the comparison is fair.
"""

import numpy as np
import pandas as pd

from rnn_tasks.data.windows import with_residuals
from rnn_tasks.errors import UserError
from rnn_tasks.metrics import forecast_metrics, interval_metrics, relative_mae

REPORTED = ("mae", "rmse", "mape", "smape", "mase", "relative_mae", "coverage",
            "interval_width", "pinball")
STYLES = {"model": "tab:red", "last_value": "tab:gray", "drift": "tab:blue",
          "seasonal_naive": "tab:green"}


def baseline_quantiles(point, residuals, mode, units):
    """A baseline's quantile forecasts from its training errors (in window `units`),
    or `None` without them."""
    return None if residuals is None else with_residuals(point, residuals, mode, units)


def naive_scale(targets):
    """MASE's denominator: the mean absolute one-step change of each target.

    Args:
        targets: a series' target values `(N, T)`.

    Returns:
        `(T,)` float64.
    """
    return np.abs(np.diff(targets, axis=0)).mean(axis=0)


def scores(actual, point, quantiles, scale, levels):
    """One forecaster's metrics: `forecast_metrics`, and `interval_metrics` with quantiles."""
    metrics = forecast_metrics(actual, point, scale)
    if levels and quantiles is not None:
        metrics.update(interval_metrics(actual, quantiles, levels))
    return metrics


def all_metrics(actual, forecasts, scale, levels):
    """Metrics of the model with its baselines' beside it.

    Args:
        actual: `(n, H, T)` raw values.
        forecasts: `{"model" or baseline: (point (n, H, T), quantiles (n, H, T, Q) or None)}`.
        scale: MASE's denominators, broadcastable to `actual` (per example: `(n, 1, T)`).
        levels: the quantile levels (empty: no interval metrics).

    Returns:
        `{metric: value, baselines: {name: {metric: value}}, n_examples}`.
    """
    model = scores(actual, *forecasts["model"], scale, levels)
    baselines = {name: scores(actual, *forecast, scale, levels)
                 for name, forecast in forecasts.items() if name != "model"}
    metrics = relative_mae(model, baselines)
    metrics["n_examples"] = int(len(actual))
    return metrics


def origins(windows, horizon, count=None):
    """Per series, its test windows from the last one back, `horizon` apart, oldest first.

    Returns:
        `{series index: window row indices}` (at most `count` each).
    """
    picks = {}
    for index in np.unique(windows.series):
        rows = np.flatnonzero(windows.series == index)[::-1][::horizon][:count]
        picks[int(index)] = rows[::-1]
    return picks


def backtest(windows, dates, forecasts, scale, levels, count, data):
    """Metrics at `count` rolling forecast origins, `horizon` steps apart, ending at
    each series' last window (the series of one origin pooled).

    Args:
        windows: the scored `Windows`.
        dates: each series' dates.
        forecasts, scale, levels: as in `all_metrics`.
        count: how many origins.
        data: the recipe's `[data]` section.

    Returns:
        `{"backtest": [{"origin": date, "model": {...}, baseline: {...}}],
        "backtest_summary": {forecaster: {metric: {"mean", "std"}}}}`.
    """
    horizon, window = data.horizon, data.window
    picks = origins(windows, horizon)
    available = min(len(rows) for rows in picks.values())
    if count > available:
        raise UserError(f"evaluate: a backtest over {count} forecast origins asks for more than "
                        f"the data allows ({available}, {horizon} steps apart)")
    rows = []
    for back in range(count, 0, -1):
        chosen = np.array([series_rows[-back] for series_rows in picks.values()])
        when = sorted({date_text(dates[windows.series[i]][windows.starts[i] + window - 1])
                       for i in chosen})
        metrics = all_metrics(windows.future[chosen, -1],
                              {k: (p[chosen], None if q is None else q[chosen])
                               for k, (p, q) in forecasts.items()}, scale[chosen], levels)
        row = {"origin": when[0] if len(when) == 1 else f"{when[0]} .. {when[-1]}"}
        row["model"] = {k: v for k, v in metrics.items() if k in REPORTED}
        row.update({name: {k: v for k, v in values.items() if k in REPORTED}
                    for name, values in metrics["baselines"].items()})
        rows.append(row)
    return {"backtest": rows, "backtest_summary": summary(rows)}


def date_text(date):
    """`2013-12-31` for a midnight, `2013-12-31 13:30` otherwise, a row number as itself."""
    if not isinstance(date, np.datetime64):
        return str(date)
    stamp = pd.Timestamp(date)
    return stamp.strftime("%Y-%m-%d" if stamp == stamp.normalize() else "%Y-%m-%d %H:%M")


def summary(rows):
    """`{forecaster: {metric: {"mean", "std"}}}` across backtest rows."""
    names = [name for name in rows[0] if name != "origin"]
    return {name: {metric: {"mean": float(np.mean(values)), "std": float(np.std(values))}
                   for metric in rows[0][name]
                   for values in [[row[name][metric] for row in rows]]}
            for name in names}


def backtest_table(metrics):
    """The backtest as a labelled table: one row per origin and forecaster, then each
    forecaster's mean and standard deviation across origins.

    Returns:
        `pandas.DataFrame` with columns `origin`, `forecaster` and the metrics.
    """
    if not isinstance(metrics, dict) or "backtest" not in metrics:
        got = "metrics without one" if isinstance(metrics, dict) else type(metrics).__name__
        raise UserError(f"backtest_table: needs the metrics of evaluate(backtest=K), got {got}")
    records = [{"origin": row["origin"], "forecaster": name, **values}
               for row in metrics["backtest"] for name, values in row.items() if name != "origin"]
    for statistic in ("mean", "std"):
        records += [{"origin": statistic, "forecaster": name,
                     **{metric: value[statistic] for metric, value in values.items()}}
                    for name, values in metrics["backtest_summary"].items()]
    return pd.DataFrame.from_records(records)


def units_note(data, levels):
    """The report's sentence on what each metric measures, and in which units."""
    targets = ", ".join(data.target_columns)
    lines = [f"MAE, RMSE{', interval_width, pinball' if levels else ''} in the units of "
             f"{targets}; MAPE, sMAPE in %; MASE is scaled by each series' one-step naive error "
             "on its training span; relative_mae is MAE / the last-value baseline's MAE "
             "(below 1 beats it)."]
    if levels:
        lines.append(f"coverage: the share of test values inside the {levels[0]:g}-{levels[-1]:g} "
                     f"quantile interval (nominal {levels[-1] - levels[0]:.0%}); the baselines' "
                     "intervals come from their errors on the training windows.")
    return lines


def plot_forecasts(task, path, most=4, span=None):
    """Forecasts from origins `horizon` apart over the test span of up to `most` series,
    the model's interval fan shaded.

    Args:
        task: a fitted or loaded `ForecastingTask` with its data.
        path: the PNG file to write.
        most: how many series (the first ones) to draw.
        span: `(first, last)` forecast origins to draw (dates as text, or row
            numbers without a date column); default: the whole test span.
    """
    from rnn_tasks.templates.run_dir import pyplot

    data = task.config.data
    windows = task.data.windows["test"]
    picks = [(index, _within(task.data.series[index], windows, rows, span, data.window))
             for index, rows in origins(windows, data.horizon).items()]
    picks = [(index, rows) for index, rows in picks if len(rows)][:most]
    if not picks:
        raise UserError(f"plot: no test forecast origin lies within {span}")
    plt = pyplot()
    fig, axes = plt.subplots(len(picks), 1, figsize=(10, 3.2 * len(picks)), squeeze=False)
    for ax, (index, rows) in zip(axes[:, 0], picks):
        _plot_series(task, ax, task.data.series[index], windows.take(rows))
        ax.tick_params(axis="x", labelrotation=20)  # every panel has its own dates
    axes[0, 0].legend(fontsize=8)
    where = "the test span" if span is None else f"{span[0]} .. {span[1]}"
    axes[0, 0].set_title(f"{task.recipe_name}: {data.horizon}-step forecasts over {where}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _within(series, windows, rows, span, window):
    """The `rows` whose forecast origin (last history step) lies in `span` (all without one)."""
    if span is None:
        return rows
    origin = series.dates[windows.starts[rows] + window - 1]
    dated = np.issubdtype(origin.dtype, np.datetime64)
    try:
        first, last = ((np.datetime64(value) if dated else int(value)) for value in span)
    except (TypeError, ValueError):
        expected = "dates such as ('2020-01-01', '2020-03-31')" if dated else "row numbers"
        raise UserError(f"plot: span must be (first, last) forecast origins, {expected}; "
                        f"got {span!r}") from None
    return rows[(origin >= first) & (origin <= last)]


def _plot_series(task, ax, series, windows):
    data = task.config.data
    window, horizon = data.window, data.horizon
    forecasts = task.forecasts(windows, task.preprocessing["baseline_residuals"])
    start = windows.starts[0] + window - 2 * horizon  # a little history before the first origin
    stop = windows.starts[-1] + window + horizon
    start, stop = max(start, series.bounds["test"][0] - window), min(stop, len(series.values))
    ax.plot(series.dates[start:stop], series.values[start:stop, 0], color="black",
            label=f"actual {data.target_columns[0]}")
    for i, first in enumerate(windows.starts + window):
        when = series.dates[first:first + horizon]
        quantiles = forecasts["model"][1]
        if quantiles is not None:
            ax.fill_between(when, quantiles[i, :, 0, 0], quantiles[i, :, 0, -1], color="tab:red",
                            alpha=0.2, linewidth=0,
                            label=(f"model {task.levels[0]:g}-{task.levels[-1]:g}"
                                   if i == 0 else None))
        for name, color in STYLES.items():
            ax.plot(when, forecasts[name][0][i, :, 0], color=color, alpha=0.8,
                    linewidth=1.2 if name == "model" else 0.8,
                    linestyle="-" if name == "model" else "--", label=name if i == 0 else None)
    if series.name is not None:
        ax.set_ylabel(str(series.name))
