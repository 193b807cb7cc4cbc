"""What a training run leaves in models/ for others to read, without TensorFlow.

``metrics_history.jsonl`` (one record per finished epoch) and ``training_summary.json`` (the
run's outcome) are written by :class:`mmarctl.runtime.training.history.HistoryWriter`; this
module names them and reads them for the light layer (automl, reports, compare).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HISTORY = "metrics_history.jsonl"
SUMMARY = "training_summary.json"


def read_history(models_dir: Path) -> list[dict[str, Any]]:
    """The epoch records of ``models_dir``, oldest first; a torn last line is skipped."""
    path = Path(models_dir) / HISTORY
    records: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the writer is still appending this line
        if isinstance(record, dict):
            records.append(record)
    return records


def read_summary(models_dir: Path) -> dict[str, Any] | None:
    """``training_summary.json`` of ``models_dir``, or None when absent or unreadable."""
    try:
        summary = json.loads((Path(models_dir) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def model_file(prefix_or_file: Path) -> Path:
    """The file that stands for a model: a checkpoint prefix's ``.index`` (small, and it
    changes with every save: it holds each tensor's checksum), else the file itself."""
    path = Path(prefix_or_file)
    index = path.with_name(path.name + ".index")
    return index if index.is_file() else path


def run_started(models: Path) -> float | None:
    """When the training run whose records ``models`` holds began: the earliest time in
    its TensorBoard event files' names (``events.out.tfevents.<unix time>.<host>...``; a
    new train or finetune moves the earlier runs' files to ``previous_runs/``, a resumed
    run adds its own). None without any."""
    times = []
    for path in Path(models).glob("events.out.tfevents.*"):
        stamp = path.name.split(".")[3] if path.name.count(".") >= 3 else ""
        if stamp.isdigit():
            times.append(float(stamp))
    return min(times, default=None)


def earlier_run_warning(prefix: Path, shown: str) -> str | None:
    """One line when the checkpoint at ``prefix`` was saved before the training run whose
    records its folder holds began: that run (stopped, or still before its first best
    model) has saved none, so validate, infer and export would use an earlier run's model
    without a word. None when the checkpoint is the current run's, or nothing can be told.

    Args:
        prefix: the checkpoint prefix (``models/model.ckpt``) or model file.
        shown: the checkpoint as messages name it.
    """
    import time

    started = run_started(Path(prefix).parent)
    try:
        saved = model_file(prefix).stat().st_mtime
    except OSError:
        return None
    if started is None or saved >= started:
        return None
    stamp = "%Y-%m-%d %H:%M"
    return (f"{shown} was saved by an earlier training run "
            f"({time.strftime(stamp, time.localtime(saved))}); the current run, begun "
            f"{time.strftime(stamp, time.localtime(started))}, has saved no model yet "
            "(stopped, or still before its first validation): this uses the earlier model")


def model_fingerprint(path: Path, root: Path | None = None) -> dict[str, Any] | None:
    """What ``validate`` records in ``eval/metrics.json`` about the model it validated:
    ``{"file": path (relative to the MMAR ``root`` when inside it), "mtime": seconds,
    "sha256": hex}``, so that a later reader can tell the model was replaced since (see
    :func:`model_replaced`). None when the file cannot be read."""
    path = model_file(path)
    try:
        stat = path.stat()
        digest = _sha256(path)
    except OSError:
        return None
    shown = str(path.resolve())
    if root is not None:
        try:
            shown = str(path.resolve().relative_to(Path(root).resolve()))
        except ValueError:
            pass
    return {"file": shown, "mtime": stat.st_mtime, "sha256": digest}


def model_replaced(record: Any, root: Path) -> bool:
    """True when the model file a ``validate`` recorded (:func:`model_fingerprint`) holds
    another model now (retrained, finetuned); False when it is the same or cannot be told
    (no record, the file gone). A copied MMAR is not flagged: only the content counts, and
    the hash is computed only when the file's time changed."""
    if not isinstance(record, dict) or not isinstance(record.get("file"), str) \
            or not isinstance(record.get("sha256"), str):
        return False
    path = Path(record["file"])
    if not path.is_absolute():
        path = Path(root) / path
    try:
        if path.stat().st_mtime == record.get("mtime"):
            return False
        return _sha256(path) != record["sha256"]
    except OSError:
        return False


def _sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (a checkpoint can be large)."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text_of(path: Path, shown: str | None) -> tuple[str | None, str | None]:
    """(the file's text, None), or (None, why it cannot be read as ``FILE: reason``), or
    (None, None) when it is absent."""
    try:
        return path.read_text(encoding="utf-8"), None
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as error:
        return None, f"{shown or path}: cannot be read ({error})"


def summary_problem(models_dir: Path, shown: str | None = None) -> str | None:
    """Why ``training_summary.json`` is there but cannot be read (cut off, hand-edited), as
    ``FILE: reason``; None when it reads or is absent. :func:`read_summary` reads such a
    file as absent; a report must not show it as a run that wrote none."""
    path = Path(models_dir) / SUMMARY
    text, unreadable = _text_of(path, shown)
    if text is None:
        return unreadable
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return f"{shown or path}:{error.lineno}:{error.colno}: invalid JSON ({error.msg})"
    if not isinstance(data, dict):
        return f"{shown or path}: expected a JSON object"
    return None


def history_problem(models_dir: Path, shown: str | None = None) -> str | None:
    """Why ``metrics_history.jsonl`` has lines that are not epoch records, as
    ``FILE:LINE: reason`` (the first, and how many); None when every line reads. The last
    line without its newline is the writer appending it (not a problem): a complete line
    that is not JSON, or one in the middle, is damage that :func:`read_history` skips."""
    path = Path(models_dir) / HISTORY
    text, unreadable = _text_of(path, shown)
    if text is None:
        return unreadable
    lines = text.split("\n")
    bad: list[int] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or (number == len(lines)):  # "" after the last newline, or torn
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad.append(number)
            continue
        if not isinstance(record, dict):
            bad.append(number)
    if not bad:
        return None
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"{shown or path}:{bad[0]}: not an epoch record{more}; skipped"
