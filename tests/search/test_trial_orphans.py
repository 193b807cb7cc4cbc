"""A study killed outright (kill -9, the OOM killer) takes its running trial with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

#: A study process: one worker thread runs a trial (a child that writes its pid and sleeps).
STUDY = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from mmarctl.search.trials import TrialProcess
    from mmarctl.workspace import Workspace
    root = Path(sys.argv[1])
    process = TrialProcess(Workspace(root), "config_train.json", [], gpus=None, threads=1,
                           seed=None)
    process.argv = [sys.executable, "-c",
                    "import os, time; open(%r, 'w').write(str(os.getpid())); time.sleep(120)"
                    % str(root / "child.pid")]
    worker = threading.Thread(target=process.run, daemon=True,
                              args=(lambda *a: False, lambda: False, None))
    worker.start()
    time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not reaped yet by init) counts as stopped.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_trial_started_from_a_worker_thread_stops_when_the_study_is_killed(tmp_path):
    study = subprocess.Popen([sys.executable, "-c", STUDY, str(tmp_path)])
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and study.poll() is None
        time.sleep(0.1)
    child = int(pid_file.read_text())
    try:
        assert _alive(child)
        study.send_signal(signal.SIGKILL)
        study.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the trial trains on as an orphan"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
