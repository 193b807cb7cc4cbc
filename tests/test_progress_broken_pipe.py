"""Progress lines to a pipe whose reader went away: the work goes on (not "failed")."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys, time
from mmarctl.console import Progress
with Progress("train", 50, enabled=True, log_every_s=0) as bar:
    for i in range(50):
        bar.update(1, loss=0.5)
open(sys.argv[1], "w").write("done")
"""


def test_progress_to_a_closed_pipe_lets_the_work_finish(tmp_path):
    read, write = os.pipe()
    os.close(read)  # the reader (`| head -4`) is gone before the first line
    marker = tmp_path / "done"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(marker)], stderr=write,
                            stdout=subprocess.DEVNULL, timeout=60)
    os.close(write)
    assert result.returncode == 0
    assert marker.read_text() == "done"


def _closed_pipe_run(args, tmp_path):
    """``mmarctl ARGS 2>&1 | head -0``: stdout and stderr into a pipe whose reader is gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "mmarctl", *args], stdout=write,
                              stderr=write, timeout=300, cwd=tmp_path)
    finally:
        os.close(write)


def test_a_verb_whose_work_is_files_finishes_when_its_reader_is_gone(tmp_path):
    # data synth, like train/validate/infer/export/automl: the output ends, not the work.
    subprocess.run([sys.executable, "-m", "mmarctl", "clone", "spleen", "ws"], cwd=tmp_path,
                   check=True, capture_output=True, timeout=120)
    done = _closed_pipe_run(["data", "synth", "ws", "--cases", "2", "--size", "16"], tmp_path)
    assert done.returncode == 0
    assert len(list((tmp_path / "ws" / "data" / "imagesTr").iterdir())) == 2


def test_a_verb_whose_work_is_output_ends_as_a_unix_tool_does(tmp_path):
    assert _closed_pipe_run(["clone", "--list"], tmp_path).returncode == 141
