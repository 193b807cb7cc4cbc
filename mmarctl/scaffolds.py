"""Built-in MMAR scaffolds: where they are on disk and what each one is.

A scaffold is a complete MMAR minus its generated parts (``commands/``, ``models/``,
``eval/``) plus a ``scaffold.json`` that describes it::

    {"name": "spleen", "task": "segmentation", "description": "one line", "clara_version": "3.x"}

They live in the repository's top-level ``scaffolds/`` folder. A wheel ships that folder
as ``mmarctl/_scaffolds`` (see ``pyproject.toml``); an editable install imports mmarctl
from the checkout, where the folder is a sibling of the package. :func:`scaffolds_root`
looks in both places, in that order, and imports nothing heavy.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import mmarctl
from mmarctl.errors import ConfigError, UsageError, WorkspaceError
from mmarctl.jsonio import load_json

#: The file that marks a folder of the scaffolds root as a scaffold.
SCAFFOLD_FILE = "scaffold.json"

#: Which scaffold ``mmarctl init --task TASK`` starts from.
TASK_SCAFFOLDS = {"segmentation": "spleen", "classification": "classification"}


@dataclass(frozen=True)
class Scaffold:
    """One built-in scaffold.

    Attributes:
        name: what users type (``mmarctl clone spleen DEST``).
        task: ``segmentation`` or ``classification`` (Clara's ``PROCESSING_TASK``).
        description: one line for ``mmarctl clone --list``.
        path: the scaffold's folder.
    """

    name: str
    task: str
    description: str
    path: Path


def _candidate_roots() -> list[Path]:
    package_dir = Path(mmarctl.__file__).resolve().parent
    # Installed wheel first; then the checkout an editable install points at.
    return [package_dir / "_scaffolds", package_dir.parent / "scaffolds"]


def scaffolds_root() -> Path:
    """The folder holding the built-in scaffolds.

    Raises:
        WorkspaceError: no scaffold folder is found (a broken installation).
    """
    for root in _candidate_roots():
        if root.is_dir() and any(root.glob(f"*/{SCAFFOLD_FILE}")):
            return root
    tried = ", ".join(str(p) for p in _candidate_roots())
    raise WorkspaceError("the built-in scaffolds are missing from this installation",
                         hint=f"looked in {tried}; reinstall mmarctl")


def _read(folder: Path) -> Scaffold:
    meta_path = folder / SCAFFOLD_FILE
    meta = load_json(meta_path)
    if not isinstance(meta, dict):
        raise ConfigError("expected a JSON object", file=meta_path, json_path="$")
    for key in ("task", "description"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise ConfigError(f"missing or empty {key!r}", file=meta_path, json_path=key)
    return Scaffold(name=folder.name, task=meta["task"], description=meta["description"],
                    path=folder)


def list_scaffolds() -> list[Scaffold]:
    """Every built-in scaffold, sorted by name."""
    root = scaffolds_root()
    return [_read(meta.parent) for meta in sorted(root.glob(f"*/{SCAFFOLD_FILE}"))]


def get(name: str) -> Scaffold:
    """The scaffold called ``name``.

    Raises:
        UsageError: no such scaffold; the message suggests the closest names.
    """
    known = {s.name: s for s in list_scaffolds()}
    if name in known:
        return known[name]
    close = close_names(name)
    hint = (f"did you mean {' or '.join(close)}?" if close
            else f"built-in scaffolds: {', '.join(known)}; `mmarctl clone --list` describes them")
    raise UsageError(f"unknown scaffold {name!r}", hint=hint)


def close_names(name: str) -> list[str]:
    """Built-in scaffold names that look like ``name`` (for did-you-mean hints)."""
    return difflib.get_close_matches(name, [s.name for s in list_scaffolds()], n=2, cutoff=0.5)


def is_scaffold_name(name: str) -> bool:
    """Whether ``name`` is a built-in scaffold (bare names only, never paths)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return False
    return any(s.name == name for s in list_scaffolds())


def for_task(task: str) -> Scaffold:
    """The scaffold ``mmarctl init --task TASK`` uses.

    Raises:
        UsageError: unknown task.
    """
    try:
        return get(TASK_SCAFFOLDS[task])
    except KeyError:
        raise UsageError(f"unknown task {task!r}",
                         hint=f"choose one of: {', '.join(TASK_SCAFFOLDS)}") from None
