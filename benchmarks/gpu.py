"""One command for a GPU: the layer tests and benchmark on JAX and PyTorch, one JSON file.

Run through `bash benchmarks/gpu.sh`, which first installs keras from wheels
carried beside it. Each phase runs in its own process under a time limit, so
the whole run ends within about 9 minutes:

1. the layer tests (`LAYER_TESTS`) on JAX and on PyTorch, both at once (small
   tensors: they share the GPU), with TF32 off (`NVIDIA_TF32_OVERRIDE=0`,
   JAX's matmul precision `highest`) so the float32 tolerances hold;
2. `benchmarks/parallel.py` on JAX, then on PyTorch: the parallel-scan layers
   against the loops over time at T = 1000, 100 and 10000 (B=32, D=64, U=128;
   the target is `mingru_vs_gru` >= 5 at T = 1000); each length is one
   JSON row, and the rows a phase printed before its hard limit are kept;
3. `benchmarks/layers.py` on JAX, then on PyTorch, alone on the GPU:
   - float32 rows at the large shape (B=128 T=200 D=256 U=512, the shape of
     the H200 reference figures), then the small one, for LSTM, GRU and
     every other kind `rnn_tasks.layers` has (but SimpleRNN): ours, Keras's
     layer (cuDNN), our cell in `keras.layers.RNN`, and on PyTorch
     `nn.LSTM`/`nn.GRU` (cuDNN);
   - `mixed_bfloat16` and `mixed_float16` rows at the large shape;
   - the largest batch that trains, ours against Keras's, in float32 and
     `mixed_bfloat16`.
   Each phase has a time budget; rows that would start after it are listed
   as skipped, and a phase past its hard limit is stopped, its rows kept.

TensorFlow is not run (its wheel cannot travel with the repository). The
JSON file holds the machine (GPU, driver, package versions), every phase's
command, exit status, seconds and last output lines, every benchmark row,
and what was skipped and why.

    bash benchmarks/gpu.sh                     # -> $OUT/gpu_results.json or runs/gpu_results.json
    bash benchmarks/gpu.sh results.json --backends jax
    bash benchmarks/gpu.sh --cpu-smoke         # no GPU needed: tiny shape, a few tests, on CPU
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHORS_H200_MS = {  # reference figures: one H200, B=128 T=200 D=256 U=512, ms per training step
    "keras_lstm_on_jax": 11.4, "layer_norm_lstm_cell_on_jax": 28.2, "torch_cudnn_lstm": 8.0}
PARALLEL_KINDS = ("mingru", "gru", "minlstm", "lstm", "mingru_no_scan")  # parallel.py's rows
TOTAL_SECONDS = 540  # the phases' hard limits never run past this (9 minutes, less start-up)


def plan(backends, kinds, smoke):
    """The phases: `(name, backend, kind of phase, argument list, seconds)`.

    `seconds` is a test phase's hard limit, or a benchmark phase's time budget
    (`--time-budget`; its hard limit is 60 s more).
    """
    if smoke:
        tests = ["-k", "matches_numpy or config_round_trip"]
        rows = ["--shapes", "tiny", "--kinds", *kinds[:2], "--steps", "2", "--rounds", "1"]
        mixed = ["--shapes", "tiny", "--kinds", kinds[0], "--policies", "mixed_bfloat16",
                 "--max-batch", "float32", "--steps", "2", "--rounds", "1"]
        scan = ["--lengths", "20", "--kinds", "mingru", "gru", "--steps", "1", "--rounds", "1"]
        budgets = {"tests": 240, "scan": 60, "rows": 30, "mixed": 20}
    else:
        tests = []
        rows = ["--shapes", "large", "small", "--kinds", *kinds, "--steps", "10", "--rounds", "3"]
        mixed = ["--shapes", "large", "--kinds", *[k for k in ("lstm", "gru") if k in kinds],
                 "--policies", "mixed_bfloat16", "mixed_float16",
                 "--max-batch", "float32", "mixed_bfloat16", "--max-batch-seconds", "20",
                 "--steps", "10", "--rounds", "3"]
        scan = ["--lengths", "1000", "100", "10000", "--kinds", *PARALLEL_KINDS,
                "--steps", "5", "--rounds", "3"]
        budgets = {"tests": 120, "scan": {"jax": 60, "torch": 45},
                   "rows": {"jax": 80, "torch": 50}, "mixed": {"jax": 60, "torch": 40}}
    phases = [(f"tests {b}", b, "tests", tests, budgets["tests"]) for b in backends]
    phases += [(f"benchmark scan {b}", b, "scan", scan,
                budgets["scan"] if smoke else budgets["scan"][b]) for b in backends]
    for backend in backends:
        for name, args in (("rows", rows), ("mixed", mixed)):
            budget = budgets[name] if smoke else budgets[name][backend]
            phases.append((f"benchmark {name} {backend}", backend, "benchmark", args, budget))
    return phases



def base_environment(**extra):
    """This process's environment, the repository first on PYTHONPATH, and `extra`."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def environment(backend, kind, smoke):
    """Environment variables of a phase's process."""
    env = base_environment(KERAS_BACKEND=backend)
    if smoke:  # a CPU run, even where a GPU is present
        env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    if kind == "tests":
        # Two test processes share the GPU; TF32 off so float32 tolerances hold.
        env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false", NVIDIA_TF32_OVERRIDE="0",
                   JAX_DEFAULT_MATMUL_PRECISION="highest")
    else:
        # JAX's allocator pool (the largest batch is measured inside it), and a
        # compilation cache, so measuring a step's memory does not compile it again.
        cache = Path(tempfile.gettempdir()) / "rnn_tasks_jax_cache"
        env.update(XLA_PYTHON_CLIENT_MEM_FRACTION="0.9", JAX_COMPILATION_CACHE_DIR=str(cache),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return env


LAYER_TESTS = ("tests/test_layers.py", "tests/test_parallel_layers.py")


def command(kind, args, budget):
    if kind == "tests":
        files = [name for name in LAYER_TESTS if (ROOT / name).exists()]
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, *args]
    if kind == "scan":  # no budget of its own: stopped at its hard limit, its rows kept
        return [sys.executable, "benchmarks/parallel.py", *args]
    return [sys.executable, "benchmarks/layers.py", *args, "--time-budget", str(budget)]


