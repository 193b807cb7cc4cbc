"""SIGUSR2: how a launching mmarctl tells its workers under mpirun to stop and save, at once.

Open MPI's mpirun takes SIGINT and SIGTERM as an abort: it sends the ranks SIGCONT, then
SIGTERM only ``odls_base_sigkill_timeout`` seconds later and SIGKILL as long after that, so
workers would hear of a Ctrl-C seconds late. SIGUSR1 and SIGUSR2 it forwards to every rank of
the job at once, on every host (``mpirun: Forwarding signal 12 to job``). So on the first
Ctrl-C (or SIGTERM, SIGHUP) :func:`mmarctl.launcher.launch` sends mpirun :data:`STOP_SIGNAL`,
and a worker started by mpirun takes that signal as Ctrl-C: ``KeyboardInterrupt``, on which
rank 0 saves ``models/resume``.

A worker stopped this way exits 0, not 130: mpirun counts any other exit as a failure and then
aborts the job with the same two waits, although every rank has already stopped. The stop is
not lost: the launching mmarctl asked for it and reports it (``mmarctl: interrupted``, 130).

Only the standard library is imported here: :mod:`mmarctl.entry` arms the signal before the
command line loads.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

#: What mpirun forwards to every rank at once (None where the platform has no SIGUSR2).
STOP_SIGNAL = getattr(signal, "SIGUSR2", None)
#: :data:`mmarctl.launcher.LAUNCHER_ENV` and :data:`mmarctl.launcher.WORKER_ENV` (not imported:
#: this module loads before anything else).
_LAUNCHER_ENV = "MMARCTL_LAUNCHER"
_WORKER_ENV = "MMARCTL_WORKER"

_armed = False
_stopped = False


def is_mpirun_worker(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is a worker that ``mmarctl ... --launcher mpirun`` started."""
    env = os.environ if environ is None else environ
    return env.get(_WORKER_ENV) == "1" and env.get(_LAUNCHER_ENV) == "mpirun"


def arm(*, while_loading: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """In an mpirun worker, make :data:`STOP_SIGNAL` stop the process; elsewhere leave it
    alone. Returns whether it is armed.

    Args:
        while_loading: the command line is still being imported (:mod:`mmarctl.entry`): the
            process exits 0 at once, as nothing has been written yet; later calls make it a
            ``KeyboardInterrupt``, which the verbs handle.
        environ: the environment to read (default ``os.environ``).
    """
    global _armed
    if STOP_SIGNAL is None or not is_mpirun_worker(environ):
        return False
    try:
        signal.signal(STOP_SIGNAL, _exit_while_loading if while_loading else _stop)
    except ValueError:  # not the main thread: signals are not ours to handle
        return False
    _armed = True
    return True


def armed() -> bool:
    """Whether :data:`STOP_SIGNAL` is this process's stop request (see :func:`arm`)."""
    return _armed


def note_stop() -> None:
    """Record a stop request that someone else caught: :func:`mmarctl.runtime.interrupts.
    interrupts_held` holds the signal while an epoch's records are written."""
    global _stopped
    _stopped = True


def stopped() -> bool:
    """Whether the launcher asked this worker to stop."""
    return _stopped


def _stop(signum: int, frame: object) -> None:
    if _stopped:
        return  # once: a second copy must not cut short the save the first one started
    note_stop()
    raise KeyboardInterrupt


def _exit_while_loading(signum: int, frame: object) -> None:
    # os._exit: no import machinery can swallow it, and no file is being written yet.
    os._exit(0)
