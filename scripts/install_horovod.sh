#!/usr/bin/env bash
# Build (once, cached under ~/.cache/mmarctl/wheels) and install Horovod 0.28.1 for the
# TensorFlow in this environment. See mmarctl/install_horovod.py for what it patches and why.
# Usage: scripts/install_horovod.sh [PYTHON] [--nccl|--no-nccl] [--mpi] [--rebuild]
#   PYTHON: the interpreter of the environment to install into (default: $PYTHON, else
#   .venv/bin/python, else python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    python="$1"
    shift
fi
[ -x "$python" ] || python="$(command -v python3)"
cd "$here"
exec "$python" -m mmarctl.install_horovod "$@"
