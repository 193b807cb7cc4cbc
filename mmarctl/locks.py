"""One writer per MMAR folder: an OS file lock on ``models/`` and ``eval/``.

Two ``mmarctl train`` runs on one MMAR would both write ``models/model.ckpt`` and whichever
saved last would win. Every verb that writes a folder of the MMAR therefore takes an
exclusive lock on a file in it first::

    train, finetune, export     models/.mmarctl.lock   (MMAR_CKPT_DIR for export)
    validate, infer             eval/.mmarctl.lock     (MMAR_EVAL_OUTPUT_PATH / --output)

The lock is ``fcntl.flock`` on that file, so the kernel releases it whenever the holder
ends, ``kill -9`` included; nothing stale blocks the next run (a killed holder leaves the
file, unlocked; a run that ends normally removes it). After locking, the holder
writes its pid, host, start time and command line into the file; a second run that finds the
folder locked reads them and stops at once with one line::

    error: .../models is in use by pid 4242 (mmarctl train my-exp --gpus 2), started ...

Validating while training is allowed: the two lock different folders.

Horovod ranks of one job are one writer. ``mmarctl train --gpus N`` takes the lock in the
process that starts the launcher, before any worker exists, so a second run is refused in
milliseconds; the lock file descriptor is handed to the launcher (:func:`inherit_fds`), so
the lock stays held while the job runs even if that process is killed. The workers learn
from :data:`HELD_ENV` that the lock is theirs and do not take it again (they would wait on
their own parent). A job started by an outside ``mpirun`` has no such parent: its rank 0
takes the lock and the other ranks, which write nothing, take none
(:func:`mmarctl.launcher.launch_rank`).

TensorFlow-free, and POSIX only (``fcntl``); elsewhere locking is skipped with a warning.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mmarctl.errors import WorkspaceBusy, WorkspaceError, note_writing
from mmarctl.launcher import launch_rank

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "HELD_ENV", "Holder", "FolderLock", "lock_folder", "scoped",
           "held_by_launcher", "inherit_fds"]

#: The lock file's name inside the locked folder.
LOCK_NAME = ".mmarctl.lock"
#: Lock files (``os.pathsep``-separated) that the process launching this worker holds.
HELD_ENV = "MMARCTL_LOCKS_HELD"
#: How long a refused run waits for the holder to finish writing its details into the file.
_READ_PATIENCE_S = 0.5


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written into the lock file."""

    pid: int | None
    command: str
    host: str = ""
    started: str = ""

    def describe(self) -> str:
        """``pid 4242 (mmarctl train exp), started 2024-05-01 10:00:00 on node1``."""
        who = f"pid {self.pid}" if self.pid else "another process"
        if self.command:
            who += f" ({self.command})"
        if self.started:
            who += f", started {self.started}"
        if self.host and self.host != socket.gethostname():
            who += f" on {self.host}"
        elif self.exited():
            who += ", which has exited: processes it started (its Horovod workers) still hold it"
        return who

    def exited(self) -> bool:
        """Whether the holder was on this machine and its process is gone: the lock is then
        held by the processes it handed it to (a launcher and its workers, stopping)."""
        from mmarctl.staging import process_alive

        local = not self.host or self.host == socket.gethostname()
        return bool(self.pid) and local and not process_alive(self.pid)


def _command_line(argv: Sequence[str]) -> str:
    """The holder's command as a user would recognise it: ``mmarctl train exp --gpus 2``."""
    args = list(argv)
    if args and Path(args[0]).name in ("__main__.py", "mmarctl", "cli.py"):
        args = ["mmarctl", *args[1:]]
    text = shlex.join(args)
    return text if len(text) <= 300 else text[:297] + "..."


def _read_holder(path: Path) -> Holder:
    """The details in a lock file; what cannot be read is left empty."""
    deadline = time.monotonic() + _READ_PATIENCE_S
    while True:
        try:
            data = json.loads(path.read_text(encoding="utf-8", errors="replace") or "null")
        except (OSError, ValueError):
            data = None
        # The holder writes right after it locks; give it a moment before saying "unknown".
        if isinstance(data, dict) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not isinstance(data, dict):
        return Holder(None, "")
    pid = data.get("pid")
    return Holder(pid if isinstance(pid, int) else None, str(data.get("command") or ""),
                  str(data.get("host") or ""), str(data.get("started") or ""))


