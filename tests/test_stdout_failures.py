"""Output that cannot be written: one ``error:`` line and exit 1, never a traceback.

A log on a full disk (``mmarctl check exp > /dev/full`` stands in for it) or a terminal
that cannot show a character must not turn a command into a page of Python frames, nor
into advice about checkpoints that has nothing to do with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


def run(*args: str, stdout=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmarctl", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["schema", "config_train"],
                                  ["train", "--help"], ["clone", "--list"]])
def test_a_full_stdout_is_one_line_about_stdout(args):
    with open("/dev/full", "w") as full:
        done = run(*args, stdout=full)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ("error: cannot write to standard output: no space left on the "
                           "device\n"), done.stderr


def test_a_stdout_without_the_characters_gets_escapes(tmp_path):
    """PYTHONIOENCODING=ascii: clone made the folder, then failed in a traceback (exit 1)."""
    done = subprocess.run([sys.executable, "-m", "mmarctl", "clone", "spleen", "ascii ü"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0, done.stderr
    assert "created ascii \\xfc from scaffold:spleen" in done.stdout
    assert "Traceback" not in done.stderr
