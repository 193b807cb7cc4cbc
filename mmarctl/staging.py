"""Create a folder all at once: build it in a hidden sibling, then rename it into place.

``init``, ``clone`` and ``data synth`` write many files. Building them in a temporary sibling
folder (same filesystem, so the final ``rename`` is atomic) means a failure or Ctrl-C never
leaves a half-written workspace behind, and an existing folder is never overwritten.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmarctl.errors import WorkspaceError


def check_destination(dest: Path, *, allow_empty: bool) -> None:
    """Refuse a destination that exists (or, with ``allow_empty``, one that is not empty).

    Raises:
        WorkspaceError: naming the destination.
    """
    dest = Path(dest)
    _check_parent(dest)
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
    if any(dest.iterdir()):
        raise WorkspaceError("destination folder is not empty", file=dest,
                             hint="choose a new or empty folder; mmarctl never overwrites files")


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
        raise WorkspaceError(f"no permission to create {dest} in this folder", file=ancestor,
                             hint="choose a destination in a folder you can write to")


def _cannot_create(dest: Path, folder: Path, error: OSError) -> WorkspaceError:
    """The one-line error for an OS refusal to create ``dest`` in ``folder`` (a read-only
    or immutable folder that :func:`_check_parent` could not foresee, e.g. as root)."""
    return WorkspaceError(f"cannot create {dest} in this folder: {error.strerror or error}",
                          file=folder, hint="choose a destination in a folder you can write to")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staged_directory(dest: Path, *, allow_empty: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``dest``; on success it becomes ``dest``.

    Missing parent folders are created (and removed again if the block fails). On any
    exception the temporary folder is deleted and ``dest`` is untouched.

    Args:
        dest: the folder to create.
        allow_empty: accept an existing empty folder at ``dest`` (it is replaced).

    Raises:
        WorkspaceError: ``dest`` exists (see :func:`check_destination`), or appeared while
            the folder was being built.
    """
    check_destination(Path(dest), allow_empty=allow_empty)  # named as the user typed it
    dest = Path(dest).absolute()
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
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial",
                                        dir=dest.parent))
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


def _write_failed(error: OSError, tmp: Path, dest: Path) -> WorkspaceError:
    """``error`` as a WorkspaceError, its file shown under ``dest`` rather than ``tmp``."""
    where: object = dest
    if error.filename:
        name = Path(os.fsdecode(error.filename))
        where = dest / name.relative_to(tmp) if name.is_relative_to(tmp) else name
    return WorkspaceError(f"{error.strerror or error}; {dest} was not created", file=where)
