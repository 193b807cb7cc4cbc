"""An mpirun worker takes its launcher's SIGUSR2 as Ctrl-C and, stopped so, exits 0.

Each case runs in a fresh interpreter: the signal handlers and the module's stop flag are
process-wide, and pytest's own process must keep its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from mmarctl import worker_stop

pytestmark = pytest.mark.skipif(worker_stop.STOP_SIGNAL is None, reason="no SIGUSR2 here")

MPIRUN_WORKER = {"MMARCTL_WORKER": "1", "MMARCTL_LAUNCHER": "mpirun"}


def _run(script: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMARCTL_")}
    env.update(extra_env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env, expected", [
    (MPIRUN_WORKER, True),
    ({"MMARCTL_WORKER": "1", "MMARCTL_LAUNCHER": "gloo"}, False),  # horovodrun sends SIGTERM
    ({"MMARCTL_LAUNCHER": "mpirun"}, False),                        # not a worker
    ({}, False),
])
def test_only_an_mpirun_worker_is_armed(env, expected):
    from mmarctl import launcher

    # the variables the launcher sets (worker_stop spells them itself: it loads first)
    assert (launcher.WORKER_ENV, launcher.LAUNCHER_ENV) == ("MMARCTL_WORKER", "MMARCTL_LAUNCHER")
    assert worker_stop.is_mpirun_worker(env) is expected


def test_the_stop_signal_of_an_armed_worker_is_a_ctrl_c_that_exits_0_silently():
    """The verbs' boundary (mmarctl.cli) turns it into exit 0 with nothing said: the
    launching mmarctl reports the stop. A second copy does not cut the save short."""
    run = _run("""
        import os, signal, sys, time
        from mmarctl import cli, worker_stop   # loading mmarctl.cli arms it (mmarctl.entry)
        assert worker_stop.armed()
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(30)
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGUSR2)   # ignored: the first one is being handled
            time.sleep(0.2)
            print("saved")
            sys.exit(cli._interrupted_exit_code())
        """, MPIRUN_WORKER)
    assert (run.returncode, run.stdout, run.stderr) == (0, "saved\n", "")


def test_a_ctrl_c_is_still_an_interruption_in_an_mpirun_worker():
    run = _run("""
        import os, signal, sys, time
        from mmarctl import cli
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)
        except KeyboardInterrupt:
            sys.exit(cli._interrupted_exit_code())
        """, MPIRUN_WORKER)
    assert (run.returncode, run.stderr) == (130, "mmarctl: interrupted\n")


def test_elsewhere_the_signal_keeps_its_default():
    run = _run("""
        import signal
        from mmarctl import cli, worker_stop
        assert not worker_stop.armed()
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
        print("default")
        """, {"MMARCTL_WORKER": "1", "MMARCTL_LAUNCHER": "gloo"})
    assert (run.returncode, run.stdout) == (0, "default\n"), run.stderr


def test_while_the_command_line_loads_the_worker_exits_0_at_once():
    run = _run("""
        import os, signal, time
        from mmarctl import entry
        entry.hold_interrupts()
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(30)
        print("not stopped")
        """, MPIRUN_WORKER)
    assert (run.returncode, run.stdout) == (0, ""), run.stderr


def test_an_epochs_records_are_written_whole_before_the_stop():
    """interrupts_held holds the stop signal too, and the stop it raises afterwards is
    still the launcher's (exit 0)."""
    run = _run("""
        import os, signal, sys
        from mmarctl import cli, worker_stop
        from mmarctl.runtime.interrupts import interrupts_held
        try:
            with interrupts_held():
                os.kill(os.getpid(), signal.SIGUSR2)
                print("records written")
        except KeyboardInterrupt:
            assert worker_stop.stopped()
            sys.exit(cli._interrupted_exit_code())
        print("not stopped")
        """, MPIRUN_WORKER)
    assert (run.returncode, run.stdout, run.stderr) == (0, "records written\n", "")


def test_after_the_stop_a_collective_its_peers_left_is_no_failure():
    """The stop can reach a rank inside a collective: the others, stopped between steps,
    leave it, and it fails (a peer failure, with the interrupt in pybind11's words). That is
    the stop too; a failure of the rank's own (a full disk while it saves) is not."""
    run = _run("""
        import errno, os, signal, time
        from mmarctl import cli
        left = RuntimeError("pybind11::error_already_set: MISMATCH of original and normalized "
                            "active exception types: ORIGINAL UnknownError REPLACED BY "
                            "KeyboardInterrupt: <EMPTY MESSAGE>")
        full = OSError(errno.ENOSPC, "No space left on device")
        before = cli._disguised_interrupt(left)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(30)
        except KeyboardInterrupt:
            pass
        print(before, cli._disguised_interrupt(left), cli._disguised_interrupt(full))
        """, MPIRUN_WORKER)
    assert (run.returncode, run.stdout) == (0, "False True False\n"), run.stderr
