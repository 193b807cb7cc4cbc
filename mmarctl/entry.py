"""Ctrl-C while the command line loads: one line and exit 130, never an import traceback.

Loading :mod:`mmarctl.cli` (Typer, rich, pydantic and every command module) takes a few
tenths of a second, and that is when a user who spots a typo presses Ctrl-C. A plain
``KeyboardInterrupt`` there prints a page of import traceback, or is swallowed by an
import-lock callback so that the command runs on regardless. :mod:`mmarctl.cli` calls
:func:`hold_interrupts` before its heavy imports and :func:`release_interrupts` after them;
the console script (``mmarctl.cli:main``, already installed in existing environments) thus
gets the guard without a new entry point. A worker under mpirun gets its launcher's stop
signal here too (:mod:`mmarctl.worker_stop`, which, like this module, imports only the
standard library).
"""

from __future__ import annotations

import os
import signal

from mmarctl import worker_stop

#: Same as :data:`mmarctl.errors.ExitCode.INTERRUPTED` (not imported: this module loads nothing).
INTERRUPTED = 130
MESSAGE = "mmarctl: interrupted"

_held = False


def _interrupted_while_loading(signum: int, frame: object) -> None:
    # os._exit: no import machinery or cleanup handler can catch or swallow it, and there is
    # nothing to clean up yet (no command has started, so no file is being written).
    os.write(2, (MESSAGE + "\n").encode())
    os._exit(INTERRUPTED)


def hold_interrupts() -> None:
    """From now until :func:`release_interrupts`, Ctrl-C ends the process at once, cleanly.

    Only Python's default handler is replaced: an inherited ``SIG_IGN`` (``nohup``, a
    background job) stays, and so does a handler someone else installed (a test runner)."""
    global _held
    worker_stop.arm(while_loading=True)  # an mpirun worker's stop request (worker_stop.py)
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _interrupted_while_loading)
            _held = True
    except ValueError:  # not the main thread: signals are not ours to handle
        pass


def release_interrupts() -> None:
    """Give Ctrl-C back to Python (``KeyboardInterrupt``), which the verbs handle themselves."""
    global _held
    if _held and signal.getsignal(signal.SIGINT) is _interrupted_while_loading:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _held = False
    worker_stop.arm()
