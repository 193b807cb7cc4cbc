"""Create a workspace from a built-in scaffold or from an existing MMAR.

What a new workspace gets from its source:

* ``config/``, ``commands/``, ``resources/``, ``docs/``, the custom-code folders Clara users
  kept BYOC code in (:data:`mmarctl.runtime.registry.CUSTOM_CODE_DIRS`) and loose ``*.py``
  files at the MMAR root (also BYOC);
* ``models/`` only with ``with_models``; ``eval/``, data folders and anything else never
  (the folders ``MMAR_CKPT_DIR`` and ``MMAR_EVAL_OUTPUT_PATH`` name inside the source count
  as ``models/`` and ``eval/``: the clone writes its own, never the source's);
* ``commands/`` regenerated for mmarctl (Clara's scripts start a runtime that no longer
  exists); other scripts in ``commands/`` are kept;
* ``config/environment.json`` path variables that point at something left behind (a data
  folder inside the source, or a relative path reaching outside it) are rewritten to
  absolute paths, so the clone trains on the same data; output variables
  (:data:`OUTPUT_VARIABLES`) are never pointed at the source's folders: one that would make
  the clone write where the source writes (an absolute path, or a relative one reaching the
  same folder or into the source) is reset to ``models`` / ``eval``;
* ``.mmarctl/provenance.json``: the source, the UTC time, the mmarctl version and what was
  copied or rewritten; ``lineage`` lists the source's own record and its ancestors', nearest
  first (a flat list, at most :data:`LINEAGE_LIMIT`), so a chain of clones keeps its lineage.

Symbolic links inside the source that point inside it are recreated as relative links
(a note names any that the clone leaves dangling); a link pointing outside the source is
refused before anything is written.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mmarctl
from mmarctl import scaffolds
from mmarctl.errors import MmarError, WorkspaceError
from mmarctl.jsonio import load_json, write_json_atomic
from mmarctl.runtime.registry import CUSTOM_CODE_DIRS  # a TF-free module (name tables only)
from mmarctl.scripts import SCRIPT_NAMES, is_generated, write_commands
from mmarctl.staging import check_destination, staged_directory
from mmarctl.workspace import ENVIRONMENT, Workspace, is_path_key

#: Folders always copied from the source (when present).
COPIED_DIRS = ("config", "commands", "resources", "docs") + CUSTOM_CODE_DIRS
#: Folders copied only with ``with_models``.
MODEL_DIRS = ("models",)
#: Run outputs: never copied, and variables pointing into them are never rewritten.
OUTPUT_DIRS = ("models", "eval")
#: The variables naming where runs write, with the default folder each stands for.
OUTPUT_VARIABLES = {"MMAR_CKPT_DIR": "models", "MMAR_EVAL_OUTPUT_PATH": "eval"}
#: Files and folders skipped wherever they are.
SKIPPED_NAMES = ("__pycache__", ".ipynb_checkpoints")

PROVENANCE = Path(".mmarctl") / "provenance.json"
#: The most ancestors a provenance lists; older ones are only counted (``lineage_dropped``).
LINEAGE_LIMIT = 100
#: The keys that carry a record's ancestors: ``source_provenance`` is the nested form of
#: earlier versions, which a chain of 63 clones took past the JSON depth limit.
_LINEAGE_KEYS = ("lineage", "lineage_dropped", "lineage_unreadable", "source_provenance")


@dataclass
class CloneResult:
    """What :func:`clone` made.

    Attributes:
        root: the new workspace.
        source: the source as recorded (``scaffold:spleen`` or an absolute path).
        source_kind: ``scaffold`` or ``mmar``.
        copied: top-level entries copied from the source.
        rewritten: environment variables rewritten, with their new values.
        reset: output variables reset to the clone's own folder, with their old values.
        notes: other things the user should know.
    """

    root: Path
    source: str
    source_kind: str = "mmar"
    copied: list[str] = field(default_factory=list)
    rewritten: dict[str, str] = field(default_factory=dict)
    reset: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """A resolved clone source."""

    path: Path
    kind: str  # "scaffold" or "mmar"
    label: str


def resolve_source(source: str) -> Source:
    """Turn the SOURCE argument into a folder.

    A bare name of a built-in scaffold means that scaffold (write ``./spleen`` for a local
    folder of the same name); anything else is the path of an MMAR.

    Raises:
        UsageError: a bare name that is neither a scaffold nor a folder (with suggestions).
        WorkspaceError: the folder is missing or is not an MMAR.
    """
    if scaffolds.is_scaffold_name(source):
        scaffold = scaffolds.get(source)
        return Source(scaffold.path, "scaffold", f"scaffold:{scaffold.name}")
    path = Path(source)
    if not path.exists() and not path.is_symlink():
        bare = "/" not in source and os.sep not in source
        if bare and scaffolds.close_names(source):
            scaffolds.get(source)  # raises "unknown scaffold" with did-you-mean
        names = ", ".join(s.name for s in scaffolds.list_scaffolds())
        raise WorkspaceError("no such folder" + (", and not a built-in scaffold" if bare else ""),
                             file=source, hint=f"built-in scaffolds: {names}" if bare else None)
    if not path.is_dir():
        raise WorkspaceError("not an MMAR: not a folder", file=source)
    if not (path / "config").is_dir():
        raise WorkspaceError("not an MMAR: it has no config/ folder", file=source,
                             hint="give an MMAR folder, or a scaffold name from `mmarctl clone --list`")
    resolved = path.resolve()
    return Source(resolved, "mmar", str(resolved))


def _skipped(name: str) -> bool:
    return name in SKIPPED_NAMES


def output_folders(src: Path) -> dict[str, str]:
    """The top-level folders of ``src`` that its runs write, by default folder: ``models``
    and ``eval``, or the folders inside ``src`` that ``MMAR_CKPT_DIR`` and
    ``MMAR_EVAL_OUTPUT_PATH`` in its environment.json name instead."""
    folders = {default: default for default in OUTPUT_VARIABLES.values()}
    env_path = src / "config" / ENVIRONMENT
    try:
        env = load_json(env_path) if env_path.is_file() else {}
    except MmarError:
        env = {}  # `mmarctl check` reports a malformed file
    for key, default in OUTPUT_VARIABLES.items():
        value = env.get(key) if isinstance(env, dict) else None
        if not isinstance(value, str) or not value or "{" in value:
            continue
        target = Path(os.path.realpath(src / os.path.expanduser(value)))
        if target.is_relative_to(src) and target != src:
            folders[default] = target.relative_to(src).parts[0]
    return folders


def plan_copy(src: Path, *, with_models: bool = False) -> list[Path]:
    """The top-level entries of ``src`` a clone copies, checking every link under them.

    Raises:
        WorkspaceError: a symbolic link points outside ``src`` (naming the link).
    """
    src = src.resolve()
    models = [output_folders(src)["models"]] if with_models else []
    names = list(dict.fromkeys([*COPIED_DIRS, *(MODEL_DIRS if with_models else ()), *models]))
    entries = [src / n for n in names if (src / n).is_dir() or (src / n).is_symlink()]
    entries += sorted(p for p in src.glob("*.py") if p.is_file() or p.is_symlink())
    for entry in entries:
        _check_link(entry, src)
        if entry.is_dir() and not entry.is_symlink():
            for folder, dirnames, filenames in os.walk(entry):
                dirnames[:] = [d for d in dirnames if not _skipped(d)]
                for name in dirnames + filenames:
                    _check_link(Path(folder) / name, src)
    return entries


def _check_link(path: Path, src: Path) -> None:
    if not path.is_symlink():
        return
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(src):
        raise WorkspaceError(f"symbolic link points outside the source, to {target}",
                             file=path, hint="replace the link with a copy of what it points to")


def _copy_entry(entry: Path, src: Path, dest_root: Path) -> None:
    """Copy one top-level entry; links (already checked to stay inside) stay links."""
    target = dest_root / entry.relative_to(src)
    if entry.is_symlink():
        _copy_link(entry, target)
    elif entry.is_file():
        shutil.copy2(entry, target)
    else:
        _copy_tree(entry, target)
        # copytree keeps link text as written; an absolute one would still point into the
        # source, so make every link relative.
        for folder, dirnames, filenames in os.walk(entry):
            dirnames[:] = [d for d in dirnames if not _skipped(d)]
            for name in dirnames + filenames:
                link = Path(folder) / name
                if link.is_symlink():
                    _copy_link(link, dest_root / link.relative_to(src), replace=True)


class _CopyStopped(Exception):
    """Carries the first file copytree could not copy out of it (see :func:`_copy_tree`)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def _copy_tree(entry: Path, target: Path) -> None:
    """``shutil.copytree`` that stops at the first file it cannot copy and raises that
    file's own OSError (errno and file name kept), so the staging names it under the new
    workspace in one line. copytree itself goes on with every other file and then raises
    shutil.Error with all of them as text: on a full disk, a 4,000-character list of the
    hidden staging folder's paths."""
    def copy(source: str, destination: str) -> Any:
        try:
            return shutil.copy2(source, destination)
        except OSError as error:
            raise _CopyStopped(error) from None  # not an OSError: copytree lets it through

    try:
        shutil.copytree(entry, target, symlinks=True, copy_function=copy,
                        ignore=shutil.ignore_patterns(*SKIPPED_NAMES))
    except _CopyStopped as stopped:
        raise stopped.error from None
    except shutil.Error as error:  # a folder's mode or times (copystat) that failed
        _, destination, why = error.args[0][0]
        raise OSError(None, str(why), destination) from None


