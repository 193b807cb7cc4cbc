"""Read and write the JSON files of an MMAR with errors a user can act on."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError


def load_json(path: Path, *, shown_as: str | None = None) -> Any:
    """Parse a JSON file; a syntax error becomes ``file:line:col: message``.

    Args:
        path: the file to read.
        shown_as: how to name the file in errors (defaults to ``path``).
    """
    name = shown_as or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=name) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read: {err}", file=name) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{name}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