def start(name, backend, kind, args, budget, smoke, logs):
    """Starts a phase in its own process group; returns its record and process."""
    cmd = command(kind, args, budget)
    log = open(logs / f"{name.replace(' ', '_')}.log", "w+")
    process = subprocess.Popen(cmd, cwd=ROOT, env=environment(backend, kind, smoke),
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    limit = budget if kind in ("tests", "scan") else budget + 60
    record = {"name": name, "backend": backend, "command": " ".join(cmd[1:]),
              "limit_seconds": limit, "started": time.monotonic()}
    print(f"gpu.sh: {name} started (limit {limit} s)", file=sys.stderr, flush=True)
    return record, process, log


def finish(record, process, log, deadline):
    """Waits for a phase until its limit or `deadline`; returns its record and benchmark rows."""
    limit = min(record["started"] + record["limit_seconds"], deadline)
    try:
        process.wait(timeout=max(1.0, limit - time.monotonic()))
        record["timed_out"] = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the children go too
        process.wait()
        record["timed_out"] = True
    record["returncode"] = process.returncode
    record["seconds"] = round(time.monotonic() - record.pop("started"), 1)
    log.seek(0)
    lines = log.read().splitlines()
    log.close()
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    text = [line for line in lines if not line.startswith("{")]
    record["output_tail"] = text[-15:]
    if "tests" in record["name"]:
        record["summary"] = next((line for line in reversed(text)
                                  if " passed" in line or " failed" in line or "error" in line),
                                 None)
    print(f"gpu.sh: {record['name']} ended: rc={record['returncode']}"
          f"{' (stopped at its limit)' if record['timed_out'] else ''}, "
          f"{record['seconds']} s, {sum('skipped' not in row for row in rows)} rows",
          file=sys.stderr, flush=True)
    return record, rows


def gpu_line():
    """nvidia-smi's line for each GPU (name, memory, driver), or `None` without one."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    result = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version",
                             "--format=csv,noheader"], capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    return lines if result.returncode == 0 and lines else None


PACKAGES = """
import importlib, json
out = {}
for name in ("keras", "jax", "jaxlib", "torch", "numpy", "tensorflow"):
    try:
        out[name] = importlib.import_module(name).__version__
    except Exception:
        out[name] = None
if out["jax"]:
    import jax
    out["jax_backend"] = jax.default_backend()
if out["torch"]:
    import torch
    out["torch_cuda"] = torch.cuda.is_available()
print(json.dumps(out))
"""


def packages(smoke):
    """Versions of keras, JAX, PyTorch, NumPy, TensorFlow, and whether JAX and PyTorch see the GPU."""
    result = subprocess.run([sys.executable, "-c", PACKAGES], capture_output=True, text=True,
                            env=environment("jax", "tests", smoke), cwd=ROOT, timeout=120)
    return json.loads(result.stdout.splitlines()[-1]) if result.returncode == 0 else {}


def run_phases(phases, smoke, deadline, result):
    """Runs the test phases together, then the benchmark phases one by one, into `result`."""
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        tests = [start(*phase, smoke, logs) for phase in phases if phase[2] == "tests"]
        for running in tests:
            result["phases"].append(finish(*running, deadline)[0])
        for phase in (phase for phase in phases if phase[2] != "tests"):
            if time.monotonic() > deadline - 30:
                result["skipped"].append(f"{phase[0]}: no time left")
                continue
            record, rows = finish(*start(*phase, smoke, logs), deadline)
            result["phases"].append(record)
            result["rows"] += [row for row in rows if "skipped" not in row]
            result["skipped"] += [f"{row['skipped']}: {row['reason']}"
                                  for row in rows if "skipped" in row]


def default_output():
    return Path(os.environ["OUT"]) / "gpu_results.json" if os.environ.get("OUT") \
        else ROOT / "runs" / "gpu_results.json"


def kinds_available(backend):
    """The benchmark's default kinds: those `rnn_tasks.layers` has, SimpleRNN aside.

    Asked of `benchmarks/layers.py` in a process of its own that sees no GPU,
    so that this one never holds GPU memory the phases need.
    """
    code = ("import layers; "
            "print(' '.join(k for k in layers.available_kinds() if k != 'simple_rnn'))")
    env = base_environment(KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=ROOT / "benchmarks", timeout=120)
    if result.returncode != 0:
        return ["lstm", "gru"]
    return result.stdout.split()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=None,
                        help="JSON file (default: $OUT/gpu_results.json, else runs/gpu_results.json)")
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    parser.add_argument("--kinds", nargs="+", default=None,
                        help="layer kinds (default: every kind rnn_tasks.layers has but simple_rnn)")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="check this script on a CPU: tiny shape, a few tests")
    args = parser.parse_args()
    output = args.output or default_output()
    begun = time.monotonic()
    deadline = begun + TOTAL_SECONDS
    result = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cpu_smoke": args.cpu_smoke, "machine": {"python": platform.python_version(),
                                                       "gpu": gpu_line()},
              "anchors_h200_ms": ANCHORS_H200_MS, "skipped": [], "phases": [], "rows": []}
    output.parent.mkdir(parents=True, exist_ok=True)
    if not result["machine"]["gpu"] and not args.cpu_smoke:
        error = ("no NVIDIA GPU found (nvidia-smi is missing or lists none); "
                 "`bash benchmarks/gpu.sh --cpu-smoke` runs every step on a CPU instead")
        print(f"gpu.sh: {error}", file=sys.stderr)
        output.write_text(json.dumps({**result, "error": error}, indent=1) + "\n")
        return 2
    found = result["machine"]["packages"] = packages(args.cpu_smoke)
    backends = [b for b in args.backends if found.get(b)]
    result["skipped"] += [f"{b} backend: {b} is not installed" for b in args.backends
                          if b not in backends]
    result["skipped"].append("tensorflow backend: " + (
        "not run here (JAX and PyTorch only)" if found.get("tensorflow") else
        "TensorFlow is not installed (its wheel is too large to carry along)"))
    if not args.cpu_smoke:
        result["warnings"] = [line for line, bad in (
            ("JAX sees no GPU: its rows ran on the CPU", "jax" in backends
             and found.get("jax_backend") != "gpu"),
            ("PyTorch sees no GPU: its rows ran on the CPU", "torch" in backends
             and not found.get("torch_cuda"))) if bad]
    kinds = args.kinds or (kinds_available(backends[0]) if backends else [])
    run_phases(plan(backends, kinds, args.cpu_smoke), args.cpu_smoke, deadline, result)
    result["seconds"] = round(time.monotonic() - begun, 1)
    output.write_text(json.dumps(result, indent=1) + "\n")
    failed = [p["name"] for p in result["phases"] if p["returncode"] != 0]
    print(f"gpu.sh: wrote {output} ({len(result['rows'])} rows, {result['seconds']} s"
          f"{', failed: ' + ', '.join(failed) if failed else ''})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
