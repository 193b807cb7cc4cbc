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


def disk_full(error: BaseException) -> RuntimeFailure | None:
    """The one-line error for a write that ran out of disk space, else None.

    Python says so with an ``OSError`` (errno ENOSPC or EDQUOT); TensorFlow's writers
    (checkpoints, event files, SavedModel) raise their own error type with the operating
    system's words, "No space left on device", in its message.
    """
    if isinstance(error, OSError) and error.errno in _NO_ROOM:
        where = f" writing {error.filename}" if error.filename else ""
    elif "No space left on device" in str(error) or "Disk quota exceeded" in str(error):
        where = ""
    else:
        return None
    return RuntimeFailure(f"no space left on the device{where}",
                          hint="free some space, or write elsewhere: MMAR_CKPT_DIR for "
                               "checkpoints, --output for predictions")
