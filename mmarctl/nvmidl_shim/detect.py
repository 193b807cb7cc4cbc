"""Which of an MMAR's ``commands/`` scripts are Clara's, and whether they will run here.

Used by ``mmarctl check`` (one note per MMAR). No TensorFlow, no import of ``nvmidl``:
``importlib.util.find_spec`` only locates it.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

from mmarctl.nvmidl_shim.installer import MODULES, is_shim
from mmarctl.problems import NOTE, Problem
from mmarctl.scripts import is_generated

_NVMIDL_CALL = re.compile(r"-m\s+(nvmidl(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


@dataclass
class ClaraScripts:
    """Clara scripts found in ``commands/``.

    Attributes:
        scripts: script names (``train.sh`` ...) that start ``nvmidl.apps.*``.
        unmapped: of those, the ones starting a module the shim does not run (FL, AutoML).
    """

    scripts: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)


def find_clara_scripts(commands_dir: Path) -> ClaraScripts:
    """The ``*.sh`` files of ``commands_dir`` that mmarctl did not write and that run nvmidl."""
    found = ClaraScripts()
    if not Path(commands_dir).is_dir():
        return found
    for path in sorted(Path(commands_dir).glob("*.sh")):
        if is_generated(path):
            continue
        try:
            modules = set(_NVMIDL_CALL.findall(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
        if not modules:
            continue
        found.scripts.append(path.name)
        if any(MODULES.get(m) not in ("train", "evaluate", "export") for m in modules):
            found.unmapped.append(path.name)
    return found


def nvmidl_here() -> tuple[Path | None, bool]:
    """Where this interpreter finds ``nvmidl`` (None: nowhere) and whether it is the shim."""
    try:
        spec = importlib.util.find_spec("nvmidl")
    except (ImportError, ValueError):
        return None, False
    if spec is None:
        return None, False
    locations = list(spec.submodule_search_locations or [])
    where = Path(locations[0]) if locations else Path(spec.origin or "nvmidl")
    return where, is_shim(where)


def clara_scripts_note(commands_dir: Path, shown: str = "commands") -> tuple[Problem | None, bool]:
    """A note about Clara's scripts in ``commands_dir``, and whether they run as they are.

    Returns ``(None, True)`` when there are none.
    """
    found = find_clara_scripts(commands_dir)
    if not found.scripts:
        return None, True
    names = ", ".join(found.scripts)
    where, shim = nvmidl_here()
    if where is not None and not shim:
        return Problem(shown, "", f"{names}: Clara's scripts; they run Clara's own nvmidl "
                                  f"({where})", NOTE), True
    rewrite = "`mmarctl commands MMAR --force` rewrites them to call mmarctl directly"
    if shim:
        message = (f"{names}: Clara's scripts (nvmidl.apps.*); they run as they are through "
                   f"mmarctl's nvmidl shim ({rewrite})")
    else:
        message = (f"{names}: Clara's scripts (nvmidl.apps.*); to run them as they are, "
                   f"`mmarctl clara-shim install` once in this environment (or {rewrite})")
    if found.unmapped:
        message += f"; {', '.join(found.unmapped)} start FL/AutoML modules the shim does not run"
    return Problem(shown, "", message, NOTE), shim
