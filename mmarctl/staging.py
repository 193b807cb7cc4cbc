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
    created_parents = [p for p in reversed(dest.parents) if not p.exists()]
    for parent in created_parents:
        parent.mkdir()
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        # mkdtemp makes the folder private (0700); give it the mode a plain mkdir would.
        os.chmod(tmp, 0o777 & ~_current_umask())
        yield tmp
        try:
            os.rename(tmp, dest)  # atomic; replaces only an empty folder
        except OSError as error:
            raise WorkspaceError(f"could not move the new folder into place: {error.strerror}",
                                 file=dest, hint="was it created meanwhile?") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in reversed(created_parents):
            try:
                parent.rmdir()
            except OSError:
                pass
        raise
