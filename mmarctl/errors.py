"""The errors mmarctl raises, and the exit codes they map to.

Library code raises these; only the CLI entry point (:mod:`mmarctl.cli`) catches them,
prints one line and exits with the error's code::

    MmarError                 exit 1   base class; message + optional file / JSON path / hint
    ├── ConfigError           exit 1   a config file is malformed or invalid
    ├── WorkspaceError        exit 1   not an MMAR, destination exists, unsafe link ...
    │   └── WorkspaceBusy     exit 1   another run is writing the same MMAR folder
    ├── DataError             exit 1   a data-split list or an image cannot be used
    ├── RuntimeFailure        exit 1   training/evaluation cannot go on (NaN loss, no checkpoint)
    ├── MissingDependency     exit 1   an optional package (TensorFlow, Horovod ...) is absent
    └── UsageError            exit 2   the command line itself is wrong
"""

from __future__ import annotations

import enum
import errno
import os
import re


class ExitCode(enum.IntEnum):
    """Process exit codes, one table for the whole CLI."""

    OK = 0
    ERROR = 1  # also: `check` found problems
    USAGE = 2  # same as Typer's own usage errors
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class MmarError(Exception):
    """Base class: a user-facing error with where it happened and what to do.

    Args:
        message: what is wrong, in one sentence.
        file: the file concerned, as the user would type it (relative to the MMAR if possible).
        json_path: where inside a JSON file, e.g. ``train.pre_transforms[2].args.fields``.
        hint: what to change, shown after the message.
    """

    exit_code: ExitCode = ExitCode.ERROR
    reference = "mmar-error"

    def __init__(self, message: str, *, file: object = None, json_path: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.json_path = json_path
        self.hint = hint

    def location(self) -> str:
        """``file: json.path`` (either part may be absent)."""
        parts = [p for p in (self.file, self.json_path) if p]
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(MmarError):
    """A config file is malformed JSON, fails its schema or cannot be built."""

    reference = "config-error"


class WorkspaceError(MmarError):
    """The MMAR workspace is missing, incomplete, or would be overwritten."""

    reference = "workspace-error"


class WorkspaceBusy(WorkspaceError):
    """Another run holds the lock on the MMAR folder this verb writes (see mmarctl.locks)."""

    reference = "workspace-busy"


class DataError(MmarError):
    """A data-split list, an image or a label cannot be used."""

    reference = "data-error"


class RuntimeFailure(MmarError):
    """Training, evaluation or export cannot go on."""

    reference = "runtime-failure"


class MissingDependency(MmarError):
    """An optional package needed by this verb is not installed."""

    reference = "missing-dependency"


class UsageError(MmarError):
    """The command line is wrong (bad ``--set`` item, incompatible flags ...)."""

    exit_code = ExitCode.USAGE
    reference = "usage-error"


#: errno values of a write that found no room: the disk, or the user's quota, is full.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT}

#: The attribute :func:`note_writing` sets on an exception: the file (or checkpoint prefix)
#: being written, for errors that name only a temporary or nothing at all.
_WRITING = "mmarctl_writing"
#: The attribute :func:`note_writing` sets when the writer knows better advice for a full
#: disk than the general one (export: where its artifacts go).
_WRITING_HINT = "mmarctl_writing_hint"

#: What a full disk's line advises when the writer gave nothing more fitting.
_NO_ROOM_HINT = ("free some space, or write elsewhere: MMAR_CKPT_DIR for checkpoints, "
                 "--output for predictions")

#: In TensorFlow's error text, what follows a checkpoint prefix while it is written:
#: ``model.ckpt.tmp-123_temp/part-00000-of-00001.data-00000-of-00001...`` (mmarctl's
#: temporary prefix, then TensorFlow's own temporary folder ``<prefix>_temp/``).
_TF_TEMPORARY = re.compile(r"\.tmp-\d+(?:_temp/[^/]*|\.[^/]*)?$|_temp/[^/]*$")


#: What :func:`note_writing` is given for a write to the standard output (``> /dev/full``,
#: a log on a full disk): the line says so, without advice about checkpoints or outputs.
STANDARD_OUTPUT = "<standard output>"


def note_writing(error: BaseException, path: object, *, hint: str | None = None) -> None:
    """Remember on ``error`` that it was raised while writing ``path`` (the file the user
    knows, where the error itself names a temporary file or, from TensorFlow, nothing), and
    ``hint``, the advice for a full disk that fits this write (else the general one)."""
    for name, value in ((_WRITING, str(path)), (_WRITING_HINT, hint)):
        if value is not None and getattr(error, name, None) is None:
            try:
                setattr(error, name, value)
            except (AttributeError, TypeError):  # an exception type without a __dict__
                pass


def _shown(path: str) -> str:
    """``path`` relative to the working folder when it lies inside it (as the user typed
    the MMAR), else as it is."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith(os.pardir) else relative


def _tensorflow_path(text: str) -> str | None:
    """The file a TensorFlow write error names before ``; <reason>``, with a checkpoint's
    temporary part stripped (``.../model.ckpt.tmp-8105_temp/part-...`` -> ``.../model.ckpt``)."""
    head = text.split("; ")[0]
    head = head.rsplit("}} ", 1)[-1].strip()  # "{{function_node ...}} /path" in eager errors
    if os.sep not in head:
        return None
    return _TF_TEMPORARY.sub("", head, count=1) or None


def _written_path(error: BaseException) -> str | None:
    noted = getattr(error, _WRITING, None)
    if noted:
        return noted
    if isinstance(error, OSError):
        # os.replace(temporary, target): the target is what the user knows
        return error.filename2 or error.filename
    return _tensorflow_path(str(error))


def disk_full(error: BaseException, *, absolute: bool = False) -> RuntimeFailure | None:
    """The one-line error for a write that ran out of disk space, else None.

    Python says so with an ``OSError`` (errno ENOSPC or EDQUOT); TensorFlow's writers
    (checkpoints, event files, SavedModel) raise their own error type with the operating
    system's words, "No space left on device", in its message, after the file's path. The
    line names the file (a checkpoint by its prefix): checkpoints, evaluation outputs and
    data may each be on another disk.
    """
    text = str(error)
    if not ((isinstance(error, OSError) and error.errno in _NO_ROOM)
            or "No space left on device" in text or "Disk quota exceeded" in text):
        return None
    path = _written_path(error)
    if path == STANDARD_OUTPUT:
        return RuntimeFailure("cannot write to standard output: no space left on the device")
    shown = os.path.abspath if absolute else _shown
    where = f" writing {shown(os.fsdecode(path))}" if path else ""
    return RuntimeFailure(f"no space left on the device{where}",
                          hint=getattr(error, _WRITING_HINT, None) or _NO_ROOM_HINT)


def write_failed(error: BaseException, *, absolute: bool = False) -> RuntimeFailure | None:
    """The one-line error for a file operation that failed, else None (not an OSError).

    A full disk is :func:`disk_full`'s line. Otherwise ``<file>: cannot write: <reason>``
    where the file is known to be written (:func:`note_writing`, a rename's target, a
    read-only file system), and ``<file>: <reason>`` for any other OSError naming a file:
    a permission, an immutable file, a folder where a file goes are the user's to fix,
    and a traceback would only hide the file's name.
    """
    full = disk_full(error, absolute=absolute)
    if full is not None:
        return full
    if not isinstance(error, OSError):
        return None
    noted = getattr(error, _WRITING, None)
    if noted == STANDARD_OUTPUT:
        return RuntimeFailure("cannot write to standard output: "
                              f"{error.strerror or type(error).__name__}")
    writing = bool(noted or error.filename2 or error.errno == errno.EROFS)
    path = noted or error.filename2 or error.filename
    if path is None:
        return None
    if error.errno == errno.EISDIR:
        reason = "is a folder, expected a file"
    else:
        reason = error.strerror or type(error).__name__
    shown = os.path.abspath if absolute else _shown
    return RuntimeFailure(f"cannot write: {reason}" if writing else reason,
                          file=shown(os.fsdecode(path)))
