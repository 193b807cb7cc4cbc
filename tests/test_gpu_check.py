"""scripts/gpu_check.sh: where no NVIDIA GPU is listed it says so in one line and exits 77
(the GPU path itself runs only on a GPU machine, never in the test suite)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def test_script_parses():
    subprocess.run([BASH, "-n", str(SCRIPT)], check=True)


def test_no_gpu_is_one_line_and_exit_77(tmp_path):
    # An empty PATH: no nvidia-smi, as on a CPU machine (the script needs nothing else there).
    done = subprocess.run([BASH, str(SCRIPT)], capture_output=True, text=True, timeout=30,
                          env={"PATH": str(tmp_path)})
    assert done.returncode == 77
    assert done.stdout == "gpu_check: no NVIDIA GPU here (nvidia-smi lists none): nothing checked\n"
    assert done.stderr == ""


def test_nvidia_smi_listing_nothing_counts_as_no_gpu(tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'No devices were found' >&2\nexit 6\n")
    fake.chmod(0o755)
    done = subprocess.run([BASH, str(SCRIPT), "--epochs", "1"], capture_output=True, text=True,
                          timeout=30, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert done.returncode == 77 and done.stdout.count("\n") == 1
