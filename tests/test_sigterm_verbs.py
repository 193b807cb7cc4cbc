"""SIGTERM and SIGHUP end every verb the way Ctrl-C does: cleanup, one line, exit 130.

Without a handler either signal ends the process on the spot, skipping every ``finally``
(an export's staging folder, a lock file's holder line) and printing nothing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

VERB = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from mmarctl.cli import app, main

    MARKER = Path(sys.argv[2])

    @app.command("sleepy")
    def sleepy() -> None:
        try:
            os.kill(os.getpid(), signal.{sig})
            time.sleep(10)
            print("not stopped")
        finally:
            MARKER.write_text("cleaned up")

    sys.argv = ["mmarctl", "sleepy"]
    main()
""")


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_terminating_signal_unwinds_a_verb(sig, tmp_path):
    marker = tmp_path / "marker"
    done = subprocess.run([sys.executable, "-c", VERB.format(sig=sig), "x", str(marker)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "mmarctl: interrupted"
    assert "not stopped" not in done.stdout
    assert marker.read_text() == "cleaned up"


def test_an_ignored_sighup_stays_ignored(tmp_path):
    marker = tmp_path / "marker"
    script = VERB.format(sig="SIGHUP").replace("time.sleep(10)", "time.sleep(0.5)")
    done = subprocess.run([sys.executable, "-c", script, "x", str(marker)],
                          capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert done.returncode == 0, done.stderr
    assert "not stopped" in done.stdout
