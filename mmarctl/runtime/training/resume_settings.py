"""What a stopped run was started with, kept beside its resume state for ``--resume``.

A run stopped by Ctrl-C/SIGTERM/SIGHUP writes ``resume/run.json`` next to
``resume/model.ckpt``: its ``--set`` values (``--epochs``/``--learning-rate`` included, as
the globals they set) and the number of epochs it was training. ``train --resume`` reuses
those values when they are not given again, so ``mmarctl train MMAR --resume`` continues the
same run rather than one with the config's settings; a value given again must be the same,
except ``epochs``, which may be raised to train longer.

Plain JSON, read before TensorFlow starts (a refused resume costs no start-up).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from mmarctl.errors import RuntimeFailure, UsageError

#: The file beside the resume checkpoint.
RUN_FILE = "run.json"


def write_run_settings(resume_dir: Path, overrides: Mapping[str, Any], epochs: int) -> Path:
    """Write ``run.json`` in ``resume_dir`` atomically (a reader sees the old file or the new).

    Returns:
        the file written.
    """
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    path = resume_dir / RUN_FILE
    tmp = path.with_name(f"{RUN_FILE}.tmp-{os.getpid()}")
    payload = {"overrides": dict(overrides), "epochs": int(epochs)}
    try:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_run_settings(resume_dir: Path, shown_as: str | None = None) -> dict[str, Any] | None:
    """The stopped run's settings (``{"overrides": {...}, "epochs": N}``), or None when
    ``run.json`` is absent (a resume state written before it was kept).

    Raises:
        RuntimeFailure: the file is there but unreadable or not what this module writes.
    """
    path = Path(resume_dir) / RUN_FILE
    if not path.is_file():
        return None
    shown = shown_as or str(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RuntimeFailure(f"{shown}: the stopped run's settings cannot be read ({error})",
                             hint="start a fresh run without --resume") from error
    if (not isinstance(data, dict) or not isinstance(data.get("overrides"), dict)
            or not isinstance(data.get("epochs"), int) or isinstance(data["epochs"], bool)):
        raise RuntimeFailure(f"{shown}: expected an object with \"overrides\" (an object) and "
                             "\"epochs\" (an integer)",
                             hint="start a fresh run without --resume")
    return data


def _same(a: Any, b: Any) -> bool:
    # As they would be written to run.json: 3 and 3.0 are the same value, "3" is not.
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                       default=str)


def _shown(key: str, values: Mapping[str, Any]) -> str:
    if key not in values:
        return f"{key} unset"
    return f"{key}={json.dumps(values[key], default=str)}"


def merge_overrides(saved: Mapping[str, Any], given: Mapping[str, Any]
                    ) -> tuple[dict[str, Any], str | None]:
    """The overrides a resumed run trains with, and a note to print (or None).

    The stopped run's values, with ``epochs`` raised when ``given`` raises it. Not given
    again, ``epochs`` is the stopped run's (even when it came from the config).

    Raises:
        UsageError: ``given`` sets a value other than the stopped run's (one not set then
            counts as different), or fewer epochs.
    """
    stored = dict(saved["overrides"])
    run_epochs = int(saved["epochs"])
    merged = dict(stored)
    merged["epochs"] = run_epochs
    note = None
    differ = [key for key in given
              if key != "epochs" and (key not in stored or not _same(stored[key], given[key]))]
    epochs = given.get("epochs", run_epochs)
    counted = isinstance(epochs, int) and not isinstance(epochs, bool)
    if not counted:
        merged["epochs"] = epochs  # not a count: the settings reader refuses it, as always
    lowered = counted and epochs < run_epochs
    if differ or lowered:
        keys = differ + (["epochs"] if lowered else [])
        was = {**stored, "epochs": run_epochs}
        raise UsageError(
            "--resume: the stopped run was started with "
            + ", ".join(_shown(key, was) for key in keys) + "; this command gives "
            + ", ".join(_shown(key, given) for key in keys),
            hint="leave them out to continue with the run's own values (only epochs may "
                 "differ, and only upward), or start a new run without --resume")
    if counted and epochs > run_epochs:
        merged["epochs"] = epochs
        note = (f"note: --resume trains longer than the stopped run: epochs {run_epochs} -> "
                f"{epochs} (the learning-rate schedule now spans {epochs} epochs)")
    return merged, note


def require_resume_state(workspace: Any, checkpoint_dir: Path) -> Path:
    """The resume state's checkpoint prefix in ``checkpoint_dir`` (``resume/model.ckpt``).

    ``train --resume`` asks before any worker or TensorFlow starts, and the training plan
    again when it restores; both say the same line.

    Raises:
        RuntimeFailure: no stopped run left one there.
    """
    from mmarctl.runtime import checkpoint

    prefix = Path(checkpoint_dir) / "resume" / "model.ckpt"
    if not checkpoint.exists(prefix):
        raise RuntimeFailure(f"nothing to resume: no {workspace.display(prefix)}",
                             hint="--resume continues a run stopped with Ctrl-C, SIGTERM or "
                                  "SIGHUP; start a new run without it")
    return prefix
