"""Holding Ctrl-C / SIGTERM / SIGHUP back while a set of files that belong together is written.

Training's epoch bookkeeping and validate's tables plus report page use it. An epoch counts
as finished once its bookkeeping has run: the history line, the learning curves, the
checkpoint of a run without validation. An interrupt that lands in the middle of it would
leave ``training_summary.json`` saying the epoch finished while
``metrics_history.jsonl`` has no line for it, and ``--resume`` would skip the epoch in the
record. Inside :func:`interrupts_held` such a signal is noted and raised as
``KeyboardInterrupt`` when the block ends, so the epoch's records are all written or (for an
interrupt before the block) none are.

:func:`disguised_interrupt` recognises a Ctrl-C that arrived while C code (TensorFlow
tracing a step) was calling back into Python: it comes back as another error.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from mmarctl import worker_stop

#: Ctrl-C and the signals training treats like it (mmarctl.runtime.plan.INTERRUPT_SIGNALS).
_HELD = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
              if hasattr(signal, name))


@contextmanager
def interrupts_held(told: str | None = None) -> Iterator[None]:
    """Run the block to its end; a SIGINT, SIGTERM or SIGHUP (and in an mpirun worker its
    launcher's stop signal, :mod:`mmarctl.worker_stop`) that arrives meanwhile raises
    ``KeyboardInterrupt`` afterwards. Outside the main thread signals cannot be handled
    here, and the block runs as it is.

    Args:
        told: a line written to stderr when the first such signal arrives (a second Ctrl-C
            while a resume state is saved: the user learns why the run has not stopped yet).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: Any) -> None:
        if told and not arrived:
            try:
                sys.stderr.write(told + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):  # a closed stderr: the signal is held all the same
                pass
        arrived.append(signum)

    # An ignored SIGHUP stays ignored (nohup: the run is meant to outlive the terminal);
    # holding it would turn it into an interrupt. (An ignored SIGINT is a background job's
    # shell default, not the user's wish, and is held as before.)
    held = _HELD + ((worker_stop.STOP_SIGNAL,) if worker_stop.armed() else ())
    previous = {signum: signal.signal(signum, note) for signum in held
                if not (signum == getattr(signal, "SIGHUP", None)
                        and signal.getsignal(signum) == signal.SIG_IGN)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if arrived:
        if worker_stop.STOP_SIGNAL in arrived and worker_stop.armed():
            worker_stop.note_stop()  # the launcher's stop request (mmarctl.worker_stop)
        raise KeyboardInterrupt


def disguised_interrupt(error: BaseException | None) -> bool:
    """Whether ``error`` is a Ctrl-C (or a signal raised as one) in another error's clothes.

    A ``KeyboardInterrupt`` raised by a signal handler while C code had called back into
    Python (TensorFlow tracing a step, an enum's ``__getattribute__``) makes CPython raise
    ``SystemError: ... returned a result with an exception set`` with the interrupt as its
    cause; autograph then wraps that in a ``StagingError``, and mmarctl's own handling may
    wrap it again. Such an error is the user's interrupt, not a failure. An error raised
    while a plain interrupt was being handled (a full disk while the resume state is
    saved) is not: that failure is what the user must see.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, SystemError) and isinstance(error.__cause__, KeyboardInterrupt):
            return True
        if isinstance(error, KeyboardInterrupt):
            return False
        error = error.__cause__ or error.__context__
    return False