def _copy_link(link: Path, target: Path, *, replace: bool = False) -> None:
    real = Path(os.path.realpath(link))
    relative = os.path.relpath(real, Path(os.path.realpath(link.parent)))
    if replace:
        target.unlink()
    os.symlink(relative, target)


def _dangling_links(root: Path) -> list[str]:
    found = []
    for folder, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                found.append(str(path.relative_to(root)))
    return sorted(found)


def _rewrite_environment(src: Path, dest_root: Path, dest: Path, copied: list[str]
                         ) -> tuple[dict[str, str], dict[str, str]]:
    """Point path variables at what the clone left behind, and output variables at the
    clone's own folders.

    Args:
        src: the source MMAR (resolved).
        dest_root: the staging folder holding the copied ``config/``.
        dest: where the clone will be (relative values are read from there).
        copied: the top-level entries copied.

    Returns:
        The rewritten variables with their new values, and the output variables reset with
        their old values (also among the rewritten).
    """
    env_path = dest_root / "config" / ENVIRONMENT
    if not env_path.is_file():
        return {}, {}
    try:
        env = load_json(env_path)
    except MmarError:
        return {}, {}  # `mmarctl check` reports a malformed file; cloning copies it as it is
    if not isinstance(env, dict):
        return {}, {}
    rewritten: dict[str, str] = {}
    reset: dict[str, str] = {}
    outputs = {*OUTPUT_DIRS, *output_folders(src).values()}
    for key, value in env.items():
        if not (isinstance(value, str) and value and is_path_key(key)) or "{" in value:
            continue
        if key in OUTPUT_VARIABLES:
            # Never re-pointed at the source's folder: the clone would train into (and
            # overwrite) the source's checkpoints.
            if _shared_with_source(value, src, dest):
                env[key] = rewritten[key] = OUTPUT_VARIABLES[key]
                reset[key] = value
            continue
        if Path(os.path.expanduser(value)).is_absolute():
            continue
        target = Path(os.path.realpath(src / value))
        if not target.exists():
            continue
        if target.is_relative_to(src):
            top = target.relative_to(src).parts[:1]
            if not top or top[0] in copied or top[0] in outputs:
                continue
        env[key] = str(target)
        rewritten[key] = str(target)
    if rewritten:
        write_json_atomic(env_path, env)
    return rewritten, reset


