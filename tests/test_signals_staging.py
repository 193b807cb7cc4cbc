"""SIGTERM and SIGHUP during init / clone / data synth: the hidden staging folder is removed
as on Ctrl-C, and one left by a process that died anyway goes with the next staging."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmarctl.staging import Terminated, remove_dead_stagings, staged_directory

needs_signals = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")


@pytest.fixture
def default_handlers():
    """SIGTERM and SIGHUP at their defaults for the test (as in a fresh mmarctl process),
    whatever the test runner was started with; put back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for s in saved:
        signal.signal(s, signal.SIG_DFL)
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


#: Run in a child Python, so that a staging that does not handle the signal kills the
#: child, not the test run.
_STAGE_AND_SIGNAL = """
import json, os, signal, sys, time
from pathlib import Path
from mmarctl.staging import staged_directory
signum = int(sys.argv[2])
for s in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_DFL)  # as in a fresh mmarctl process
try:
    with staged_directory(Path(sys.argv[1]) / "made" / "new") as tmp:
        (tmp / "half.txt").write_text("x")
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises before this ends
except KeyboardInterrupt as stopped:
    print(json.dumps({"type": type(stopped).__name__, "exit_code": stopped.exit_code,
                      "restored": signal.getsignal(signum) == signal.SIG_DFL}))
"""


@needs_signals
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_removes_the_staging_folder_and_says_which(tmp_path, signum):
    done = subprocess.run([sys.executable, "-c", _STAGE_AND_SIGNAL, str(tmp_path), str(signum)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    # A KeyboardInterrupt (the CLI's Ctrl-C path handles it) that knows the shell's code:
    # 143 for SIGTERM, 129 for SIGHUP; the previous handlers are back.
    assert json.loads(done.stdout) == {"type": "Terminated", "exit_code": 128 + signum,
                                       "restored": True}
    assert list(tmp_path.iterdir()) == []  # no .new.*.partial, no created parent


@needs_signals
def test_ignored_signal_stays_ignored(tmp_path, default_handlers):
    """Under nohup SIGHUP is ignored: staging must not turn it back on."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with staged_directory(tmp_path / "new") as tmp:
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGHUP)
        (tmp / "f").write_text("x")
    assert (tmp_path / "new" / "f").is_file()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stagings_of_dead_processes_are_removed_by_the_next_one(tmp_path):
    host = socket.gethostname().split(".")[0]
    dead, alive = _dead_pid(), os.getppid()
    leftovers = {
        "dead": tmp_path / f".old.{host}-{dead}.abcd1234.partial",
        "alive": tmp_path / f".busy.{host}-{alive}.abcd1234.partial",
        "elsewhere": tmp_path / f".nfs.otherhost9-{dead}.abcd1234.partial",
        "legacy": tmp_path / ".st2.yxflejsa.partial",  # no pid: cannot tell, kept
    }
    for folder in leftovers.values():
        folder.mkdir()
        (folder / "case.nii.gz").write_text("x")
    with staged_directory(tmp_path / "new") as tmp:
        assert remove_dead_stagings(tmp_path) == []  # already gone; our own is kept
        assert tmp.is_dir()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers["dead"].name not in names
    assert names == sorted([leftovers["alive"].name, leftovers["elsewhere"].name,
                            leftovers["legacy"].name, "new"])


@needs_signals
def test_sigterm_during_data_synth_leaves_nothing(tmp_path):
    """The real command, killed the way `timeout` or a job scheduler does."""
    mmarctl = Path(sys.executable).with_name("mmarctl")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([str(mmarctl), "data", "synth", "d", "--cases", "40", "--size", "48"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, restore_signals=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".partial") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "no staging folder seen"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    # 130 while the CLI reports every interrupt as Ctrl-C; 143 once it tells SIGTERM apart.
    assert proc.returncode in (130, 143), (proc.returncode, lines[-5:])
    assert lines[-1].startswith("mmarctl: ") and "Traceback" not in err.decode()
    assert list(tmp_path.iterdir()) == []
