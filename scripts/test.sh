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
exec .venv/bin/python -m pytest "$@"