def _shared_with_source(value: str, src: Path, dest: Path) -> bool:
    """Whether the output folder ``value`` names, read from the clone ``dest``, is where the
    source writes or lies inside the source: every absolute path (Clara's container paths
    such as ``/workspace/mmars/.../models`` included), and a relative one that reaches the
    same folder (a sibling clone's ``../shared/models``) or into the source."""
    value = os.path.expanduser(value)
    ours = Path(os.path.realpath(dest / value))
    theirs = Path(os.path.realpath(src / value))
    return ours == theirs or ours.is_relative_to(src)


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _lineage(src: Path, notes: list[str]) -> dict[str, Any]:
    """The provenance fields that keep the source's lineage: ``lineage``, the source's own
    record and its ancestors', nearest first, each without its ancestors (flat: nesting
    passed the JSON depth limit); ``lineage_dropped``, how many older ones were cut at
    :data:`LINEAGE_LIMIT`; ``lineage_unreadable`` when the source's file cannot be read (a
    note says so too: the lineage is never dropped without a word)."""
    path = src / PROVENANCE
    if not path.is_file():
        return {"lineage": []}
    try:
        record = load_json(path)
    except MmarError as error:
        notes.append(f"the source's {PROVENANCE.as_posix()} cannot be read ({error.message}): "
                     "the new workspace's lineage starts at the source")
        return {"lineage": [], "lineage_unreadable": error.message}
    chain: list[Any] = []
    dropped = 0
    while isinstance(record, dict):
        chain.append({k: v for k, v in record.items() if k not in _LINEAGE_KEYS})
        if isinstance(record.get("lineage"), list):
            chain.extend(record["lineage"])
            counted = record.get("lineage_dropped")
            valid = isinstance(counted, int) and not isinstance(counted, bool)
            dropped = counted if valid and counted > 0 else 0
            break
        record = record.get("source_provenance")  # the nested form of earlier versions
    dropped += max(0, len(chain) - LINEAGE_LIMIT)
    fields: dict[str, Any] = {"lineage": chain[:LINEAGE_LIMIT]}
    if dropped:
        fields["lineage_dropped"] = dropped
    return fields


