"""Create a folder all at once: build it in a hidden sibling, then rename it into place.

``init``, ``clone`` and ``data synth`` write many files. Building them in a temporary sibling
folder (same filesystem, so the final ``rename`` is atomic) means a failure or Ctrl-C never
leaves a half-written workspace behind, and an existing folder is never overwritten.

An existing empty folder that may be filled (``init .``, ``data synth`` into a folder made
beforehand) is kept: the files are built in a hidden folder inside it, then moved up into it
(one rename each, undone if one fails). Replacing the folder itself would lose its mode,
group and ACLs, orphan a shell standing in it (``cd x && mmarctl init .``) and fail on a
mount point.

SIGTERM (``kill``, ``timeout``, a job scheduler, ``docker stop``) and SIGHUP (a closed
terminal or ssh session) would otherwise end the process on the spot and leave the hidden
folder behind; while a folder is staged they are raised as :class:`Terminated`, which is a
``KeyboardInterrupt``, so the same cleanup runs as for Ctrl-C. The hidden folder's name
(``.DEST.HOST-PID.RANDOM.partial``, DEST shortened where the whole would not fit the file
system's name limit, so any legal DEST works) carries the host and process id, and one left by a process that died anyway (SIGKILL, a
power cut) is removed by the next staging into the same parent folder.

Single files written then renamed into place (JSON records, PNG pictures) get their
temporary from :func:`temporary_beside`, named the same way and tidied the same way.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmarctl.errors import WorkspaceError


def check_destination(dest: Path, *, allow_empty: bool) -> None:
    """Refuse a destination that exists (or, with ``allow_empty``, one that is not empty).

    Raises:
        WorkspaceError: naming the destination.
    """
    dest = Path(dest)
    if not dest.is_absolute():
        current_folder()  # one line, not a traceback, when the shell's folder was deleted
    _check_name_length(dest)
    if not (allow_empty and dest.is_dir() and not dest.is_symlink()):
        _check_parent(dest)  # an existing folder is written into: its parent's mode is moot
    if dest.is_symlink():
        raise WorkspaceError("destination is a symbolic link", file=dest,
                             hint="choose a new folder name; mmarctl never writes through links")
    if dest.exists() and not dest.is_dir():
        raise WorkspaceError("destination exists and is not a folder", file=dest,
                             hint="choose a new folder name")
    if not dest.exists():
        return
    if not allow_empty:
        raise WorkspaceError("destination already exists", file=dest,
                             hint="choose a new folder name; mmarctl never overwrites one")
    remove_dead_stagings(dest)  # a killed run's hidden folder does not make it "not empty"
    if any(dest.iterdir()):
        raise WorkspaceError("destination folder is not empty", file=dest,
                             hint="choose a new or empty folder; mmarctl never overwrites files")
    if not os.access(dest, os.W_OK | os.X_OK):
        if _read_only(dest):
            raise WorkspaceError("cannot write in this folder: read-only file system",
                                 file=dest, hint=READ_ONLY_HINT)
        raise WorkspaceError("no permission to write in this folder", file=dest,
                             hint="choose a folder you can write to")


def current_folder() -> Path:
    """The current folder.

    Raises:
        WorkspaceError: it was deleted (or moved away) under the shell standing in it.
    """
    try:
        return Path.cwd()
    except FileNotFoundError:
        raise WorkspaceError("the current folder no longer exists (deleted or moved away)",
                             hint="cd to an existing folder and run it again") from None


def _check_parent(dest: Path) -> None:
    """Refuse a destination whose nearest existing ancestor is not a folder (a file where a
    folder should be) or is not writable, before anything is created.

    Raises:
        WorkspaceError: naming that ancestor.
    """
    ancestor = Path(dest).absolute().parent
    # Climb to what exists (a dangling link stops the climb: it is not a folder either).
    while not ancestor.exists() and not ancestor.is_symlink() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise WorkspaceError(f"not a folder, so {dest} cannot be created in it", file=ancestor,
                             hint="choose a destination under a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        # access() says no for root too on a read-only mount: say which it is.
        if _read_only(ancestor):
            raise WorkspaceError(f"cannot create {dest} in this folder: read-only file system",
                                 file=ancestor, hint=READ_ONLY_HINT)
        raise WorkspaceError(f"no permission to create {dest} in this folder", file=ancestor,
                             hint="choose a destination in a folder you can write to")


#: The hint for a destination on a read-only file system (a permission is not the cause).
READ_ONLY_HINT = "choose a destination on a writable file system, or remount it read-write"
#: The longest file name when the file system does not say (ext4, xfs, btrfs, tmpfs).
NAME_MAX = 255


def _read_only(folder: Path) -> bool:
    """Whether ``folder`` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows), or it cannot be asked
        return False


