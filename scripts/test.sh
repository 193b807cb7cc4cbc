#!/usr/bin/env bash
# Fresh machine -> the whole test suite: make .venv, install mmarctl with its CPU runtime,
# export and test extras, build Horovod against the installed TensorFlow (cached after the
# first build), then run pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[cpu,export,dev]'
scripts/install_horovod.sh .venv/bin/python
# The MONAI parity tests (tests/test_monai_*parity.py) need torch's CPU build and MONAI. Install
# them only where pip finds that torch wheel without an index (a local find-links folder);
# elsewhere the tests skip, rather than pull a multi-GB CUDA torch from PyPI.
if .venv/bin/python -c "import torch, monai" 2>/dev/null; then
    :  # already set up
elif .venv/bin/python -m pip install -q --no-index --no-deps "torch==2.13.0" 2>/dev/null; then
    scripts/setup_bench.sh >/dev/null || echo "test.sh: MONAI set-up failed; its parity tests will skip" >&2
else
    echo "test.sh: no local torch 2.13.0 CPU wheel; the MONAI parity tests will skip" >&2
fi
exec .venv/bin/python -m pytest "$@"
