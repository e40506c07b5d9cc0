#!/usr/bin/env bash
# One command for a GPU machine that has JAX and PyTorch but no TensorFlow and
# no internet: installs what the layers need from wheels carried beside this
# script, then runs benchmarks/gpu.py (the layer tests on JAX and PyTorch, the
# layer benchmark against Keras's and PyTorch's cuDNN layers, one JSON file).
#
#   bash benchmarks/gpu.sh --fetch-wheels      # once, where pip reaches PyPI
#   bash benchmarks/gpu.sh [RESULTS.json]      # on the GPU machine, < 9 min
#   bash benchmarks/gpu.sh --cpu-smoke         # anywhere: every step, tiny, on CPU
#
# The results go to RESULTS.json, else $OUT/gpu_results.json when OUT is set,
# else runs/gpu_results.json. TensorFlow is not installed (its wheel is about
# 600 MB): the TensorFlow backend is skipped, and the JSON file says so.
# PYTHON picks the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
wheels=benchmarks/wheels
# keras and what it imports that such a machine may lack, pinned to the
# versions the layers were tested with; the rest (numpy, h5py, rich, ml_dtypes,
# absl, packaging, pytest) comes with JAX and PyTorch images.
pinned="keras==3.15.1 namex==0.1.0 optree==0.20.0"

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    # CPython 3.12 on x86-64 Linux, as on the GPU machines this targets;
    # PY_VERSION=3.11 (say) fetches for another interpreter.
    "$python" -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version "${PY_VERSION:-3.12}" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$wheels" $pinned
    ls -l "$wheels"
    exit 0
fi

# Modules keras needs, as `import name=wheel name`.
missing=$("$python" - <<'EOF'
import importlib.util
needed = {"keras": "keras", "namex": "namex", "optree": "optree", "numpy": "numpy",
          "h5py": "h5py", "rich": "rich", "ml_dtypes": "ml-dtypes", "absl": "absl-py",
          "packaging": "packaging", "pytest": "pytest"}
print(" ".join(wheel for module, wheel in needed.items()
               if importlib.util.find_spec(module) is None))
EOF
)
if [[ -n "$missing" ]]; then
    site="${TMPDIR:-/tmp}/rnn_tasks_site"
    echo "gpu.sh: installing $missing from $wheels into $site" >&2
    if ! "$python" -m pip install --quiet --no-index --no-deps --no-compile --upgrade \
            --find-links "$wheels" --target "$site" $missing; then
        echo "gpu.sh: $wheels lacks a wheel for: $missing (run 'bash benchmarks/gpu.sh" \
             "--fetch-wheels' where pip reaches PyPI, and bring $wheels along)" >&2
        exit 2
    fi
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
# The repository itself, not an installed copy: the layers need no install.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" benchmarks/gpu.py "$@"