class FolderLock:
    """An exclusive, non-blocking OS lock on ``<folder>/.mmarctl.lock``.

    Use as a context manager or call :meth:`acquire` / :meth:`release`; a process that ends
    without releasing (a crash, ``kill -9``) loses the lock all the same.

    Args:
        folder: the folder written (created when missing).
        display: how messages name the folder (e.g. ``models`` relative to the MMAR).
        argv: the command recorded for others to read (default ``sys.argv``).
    """

    def __init__(self, folder: str | os.PathLike[str], *, display: str | None = None,
                 argv: Sequence[str] | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.display = display or str(self.folder)
        self.argv = list(sys.argv if argv is None else argv)
        self.fd: int | None = None
        # The folders the lock created, deepest first: a nested MMAR_CKPT_DIR (runs/ck)
        # makes runs/ too, and a refused run must not leave it behind.
        self._made_folders: list[Path] = []

    @property
    def held(self) -> bool:
        """True between a successful :meth:`acquire` and :meth:`release`."""
        return self.fd is not None

    def acquire(self) -> FolderLock:
        """Take the lock or stop at once.

        Raises:
            WorkspaceBusy: another process holds it (its pid and command are named).
            WorkspaceError: the folder or the lock file cannot be created.
        """
        if self.fd is not None:
            return self
        if fcntl is None:  # pragma: no cover - Windows
            _warn(f"cannot lock {self.display} on this system: make sure no other run "
                  "writes there")
            return self
        for _ in range(20):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    holder = _read_holder(self.path)
                    hint = ("they stop within a minute of it (`pgrep -af mmarctl` lists "
                            "them); then run again" if holder.exited() else
                            "wait for it to finish or stop it; one run writes an MMAR's "
                            "folder at a time")
                    raise WorkspaceBusy(
                        f"{self.display.rstrip('/')}/ is in use by {holder.describe()}",
                        hint=hint) from None
                # A file system without locks (some network mounts): go on, but say so.
                _warn(f"cannot lock {self.display} ({error.strerror}): make sure no other "
                      "run writes there")
                return self
            # The holder we waited on may have removed the file as it released it: a lock
            # on that unlinked file would exclude nobody, so lock the file now at the path.
            if _same_file(fd, self.path):
                self.fd = fd
                try:
                    self._write_details()
                except BaseException as error:
                    # (a full disk) Not on the scoped stack yet: nobody else would release
                    # it, and an empty lock file would stay in the user's folder.
                    self.release()
                    note_writing(error, self.path)
                    raise
                return self
            os.close(fd)
        raise WorkspaceBusy(f"{self.display.rstrip('/')}/: its lock file keeps changing",
                            hint="another run is starting or ending there; try again")

    def _open(self) -> int:
        try:
            for _ in range(5):
                try:
                    # No O_TRUNC: the holder's details must survive until we own the lock.
                    return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                except FileNotFoundError:  # no folder yet (or a releasing run removed it)
                    missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
                    self.folder.mkdir(parents=True, exist_ok=True)
                    self._made_folders += [p for p in missing if p not in self._made_folders]
            raise FileNotFoundError(errno.ENOENT, "the folder keeps disappearing")
        except OSError as error:
            if error.errno in (errno.ENOTDIR, errno.EEXIST) and not self.folder.is_dir():
                # the output "folder" is a file (or lies under one): say so, not ENOTDIR
                raise WorkspaceError(f"{self.display} is a file, not a folder",
                                     hint="name a folder (it is created if missing)") from None
            raise WorkspaceError(f"cannot create the lock file {LOCK_NAME} in {self.display}: "
                                 f"{error.strerror}", file=self.path,
                                 hint="the folder must be writable") from None

    def _write_details(self) -> None:
        details = {"pid": os.getpid(), "command": _command_line(self.argv),
                   "host": socket.gethostname(),
                   "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, (json.dumps(details) + "\n").encode(), 0)

    def release(self) -> None:
        """Remove the lock file (and the folders the lock made, while they are empty),
        then unlock: a run that wrote nothing leaves the MMAR as it was.

        Removing while still locked is safe: a run that opened the old file meanwhile finds
        it unlinked once it gets the lock, and starts over (:meth:`acquire`). A run killed
        with ``kill -9`` leaves the file behind, unlocked; the next run simply takes it.
        """
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            if _same_file(fd, self.path):
                self.path.unlink()
            for folder in self._made_folders:
                folder.rmdir()  # only if nothing else was written there (else: OSError, stop)
        except OSError:
            pass
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    """True when ``path`` still names the file open as ``fd``."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def held_by_launcher(path: str | os.PathLike[str],
                     environ: Mapping[str, str] | None = None) -> bool:
    """True when the process that launched this worker already holds the lock file ``path``."""
    env = os.environ if environ is None else environ
    held = [p for p in env.get(HELD_ENV, "").split(os.pathsep) if p]
    return os.path.abspath(path) in {os.path.abspath(p) for p in held}


def inherit_fds(locks: Sequence[FolderLock]) -> tuple[int, ...]:
    """File descriptors of held locks, for ``subprocess.Popen(pass_fds=...)``.

    A child holding a copy keeps the lock alive: the kernel releases a flock when the last
    descriptor of it closes, so a job outlives a killed ``mmarctl`` with its lock intact.
    """
    return tuple(lock.fd for lock in locks if lock.fd is not None)


_scopes = threading.local()
F = TypeVar("F", bound=Callable[..., Any])


def scoped(func: F) -> F:
    """Release the locks :func:`lock_folder` takes during a call of ``func`` when it returns.

    A verb's library function (``evaluate``, ``export_mmar``, ``run_training``) locks its
    output folder where it first knows it, in one line, and the lock ends with the call,
    error or not; a process that dies loses it anyway. Calls nest.
    """
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stack = _scopes.__dict__.setdefault("stack", [])
        stack.append([])
        try:
            return func(*args, **kwargs)
        finally:
            for lock in reversed(stack.pop()):
                lock.release()

    return wrapper  # type: ignore[return-value]


def lock_folder(folder: str | os.PathLike[str], *, display: str | None = None,
                environ: Mapping[str, str] | None = None) -> FolderLock | None:
    """Lock ``folder`` for this command, or return None where this process must not.

    None for a worker whose launcher holds the lock already, and for ranks other than 0
    (they write nothing). Otherwise the held :class:`FolderLock`, released when the
    innermost :func:`scoped` call returns (or by :meth:`FolderLock.release`, or at exit).

    Raises:
        WorkspaceBusy: another run holds it.
    """
    lock = FolderLock(folder, display=display)
    if held_by_launcher(lock.path, environ) or launch_rank(environ) != 0:
        return None
    lock.acquire()
    stack = _scopes.__dict__.get("stack")
    if stack:
        stack[-1].append(lock)
    return lock