def name_max(folder: Path) -> int:
    """The longest file name (in bytes) the file system of ``folder`` (or its nearest
    existing ancestor) takes."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _check_name_length(dest: Path) -> None:
    """Refuse a destination whose name the file system cannot hold, before anything is
    made (mkdir's own "File name too long" would come after the parents were created).

    Raises:
        WorkspaceError: naming the limit.
    """
    longest = name_max(dest.absolute().parent)
    size = len(os.fsencode(dest.absolute().name))
    if size > longest:
        raise WorkspaceError(f"the folder name is {size} bytes long; this file system takes "
                             f"at most {longest}", file=dest, hint="choose a shorter name")


def _cannot_create(dest: Path, folder: Path, error: OSError) -> WorkspaceError:
    """The one-line error for an OS refusal to create ``dest`` in ``folder`` (a read-only
    or immutable folder that :func:`_check_parent` could not foresee, e.g. as root)."""
    hints = {errno.EROFS: READ_ONLY_HINT, errno.ENAMETOOLONG: "choose a shorter name",
             errno.ENOSPC: "free some space, or choose a destination on another disk",
             errno.EDQUOT: "free some space, or choose a destination on another disk"}
    return WorkspaceError(f"cannot create {dest} in this folder: {error.strerror or error}",
                          file=folder, hint=hints.get(error.errno, "choose a destination in a "
                                                                   "folder you can write to"))


def hidden_prefix(name: str, folder: Path) -> str:
    """``.NAME.HOST-PID.``, the start of a staging folder's or temporary file's name for
    ``name`` in ``folder`` (mkdtemp adds 8 random characters and the suffix).

    NAME is shortened so that the whole name fits the file system's limit: any name the
    user may give a destination (up to 255 bytes) must leave room for its staging
    folder's."""
    tail = f".{_host_tag()}-{os.getpid()}."
    room = name_max(folder) - len(os.fsencode(tail)) - 1 - 8 - len(".partial")
    while len(os.fsencode(name)) > max(room, 1) and len(name) > 1:
        name = name[:-1]
    return f".{name}{tail}"


#: Signals that end a staging the way Ctrl-C does (where the platform has them).
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                            if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that cleanup runs.

    Attributes:
        signum: the signal's number.
        exit_code: the shell's convention for death by that signal, 128 + signum
            (143 for SIGTERM, 129 for SIGHUP).
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(f"terminated ({signal.Signals(self.signum).name})")


@contextmanager
def terminating_signals_raised() -> Iterator[None]:
    """Raise :class:`Terminated` on SIGTERM or SIGHUP inside the block; the previous
    handlers are back afterwards.

    Only a signal whose handler is the default (death) is taken over: one the user
    ignores (``nohup`` ignores SIGHUP) or that a caller already handles stays as it is.
    A second signal while the first one's cleanup runs is absorbed, so the cleanup is
    not cut short. Outside the main thread signals cannot be handled; the block runs as
    it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def raise_terminated(signum: int, frame: Any) -> None:
        if arrived:
            return
        arrived.append(signum)
        raise Terminated(signum)

    previous: dict[int, Any] = {}
    try:
        for signum in TERMINATING_SIGNALS:
            if signal.getsignal(signum) == signal.SIG_DFL:
                previous[signum] = signal.signal(signum, raise_terminated)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _host_tag() -> str:
    """This machine's name as it goes into a staging folder's name: the first label of the
    host name, letters, digits, ``_`` and ``-`` only."""
    label = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "_", label) or "host"


#: A staging folder's name: ``.DEST.HOST-PID.RANDOM.partial`` (RANDOM is mkdtemp's, 8
#: characters from ``[a-z0-9_]``).
_STAGING_NAME = re.compile(r"^\.(?P<dest>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)"
                           r"\.[a-z0-9_]{8}\.partial$")


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one owned by another user
    counts as alive)."""
    if pid <= 0:
        return True  # not a process id mkdtemp's caller could have had: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as someone else's
        return True
    return True


def remove_dead_stagings(parent: Path) -> list[Path]:
    """Delete the staging folders in ``parent`` whose process is gone (killed by SIGKILL,
    a crash or a power cut before it could clean up); return them.

    Only folders named by this module, made on this machine, by a process id that no
    longer exists are removed; a live process's (or another machine's, on a shared file
    system) are left alone, and so are folders named by older versions, which carry no
    process id. Errors (a folder that cannot be listed or removed) are ignored: this is
    tidying, not the user's command.
    """
    return _remove_dead(parent, _STAGING_NAME, folders=True)


#: A temporary file's name (:func:`temporary_beside`): ``.NAME.HOST-PID.RANDOM.tmp``.
_TEMPORARY_NAME = re.compile(r"^\.(?P<dest>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)"
                             r"\.[a-z0-9_]{8}\.tmp$")


def staging_folder_in(parent: Path, name: str) -> Path:
    """A new hidden working folder ``parent/.NAME.HOST-PID.RANDOM.partial`` (an export's
    staging), after removing those that dead processes of this host left in ``parent``: a
    command killed with SIGKILL cannot clean up, and nothing else would."""
    remove_dead_stagings(parent)
    return Path(tempfile.mkdtemp(prefix=hidden_prefix(name, parent), suffix=".partial",
                                 dir=parent))


def temporary_beside(path: Path) -> tuple[int, str]:
    """``(fd, name)`` of a new hidden temporary file beside ``path`` (for a write then
    rename), named with this host and process id; first removes the temporary files that
    dead processes of this host left in that folder (killed mid-write: nothing else would).
    """
    path = Path(path)
    _remove_dead(path.parent, _TEMPORARY_NAME, folders=False)
    return tempfile.mkstemp(prefix=hidden_prefix(path.name, path.parent), suffix=".tmp",
                            dir=path.parent)


def _remove_dead(parent: Path, pattern: re.Pattern, *, folders: bool) -> list[Path]:
    """Delete the entries of ``parent`` named by ``pattern`` whose process (on this host)
    is gone; errors are ignored: this is tidying, not the user's command."""
    removed: list[Path] = []
    host = _host_tag()
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or match["host"] != host:
            continue
        try:
            if entry.is_dir(follow_symlinks=False) != folders:
                continue
        except OSError:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or process_alive(pid):
            continue
        if folders:
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                continue
        removed.append(Path(entry.path))
    return removed


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staged_directory(dest: Path, *, allow_empty: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``dest``; on success it becomes ``dest``
    (or, into an existing empty ``dest``, its contents move there).

    Missing parent folders are created (and removed again if the block fails). On any
    exception, Ctrl-C, SIGTERM or SIGHUP (raised as :class:`Terminated`) the temporary
    folder is deleted and ``dest`` is untouched. Staging folders left in the same parent
    by processes that are gone are removed first (:func:`remove_dead_stagings`).

    Args:
        dest: the folder to create.
        allow_empty: accept an existing empty folder at ``dest``: the files go into it (the
            temporary folder is then a hidden one inside it), and the folder itself, with
            its mode, group, ACLs and mount, stays.

    Raises:
        WorkspaceError: ``dest`` exists (see :func:`check_destination`), or appeared while
            the folder was being built.
        Terminated: SIGTERM or SIGHUP arrived (after the cleanup).
    """
    with terminating_signals_raised():
        with _staged(dest, allow_empty=allow_empty) as tmp:
            yield tmp


@contextmanager
def _staged(dest: Path, *, allow_empty: bool) -> Iterator[Path]:
    """:func:`staged_directory` without the signal handling."""
    check_destination(Path(dest), allow_empty=allow_empty)  # named as the user typed it
    dest = Path(dest).absolute()
    if allow_empty and dest.is_dir():
        with _staged_inside(dest) as tmp:
            yield tmp
        return
    missing_parents = [p for p in reversed(dest.parents) if not p.exists()]
    created_parents: list[Path] = []
    tmp: Path | None = None
    try:
        for parent in missing_parents:
            try:
                parent.mkdir()
            except OSError as error:
                raise _cannot_create(parent, parent.parent, error) from None
            created_parents.append(parent)
        if not created_parents:
            remove_dead_stagings(dest.parent)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=hidden_prefix(dest.name, dest.parent),
                                        suffix=".partial", dir=dest.parent))
            # mkdtemp makes the folder private (0700); give it the mode a plain mkdir would.
            os.chmod(tmp, 0o777 & ~_current_umask())
        except OSError as error:
            raise _cannot_create(dest, dest.parent, error) from None
        try:
            yield tmp
        except OSError as error:
            # A refusal while writing (disk full, a source file that cannot be read): one
            # line naming the file as the user knows it, not the hidden staging folder.
            raise _write_failed(error, tmp, dest) from None
        try:
            os.rename(tmp, dest)  # atomic; replaces only an empty folder
        except OSError as error:
            raise WorkspaceError(f"could not move the new folder into place: {error.strerror}",
                                 file=dest, hint="was it created meanwhile?") from None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for parent in reversed(created_parents):
            try:
                parent.rmdir()
            except OSError:
                pass
        raise


@contextmanager
def _staged_inside(dest: Path) -> Iterator[Path]:
    """Stage in a hidden folder inside the existing empty folder ``dest``, then move each
    entry up into ``dest``; on any failure (or signal) the entries already moved go back
    and the hidden folder is deleted, so ``dest`` is empty again."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=hidden_prefix(dest.name or "here", dest),
                                    suffix=".partial", dir=dest))
    except OSError as error:
        raise _cannot_create(dest, dest, error) from None
    moved: list[str] = []
    try:
        try:
            yield tmp
        except OSError as error:
            raise _write_failed(error, tmp, dest, into=True) from None
        for name in sorted(os.listdir(tmp)):
            # rename() would silently replace a file of the same name that appeared meanwhile.
            if os.path.lexists(dest / name):
                raise WorkspaceError(f"{name} appeared in it meanwhile; nothing was written",
                                     file=dest, hint="run it again on an empty folder")
            try:
                os.rename(tmp / name, dest / name)
            except OSError as error:
                raise WorkspaceError(f"could not move {name} into place: {error.strerror}; "
                                     "nothing was written", file=dest) from None
            moved.append(name)
        os.rmdir(tmp)
    except BaseException:
        for name in reversed(moved):
            try:
                os.rename(dest / name, tmp / name)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_failed(error: OSError, tmp: Path, dest: Path, *, into: bool = False) -> WorkspaceError:
    """``error`` as a WorkspaceError, its file shown under ``dest`` rather than ``tmp``
    (``into``: ``dest`` is an existing folder that is left empty)."""
    where: object = dest
    named = error.filename
    if error.errno in (errno.ENOSPC, errno.EDQUOT) and error.filename2:
        named = error.filename2  # shutil's copy names the source first, the file written second
    if named:
        name = Path(os.fsdecode(named))
        where = dest / name.relative_to(tmp) if name.is_relative_to(tmp) else name
    outcome = f"nothing was written into {dest}" if into else f"{dest} was not created"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return WorkspaceError(f"no space left on the device; {outcome}", file=where,
                              hint="free some space, or choose a destination on another disk")
    return WorkspaceError(f"{error.strerror or error}; {outcome}", file=where)
