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
.venv/bin/python -m pip install -q -e '.[automl,automl-postgres]'
# The mpirun tests (tests/test_mpirun_train.py) need Open MPI and a Horovod built with its MPI
# controller as well as Gloo: install Open MPI from the OS packages where it is missing (root
# with apt), then build the MPI flavour (its own wheel cache key, so a cached Gloo-only wheel
# is not reused). Without mpirun, Horovod is built Gloo-only and those tests skip.
if ! command -v mpirun >/dev/null || ! command -v mpicxx >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get install -y -q openmpi-bin libopenmpi-dev >/dev/null 2>&1 ||
         { apt-get update -q >/dev/null 2>&1 &&
           apt-get install -y -q openmpi-bin libopenmpi-dev >/dev/null 2>&1; }) ||
            echo "test.sh: Open MPI could not be installed; the mpirun tests will skip" >&2
    else
        echo "test.sh: no Open MPI (mpirun, mpicxx); the mpirun tests will skip" >&2
    fi
fi
if command -v mpirun >/dev/null && command -v mpicxx >/dev/null; then
    scripts/install_horovod.sh .venv/bin/python --mpi
else
    scripts/install_horovod.sh .venv/bin/python
fi
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
# The shared-study test runs two `mmarctl automl` against a real PostgreSQL it starts on
# loopback: install the server from the OS packages where it is missing (root with apt).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get install -y -q postgresql >/dev/null 2>&1 ||
         { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q postgresql >/dev/null 2>&1; }) ||
            echo "test.sh: PostgreSQL could not be installed; its automl test will skip" >&2
    else
        echo "test.sh: no PostgreSQL server (initdb); its automl test will skip" >&2
    fi
fi
# The report page test (tests/report/test_validation_report.py) opens eval/report.html in the OS
# Chromium through Playwright (the dev extra); install the browser where it is missing.
if ! command -v chromium >/dev/null && ! [ -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get install -y -q chromium >/dev/null 2>&1 ||
         { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) ||
            echo "test.sh: Chromium could not be installed; the report browser test will skip" >&2
    else
        echo "test.sh: no Chromium; the report browser test will skip" >&2
    fi
fi
# Byte-compile mmarctl and the tests' helpers once: the suite starts hundreds of mmarctl
# processes, and where PYTHONDONTWRITEBYTECODE is set (as in this project's containers)
# each would compile the package from source again (0.35 s of CPU per `mmarctl check`).
.venv/bin/python -m compileall -q -j 0 mmarctl tests >/dev/null
# The suite runs in parallel (pytest-xdist), one worker per CPU up to 4: most tests spend
# their time in one thread (TensorFlow's import, a CLI subprocess, a tiny training step);
# two workers took the tests from 47 to 33 min on a 2-vCPU Zen 1 EPYC (the Horovod and
# automl tests already use both cores). More than 4 mostly add memory (each worker loads
# TensorFlow). MMARCTL_TEST_WORKERS=0 runs it in one process; a -n argument wins.
workers=${MMARCTL_TEST_WORKERS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}
exec .venv/bin/python -m pytest -n "$workers" --dist worksteal "$@"
