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
