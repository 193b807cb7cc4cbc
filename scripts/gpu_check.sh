#!/usr/bin/env bash
# The GPU path end to end, on a machine with an NVIDIA GPU, in under 8 minutes:
#   1. training throughput of the spleen scaffold in float32 and float16 (and bfloat16 on
#      compute capability >= 8.0), with the share of the GPU's measured matmul peak;
#   2. Dice of the spleen scaffold trained with and without float16 (same epochs, same seed);
#   3. 2 Horovod workers (NCCL) where there are 2 GPUs or more, training, then validating
#      (the same figures as one process);
#   4. `mmarctl export --format all` including the TensorRT engine, each export verified;
# then one table. Not part of the test suite (CI has no GPU).
#
# Usage:  scripts/gpu_check.sh [--epochs 20] [--cases 12] [--size 64] [--keep DIR]
#         PYTHON=/path/to/python scripts/gpu_check.sh
# Exit:   0 all checks passed, 1 a check failed, 77 no NVIDIA GPU here (one line, nothing run).
set -euo pipefail

# Bash builtins only until the GPU is found, so the no-GPU line needs nothing on PATH.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
ROOT="$(cd "$here/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi lists none): nothing checked"
    exit 77
fi
cd "$ROOT"
exec "$PY" "$ROOT/scripts/gpu_check.py" "$@"
