"""Read and write the JSON files of an MMAR with errors a user can act on."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError, note_writing
from mmarctl.staging import temporary_beside

log = logging.getLogger("mmarctl.config")

#: An MMAR's JSON files are configs and data lists: a few MiB at most even for tens of
#: thousands of cases. Anything larger is a mistake (a volume saved as JSON, a runaway
#: generator) and would only exhaust memory.
MAX_JSON_BYTES = 64 * 1024 * 1024
#: Clara configs nest about 8 levels deep; every layer that walks a config (placeholders,
#: schemas, the search annotations) recurses, so depth is bounded once, here.
MAX_JSON_DEPTH = 64

_BOM = b"\xef\xbb\xbf"
_shown_warnings: set[str] = set()


class _NonFinite:
    """Stands for a ``NaN`` / ``Infinity`` literal until its JSON path is known."""

    def __init__(self, token: str) -> None:
        self.token = token


class _Object(dict):
    """A JSON object that remembers the keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict:
    result = _Object()
    seen_twice = []
    for key, value in pairs:
        if key in result:
            seen_twice.append(key)
        result[key] = value
    if seen_twice:
        result.duplicates = tuple(seen_twice)
    return result


def _warn_once(message: str, key: Any = None) -> None:
    # Each verb may read one file several times, under its relative and its absolute
    # name (check, then the runtime): the user hears about it once, keyed by the file.
    key = message if key is None else key
    if key not in _shown_warnings:
        _shown_warnings.add(key)
        log.warning("warning: %s", message)


_LOCATION = re.compile(r"^(.+?:\d+:\d+): (.*)$", re.DOTALL)


def split_location(message: str) -> tuple[str, str]:
    """``("file:line:col", rest)`` of a message that starts with a location (malformed
    JSON, bytes that are not UTF-8), else ``("", message)``: a refusal can then carry the
    location as its file, and no caller adds a second file name in front of it."""
    found = _LOCATION.match(message)
    return (found.group(1), found.group(2)) if found else ("", message)


def load_json(path: Path, *, shown_as: str | None = None,
              warn: Callable[[str, str, str], None] | None = None) -> Any:
    """Parse an MMAR JSON file strictly, with errors a user can act on.

    Beyond :func:`json.loads`: a file over :data:`MAX_JSON_BYTES` or nested deeper than
    :data:`MAX_JSON_DEPTH` is refused; ``NaN`` / ``Infinity`` literals (which Python accepts
    but JSON does not) are refused at their JSON path; bytes that are not UTF-8 are refused
    at their ``line:col``. A UTF-8 byte-order mark is skipped and a key given twice keeps its
    last value (as every JSON reader of Clara's time did): both are warnings.

    Args:
        path: the file to read.
        shown_as: how to name the file in errors (defaults to ``path``).
        warn: called as ``warn(file, json_path, message)`` for each warning; by default
            each distinct warning is logged once per process on ``mmarctl.config``.

    Raises:
        ConfigError: naming the file and the line:col or JSON path.
    """
    name = shown_as or str(path)
    try:
        # Looked at before it is opened: opening a FIFO waits for a writer forever, and
        # reading /dev/zero (size 0 to stat) fills memory in one uninterruptible call.
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"not a regular file ({_file_kind(info.st_mode)}), expected a "
                              "JSON file", file=name)
        if info.st_size > MAX_JSON_BYTES:
            raise ConfigError(f"{info.st_size / 2**20:.0f} MiB is too large for an MMAR JSON "
                              f"file (at most {MAX_JSON_BYTES // 2**20} MiB)", file=name)
        raw = _read_bounded(Path(path), name)
    except FileNotFoundError:
        raise ConfigError("file not found", file=name) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, expected a JSON file", file=name) from None
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror or err}", file=name) from None
    warnings: list[tuple[str, str]] = []
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
        warnings.append(("", "starts with a UTF-8 byte-order mark; read without it"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError(f"{name}:{line}:{column}: not UTF-8 text (byte 0x{raw[err.start]:02x})",
                          hint="save the file as UTF-8") from None
    if not text.strip():
        # a truncated write (a full disk, a killed editor) more often than a choice
        raise ConfigError("the file is empty, expected a JSON object", file=name)
    try:
        data = json.loads(text, object_pairs_hook=_object, parse_constant=_NonFinite)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{name}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    except RecursionError:
        raise ConfigError(f"nested deeper than {MAX_JSON_DEPTH} levels", file=name) from None
    data = _finish(data, name, warnings)
    for json_path, message in warnings:
        if warn is not None:
            warn(name, json_path, message)
        else:
            _warn_once(": ".join(part for part in (name, json_path, message) if part),
                       (os.path.realpath(path), json_path, message))
    return data


def _file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in the words of ``ls -l``'s users."""
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((word for test, word in kinds if test(mode)), "not a plain file")


def _read_bounded(path: Path, name: str) -> bytes:
    """The file's bytes, refused once past :data:`MAX_JSON_BYTES` (a file that grows while
    it is read, or one whose size stat does not tell, cannot exhaust memory)."""
    with open(path, "rb") as stream:
        raw = stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ConfigError(f"too large for an MMAR JSON file (at most "
                          f"{MAX_JSON_BYTES // 2**20} MiB)", file=name)
    return raw


def _finish(data: Any, name: str, warnings: list[tuple[str, str]]) -> Any:
    """Walk the parsed tree once, without recursion: refuse non-finite literals and depth
    past the limit, note duplicate keys, and turn the marker objects into plain dicts."""
    if isinstance(data, _NonFinite):
        raise ConfigError(f"{data.token} is not valid JSON (expected a finite number)",
                          file=name, json_path="$")
    root = [data]
    stack: list[tuple[Any, Any, tuple[str | int, ...]]] = [(root, 0, ())]
    while stack:
        parent, key, where = stack.pop()
        value = parent[key]
        if isinstance(value, _NonFinite):
            raise ConfigError(f"{value.token} is not valid JSON (expected a finite number)",
                              file=name, json_path=format_json_path(where),
                              hint="write a number, or null")
        if not isinstance(value, (dict, list)):
            continue
        if len(where) >= MAX_JSON_DEPTH:
            raise ConfigError(f"nested deeper than {MAX_JSON_DEPTH} levels", file=name,
                              json_path=format_json_path(where[:8]) + "...")
        if isinstance(value, _Object):
            for duplicate in dict.fromkeys(value.duplicates):
                warnings.append((format_json_path((*where, duplicate)),
                                 f"key {duplicate!r} is given more than once; the last value "
                                 "is used"))
            value = dict(value)
            parent[key] = value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for child_key, child in items:
            if isinstance(child, (dict, list, _NonFinite)):
                stack.append((value, child_key, (*where, child_key)))
    return root[0]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it into place (the
    temporaries of killed writers in that folder are removed first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = temporary_beside(path)
    except OSError as error:  # it would name a random temporary name
        note_writing(error, path)
        raise
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        note_writing(error, path)  # the error names the temporary file, or no file
        raise


def format_json_path(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """``["train", "loss", 0, "args"]`` -> ``train.loss[0].args`` (``$`` for the root)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"
