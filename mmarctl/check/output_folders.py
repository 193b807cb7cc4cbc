"""The folders verbs write into must be folders: ``MMAR_CKPT_DIR`` and ``MMAR_EVAL_OUTPUT_PATH``.

train writes checkpoints into ``MMAR_CKPT_DIR`` (default ``models/``) and validate and
infer write their results into ``MMAR_EVAL_OUTPUT_PATH`` (default ``eval/``); both start by
taking a lock file inside. A value that names an existing file (a typo such as
``config/environment.json``), or lies under one, makes every one of those verbs refuse; one
that does not exist yet is fine (the verbs create it), unless it lies outside the MMAR and
its parent folder is missing too: that is typically a path from Clara's container
(``/workspace/mmars/...``, ``/data/training/...``) in an MMAR copied out of it, and creating
the whole tree at ``/`` would only hide the checkpoints. A value given with ``--set`` (or
infer's ``--output``) is created as typed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from mmarctl.errors import ConfigError
from mmarctl.problems import NOTE, Problem
from mmarctl.workspace import ENVIRONMENT, Workspace

#: Each output folder's variable, its default under the MMAR, and the verbs that write there.
OUTPUT_FOLDERS = (
    ("MMAR_CKPT_DIR", "models", "train and finetune write checkpoints there, and validate, "
                                "infer and export read them"),
    ("MMAR_EVAL_OUTPUT_PATH", "eval", "validate and infer write their results there"),
)
#: The files each output folder's verbs write under fixed names: a folder in one's place
#: stops the verb when it writes it (train only after its last epoch).
OUTPUT_FILES = {
    "MMAR_CKPT_DIR": ("model.ckpt.index", "model.ckpt.data-00000-of-00001",
                      "model_final.ckpt.index", "model_final.ckpt.data-00000-of-00001",
                      "training_summary.json", "metrics_history.jsonl",
                      "learning_curves.png", "model.fzn.pb", "model.onnx", "export.json"),
    # (not report.html: a page that cannot be written is a warning, validate goes on)
    "MMAR_EVAL_OUTPUT_PATH": ("metrics.json", "metrics_per_case.csv", "metrics_summary.txt"),
}
#: The verbs that create each output folder when it is missing.
CREATED_BY = {"MMAR_CKPT_DIR": "train", "MMAR_EVAL_OUTPUT_PATH": "validate and infer"}


def output_folder_problems(workspace: Workspace, env: Mapping[str, Any],
                           overrides: Mapping[str, Any] | None = None) -> list[Problem]:
    """One problem per output folder that is a file or lies under one, or that a verb would
    create outside the MMAR along with missing parents (:func:`stray_folder_problem`).

    Args:
        workspace: the MMAR.
        env: ``environment.json``'s values with the path rule applied.
        overrides: ``--set`` values, which win over ``env``.
    """
    problems = []
    for key, default, use in OUTPUT_FOLDERS:
        given = (overrides or {}).get(key, env.get(key))
        if isinstance(given, str) and given and "{" not in given:
            folder, file, json_path = (workspace.root / given,
                                       "--set" if key in (overrides or {}) else
                                       workspace.display(workspace.config_path(ENVIRONMENT)),
                                       key)
        else:
            folder, file, json_path = workspace.root / default, "", ""
        blocking = _file_in_the_way(folder)
        if blocking is None:
            if json_path and key not in (overrides or {}):  # a path typed now is meant
                stray = stray_folder_problem(workspace, key, folder, file, json_path)
                problems.extend([stray] if stray else [])
            problems.extend(_folders_in_place_of_files(workspace, key, folder))
            continue
        shown = workspace.display(blocking)
        where = "is a file" if blocking == folder else f"lies under {shown}, which is a file"
        subject = workspace.display(folder) if blocking != folder else shown
        problems.append(Problem(file, json_path, f"{subject} {where}, not a folder: {use} "
                                f"(set {key} to a folder)"))
    return problems


def _folders_in_place_of_files(workspace: Workspace, key: str, folder: Path) -> list[Problem]:
    """A folder where ``key``'s verbs write a file of a fixed name (``model_final.ckpt.index``,
    ``eval/metrics.json``): one problem each, named by its path."""
    writers = {"MMAR_CKPT_DIR": "train, finetune and export write",
               "MMAR_EVAL_OUTPUT_PATH": "validate writes"}[key]
    return [Problem(workspace.display(folder / name), "",
                    f"is a folder, but {writers} a file of that name there (move it away)")
            for name in OUTPUT_FILES[key] if (folder / name).is_dir()]


def stray_folder_problem(workspace: Workspace, key: str, folder: Path, file: str,
                         json_path: str) -> Problem | None:
    """The problem with the output folder ``folder`` (``key``'s) when it is outside the MMAR
    and neither it nor its parent exists, else None.

    Args:
        workspace: the MMAR.
        key: ``MMAR_CKPT_DIR`` or ``MMAR_EVAL_OUTPUT_PATH``.
        folder: the folder the verbs would write (absolute).
        file: where the value was given (``config/environment.json``, ``--set``).
        json_path: the key, when ``file`` is given.
    """
    root = Path(os.path.realpath(workspace.root))
    folder = Path(os.path.abspath(folder))  # "../x" said as the folder it names
    if folder.exists() or folder.parent.exists():
        return None  # one new folder beside existing ones is what the user asked for
    if Path(os.path.realpath(folder)).is_relative_to(root):
        return None
    default = dict((k, d) for k, d, _ in OUTPUT_FOLDERS)[key]
    return Problem(file, json_path,
                   f"{folder} does not exist, nor does its parent, and it is outside the MMAR "
                   f"(a path from Clara's container?): {CREATED_BY[key]} would create that "
                   f"whole tree; set {key} to {default} (--set {key}={default}), or create "
                   f"{folder.parent} first to keep it there")


def require_output_folder(workspace: Workspace, key: str, folder: Path,
                          overrides: Mapping[str, Any] | None = None) -> None:
    """Refuse, before a verb creates ``folder`` (``key``'s output folder, e.g. by locking it),
    what :func:`stray_folder_problem` reports of a value from environment.json (one given
    with ``--set``, in ``overrides``, is created as typed).

    Raises:
        ConfigError: naming environment.json, the key and the fix.
    """
    if key in (overrides or {}):
        return
    file = workspace.display(workspace.config_path(ENVIRONMENT))
    problem = stray_folder_problem(workspace, key, Path(folder), file, key)
    if problem is not None:
        raise ConfigError(problem.message, file=problem.file, json_path=problem.json_path)


def output_folder(workspace: Workspace, key: str, env: Mapping[str, Any],
                  overrides: Mapping[str, Any] | None = None) -> Path:
    """The folder ``key`` (``MMAR_CKPT_DIR`` or ``MMAR_EVAL_OUTPUT_PATH``) names: ``--set``,
    else environment.json, else its default under the MMAR (relative to the MMAR root)."""
    given = (overrides or {}).get(key, env.get(key))
    if isinstance(given, str) and given and "{" not in given:
        return workspace.root / given
    return workspace.root / dict((k, d) for k, d, _ in OUTPUT_FOLDERS)[key]


def eval_folder_unwritable(workspace: Workspace, env: Mapping[str, Any],
                           overrides: Mapping[str, Any] | None = None,
                           *, severity: str = NOTE) -> list[Problem]:
    """The finding when ``MMAR_EVAL_OUTPUT_PATH`` (default eval/, infer's ``--output``)
    cannot be written, or not created where it is missing (a read-only mount, a folder of
    another user): validate and infer take their lock and write their results there, so
    both refuse to run. A note for the whole MMAR (train does not write there, as a
    read-only models/ is a note); ``severity`` ERROR for validate's and infer's pre-flight
    and when the user asked about a validation config."""
    folder = output_folder(workspace, "MMAR_EVAL_OUTPUT_PATH", env, overrides)
    existing = Path(os.path.abspath(folder))
    if not existing.exists():
        # its folder; a deeper missing tree is stray_folder_problem's line (or made as typed)
        existing = existing.parent
    if not existing.is_dir() or os.access(existing, os.W_OK | os.X_OK):
        return []  # a file in the way is output_folder_problems' line
    place = "the MMAR folder" if existing == Path(os.path.abspath(workspace.root)) else \
        workspace.display(existing)
    what = "not writable" if existing == Path(os.path.abspath(folder)) else \
        f"cannot be created: {place} is not writable"
    return [Problem(workspace.display(folder), "",
                    f"{what} ({_why_unwritable(existing)}): validate and infer "
                    "write their results there, so they refuse to run (make it writable, or "
                    "write elsewhere: --set MMAR_EVAL_OUTPUT_PATH=FOLDER, infer --output "
                    "FOLDER)", severity)]


def _why_unwritable(folder: Path) -> str:
    """"read-only file system" or "no permission": os.access says only that it cannot."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "no permission"


def file_in_the_way(folder: Path) -> Path | None:
    """The file that stops ``folder`` being a folder (itself or an ancestor), else None:
    :func:`output_folder_problems` reports it, and nothing can be read from or written
    under it."""
    return _file_in_the_way(Path(folder))


def _file_in_the_way(folder: Path) -> Path | None:
    """``folder`` itself or its nearest existing ancestor when that is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None
