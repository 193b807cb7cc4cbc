"""Paths written into the commands mmarctl suggests, so that a pasted command runs."""

from __future__ import annotations

import os
import shlex


def shell_word(path: str | os.PathLike) -> str:
    """``path`` as one word to paste into a shell: quoted (``'my exp'``), ``./`` before a
    leading dash (``./-i2``, not an option), trailing slashes dropped (``trail/`` ->
    ``trail``, so ``trail/data``, not ``trail//data``)."""
    path = str(path).rstrip("/") or "/"
    if path.startswith("-"):
        path = "./" + path
    return shlex.quote(path)
