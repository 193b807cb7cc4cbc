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
