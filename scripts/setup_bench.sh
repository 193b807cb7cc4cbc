#!/usr/bin/env bash
# Set up the side-by-side benchmarks (benchmarks/monai): PyTorch (CPU build) and MONAI,
# installed into the project venv next to mmarctl's TensorFlow runtime, so that one
# process can run both tools on the same data.
#
# Usage:  scripts/setup_bench.sh            # into ./.venv (the project venv)
#         VENV=/path/to/venv scripts/setup_bench.sh
#
# Then:   .venv/bin/python -m benchmarks.monai            # the whole table (~10 min on 2 cores)
#         .venv/bin/python -m benchmarks.monai --help     # rows, sizes, JSON output
#         .venv/bin/pytest tests/test_monai_parity.py     # Dice / sliding-window parity
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
TORCH_VERSION="2.13.0"

if [[ ! -x "$PY" ]]; then
    echo "setup_bench: no Python at $PY (create the project venv first, or set VENV=...)" >&2
    exit 1
fi

# 1. torch first, pinned and CPU-only. On the project machines pip's find-links (/opt/wheels)
#    holds torch-2.13.0+cpu, which pip prefers. Elsewhere, pass PyTorch's CPU wheel index in
#    TORCH_PIP_ARGS (e.g. TORCH_PIP_ARGS="--index-url <PyTorch CPU index>"). Installing torch
#    first means the monai step below finds its requirement met and never fetches a CUDA wheel;
#    the check after it refuses a CUDA build.
"$PY" -m pip install "torch==${TORCH_VERSION}" ${TORCH_PIP_ARGS:-}
"$PY" - <<PYEOF
import torch
v = torch.__version__
assert v.startswith("${TORCH_VERSION}"), f"expected torch ${TORCH_VERSION}, got {v}"
assert torch.version.cuda is None, f"a CUDA build of torch was installed ({torch.version.cuda}); want the CPU build"
PYEOF

# 2. MONAI (core only: no extras), with torch held at the version just installed.
"$PY" -m pip install -r "$ROOT/benchmarks/requirements-monai.txt" "torch==${TORCH_VERSION}"

# 3. Both stacks import in one process.
"$PY" - <<'PYEOF'
import monai, torch
import tensorflow as tf
print(f"setup_bench: torch {torch.__version__} (CPU), MONAI {monai.__version__}, TensorFlow {tf.__version__}")
PYEOF