def clone(source: str, dest: str | os.PathLike, *, with_models: bool = False,
          allow_empty_dest: bool = False, command: str = "clone") -> CloneResult:
    """Create the workspace ``dest`` from ``source`` (a scaffold name or an MMAR path).

    Args:
        source: a built-in scaffold name, or the path of an MMAR.
        dest: the new workspace; must not exist (or be empty, with ``allow_empty_dest``).
        with_models: also copy ``models/`` (checkpoints, exported graphs).
        allow_empty_dest: accept an existing empty folder (``mmarctl init``).
        command: the verb recorded in the provenance.

    Raises:
        WorkspaceError: ``dest`` exists, the source is not an MMAR, a link leaves it, or
            ``dest`` lies inside it. Nothing is written then.
        UsageError: an unknown scaffold name.
    """
    origin = resolve_source(source)
    if origin.kind == "mmar":
        Workspace(origin.path).require_clara3()  # a clone mmarctl's verbs would all refuse
    check_destination(Path(dest), allow_empty=allow_empty_dest)  # named as the user typed it
    dest_path = Path(dest).absolute()
    if Path(os.path.realpath(dest_path)).is_relative_to(origin.path):
        raise WorkspaceError("destination is inside the source", file=dest,
                             hint="create the new workspace outside the one it copies")
    entries = plan_copy(origin.path, with_models=with_models)
    copied = [e.name for e in entries]
    result = CloneResult(root=dest_path, source=origin.label, source_kind=origin.kind,
                         copied=copied)
    old_scripts = _hand_written_scripts(origin.path)
    with staged_directory(dest_path, allow_empty=allow_empty_dest) as tmp:
        for entry in entries:
            _copy_entry(entry, origin.path, tmp)
        if origin.kind == "mmar":
            result.rewritten, result.reset = _rewrite_environment(origin.path, tmp,
                                                                  dest_path, copied)
            result.notes.extend(_models_not_copied(origin.path, result.reset, with_models))
        dangling = _dangling_links(tmp)
        if dangling:
            result.notes.append("links that point at nothing in the new workspace: "
                                + ", ".join(dangling))
        commands = write_commands(tmp, force=True)
        result.notes.extend(commands.notes)
        if old_scripts:
            result.notes.append("replaced scripts not written by mmarctl: "
                                + ", ".join(old_scripts))
        lineage = _lineage(origin.path, result.notes)
        write_json_atomic(tmp / PROVENANCE, {
            "command": command,
            "source": origin.label,
            "source_kind": origin.kind,
            "created_utc": _utc_now(),
            "mmarctl_version": mmarctl.__version__,
            "with_models": with_models,
            "copied": copied,
            "rewritten": result.rewritten,
            **lineage,
        })
    return result


def _models_not_copied(src: Path, reset: dict[str, str], with_models: bool) -> list[str]:
    """A note when ``with_models`` copied no checkpoints because the source kept them in a
    folder outside it (its ``MMAR_CKPT_DIR``, now reset to the clone's ``models``)."""
    old = reset.get("MMAR_CKPT_DIR")
    if not with_models or old is None:
        return []
    folder = Path(os.path.realpath(src / os.path.expanduser(old)))
    if folder.is_relative_to(src):
        return []  # copied as models/ (output_folders)
    return [f"--with-models copied no checkpoints: the source keeps them in {folder}, outside "
            "it; copy them into the new workspace's models/ to start from them"]


def _hand_written_scripts(src: Path) -> list[str]:
    folder = src / "commands"
    return [n for n in SCRIPT_NAMES if (folder / n).is_file() and not is_generated(folder / n)]


def init(directory: str | os.PathLike, *, task: str = "segmentation") -> CloneResult:
    """Create a blank workspace for ``task`` from its built-in scaffold.

    ``directory`` may exist if it is empty.

    Raises:
        UsageError: unknown task.
        WorkspaceError: ``directory`` is not empty.
    """
    scaffold = scaffolds.for_task(task)
    return clone(scaffold.name, directory, allow_empty_dest=True, command="init")
