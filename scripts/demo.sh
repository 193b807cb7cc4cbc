#!/usr/bin/env bash
# Fresh machine -> the main job on built-in synthetic data: install mmarctl with its CPU
# runtime, clone the spleen scaffold, synthesize CT volumes for it, check, train, validate,
# infer and export. The workspace is ./demo-spleen (removed first if it exists).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[cpu,export]'

mmarctl() { .venv/bin/mmarctl "$@"; }
rm -rf demo-spleen
mmarctl clone spleen demo-spleen
mmarctl data synth demo-spleen/data
mmarctl check demo-spleen
mmarctl train demo-spleen
mmarctl validate demo-spleen
mmarctl infer demo-spleen
mmarctl export demo-spleen
