"""The folders verbs write into must be folders: ``MMAR_CKPT_DIR`` and ``MMAR_EVAL_OUTPUT_PATH``.

train writes checkpoints into ``MMAR_CKPT_DIR`` (default ``models/``) and validate and
infer write their results into ``MMAR_EVAL_OUTPUT_PATH`` (default ``eval/``); both start by
taking a lock file inside. A value that names an existing file (a typo such as
``config/environment.json``), or lies under one, makes every one of those verbs refuse; one
that does not exist yet is fine (the verbs create it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mmarctl.problems import Problem
from mmarctl.workspace import ENVIRONMENT, Workspace

#: Each output folder's variable, its default under the MMAR, and the verbs that write there.
OUTPUT_FOLDERS = (
    ("MMAR_CKPT_DIR", "models", "train and finetune write checkpoints there, and validate, "
                                "infer and export read them"),
    ("MMAR_EVAL_OUTPUT_PATH", "eval", "validate and infer write their results there"),
)


def output_folder_problems(workspace: Workspace, env: Mapping[str, Any],
                           overrides: Mapping[str, Any] | None = None) -> list[Problem]:
    """One problem per output folder that is a file or lies under one.

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
            continue
        shown = workspace.display(blocking)
        where = "is a file" if blocking == folder else f"lies under {shown}, which is a file"
        subject = workspace.display(folder) if blocking != folder else shown
        problems.append(Problem(file, json_path, f"{subject} {where}, not a folder: {use} "
                                f"(set {key} to a folder)"))
    return problems


def _file_in_the_way(folder: Path) -> Path | None:
    """``folder`` itself or its nearest existing ancestor when that is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None
