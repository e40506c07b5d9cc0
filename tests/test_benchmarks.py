"""The benchmark scripts run, and say what they cannot do, without a GPU."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    """`benchmarks/<name>.py` as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu = load("gpu")
layer_benchmark = load("layers")


def run_layers_benchmark(*args):
    result = subprocess.run([sys.executable, "benchmarks/layers.py", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_layers_benchmark_row_has_times_ratios_and_memory():
    [skipped, row] = run_layers_benchmark("--shapes", "tiny", "--kinds", "gru", "--steps", "1",
                                          "--rounds", "1", "--max-batch")
    models = {"ours", "ours_precomputed", "cell", "keras"}
    assert set(row["ms_per_step"]) == models and set(row["peak_mb"]) == models
    if row["device"] == "cpu":
        assert row["memory"] == "rss"
    assert all(value >= 0 for value in row["peak_mb"].values())
    assert row["ours_vs_keras"] == pytest.approx(
        row["ms_per_step"]["keras"] / row["ms_per_step"]["ours"], rel=0.02)
    assert skipped["skipped"] == "max_batch" and "no GPU" in skipped["reason"]


def test_layers_benchmark_skips_what_starts_after_its_time_budget():
    rows = run_layers_benchmark("--shapes", "tiny", "--kinds", "gru", "lstm", "--steps", "1",
                                "--rounds", "1", "--time-budget", "0")
    assert rows == [{"skipped": "tiny gru float32", "reason": "time budget"},
                    {"skipped": "tiny lstm float32", "reason": "time budget"}]


def test_distribute_benchmark_trains_on_one_device_and_on_two_logical_cpus(prices_csv):
    sets = {"data.path": prices_csv, "model.units": 4, "data.window": 20, "data.horizon": 3}
    result = subprocess.run([sys.executable, "benchmarks/distribute.py", "--recipes", "price_forecasting",
                             *[x for k, v in sets.items() for x in ("--set", f"{k}={v}")]],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    [row] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert (row["auto"]["replicas"], row["mirrored"]["replicas"]) == (1, 2)
    assert len(row["auto"]["loss"]) == len(row["mirrored"]["loss"]) == 2
    assert row["mirrored_vs_one_device_step_time"] == pytest.approx(
        row["mirrored"]["ms_per_step"] / row["auto"]["ms_per_step"], abs=0.01)


@pytest.mark.parametrize("script, args, message", [
    ("layers", ["--rounds", "0"], "argument --rounds: expected a positive integer"),
    ("parallel", ["--lengths", "100", "0"], "argument --lengths: expected a positive integer"),
])
def test_benchmarks_refuse_counts_below_one(monkeypatch, capsys, script, args, message):
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *args])
    with pytest.raises(SystemExit) as exit:
        load(script).main()
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_held_out_refuses_what_is_not_a_dates_or_captioning_export(monkeypatch, capsys, tmp_path):
    import tensorflow as tf

    held_out = load("held_out")
    classify = tf.function(lambda text: {"label": tf.strings.length(text)},
                           input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(tf.Module(), str(tmp_path / "labels" / "1"),
                        signatures={"serving_default": classify})
    for export, message in [(tmp_path / "labels", "labels is not a SavedModel version folder"),
                            (tmp_path / "labels" / "1", "1 is not a translation or captioning "
                                                        "export (its outputs: label)")]:
        monkeypatch.setattr(sys, "argv", ["held_out.py", str(export)])
        with pytest.raises(SystemExit) as exit:
            held_out.main()
        assert exit.value.code == 2 and message in capsys.readouterr().err


def test_kinds_are_those_whose_layer_exists():
    kinds = layer_benchmark.available_kinds()
    assert {"lstm", "gru", "simple_rnn"} <= set(kinds)
    assert all(hasattr(layer_benchmark.ln, layer_benchmark.KINDS[k][0]) for k in kinds)


@pytest.mark.parametrize("guess, limit, largest, failing, tries", [
    (128, 3000, 2048, 4096, 5),   # guessed low: doubles
    (4096, 3000, 2048, 4096, 4),  # guessed high: bisects the powers of two in between
    (128, 200, 128, 256, 1),      # only the shape's own batch fits
])
def test_largest_batch_search(monkeypatch, guess, limit, largest, failing, tries):
    monkeypatch.setattr(layer_benchmark, "first_guess", lambda trainer, shape: guess)
    monkeypatch.setattr(layer_benchmark, "fits", lambda trainer, size, shape: size <= limit)
    found = layer_benchmark.largest_batch(None, "large", seconds=60)
    assert found == {"largest": largest, "smallest_failing": failing, "tries": tries,
                     "stopped_by": "search"}


def test_gpu_plan_ends_within_nine_minutes():
    """The device's calls run at most 10 minutes; the machine's start-up needs the rest."""
    phases = gpu.plan(["jax", "torch"], ["lstm", "gru"], smoke=False)
    tests = max(seconds for _, _, kind, _, seconds in phases if kind == "tests")
    benchmarks = sum(seconds for _, _, kind, _, seconds in phases if kind != "tests")
    assert {kind for _, _, kind, _, _ in phases} == {"tests", "scan", "benchmark"}
    assert tests + benchmarks <= gpu.TOTAL_SECONDS <= 9 * 60  # budgets; hard limits stop at TOTAL


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_gpu_sh_without_a_gpu_says_so_in_one_line(tmp_path):
    result = subprocess.run(["bash", "benchmarks/gpu.sh", str(tmp_path / "out.json")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no NVIDIA GPU found" in result.stderr
    assert "--cpu-smoke" in result.stderr
    assert "no NVIDIA GPU" in json.loads((tmp_path / "out.json").read_text())["error"]
