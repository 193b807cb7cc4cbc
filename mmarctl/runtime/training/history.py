"""``models/metrics_history.jsonl``: one JSON line per finished epoch, the run's plain record.

TensorBoard events need TensorFlow (or TensorBoard) to read; this file needs nothing, so the
light layer reads it: ``mmarctl automl`` follows a trial's validation points from it (for
pruning) and takes the trial's result from ``models/training_summary.json``, written at the end.

Each line::

    {"epoch": 3, "epochs": 40, "phase": "train", "loss": 0.41, "learning_rate": 0.0009,
     "metrics": {"val_mean_dice": 0.71}, "key_metric": "val_mean_dice", "best_metric": 0.71,
     "best_epoch": 3, "seconds": 12.5}

``metrics`` is empty on epochs without validation. ``phase`` is ``finetune`` for a finetune
run; a resumed or finetuned run appends to the same file, so the history stays continuous.
Epochs are 1-based, as in every log line.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Mapping

from mmarctl.jsonio import write_json_atomic
from mmarctl.run_records import HISTORY, SUMMARY
from mmarctl.runtime.training.contract import Callback, TrainState


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class HistoryWriter(Callback):
    """Appends an epoch record to ``models/metrics_history.jsonl``; writes the run summary
    ``models/training_summary.json`` at the end, on interrupt and on failure (chief only)."""

    def __init__(self, models_dir: Path, phase: str = "train",
                 settings: Mapping[str, Any] | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.phase = phase
        # The run's --set values (with --epochs/--learning-rate): what it trained with
        # beyond its config files, for `mmarctl compare` (JSON values only).
        self.settings = {key: value for key, value in (settings or {}).items()
                         if isinstance(value, (str, int, float, bool, list, dict, type(None)))}
        self._learning_rate: float | None = None
        self._started = time.monotonic()

    def on_train_begin(self, state: TrainState) -> None:
        self._started = time.monotonic()

    def on_step_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if "learning_rate" in logs:
            self._learning_rate = float(logs["learning_rate"])

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        metrics = {name: _finite_or_none(float(value)) for name, value in logs.items()
                   if name not in ("loss", "time_s")}
        record = {"epoch": state.epoch + 1, "epochs": state.epochs, "phase": self.phase,
                  "loss": _finite_or_none(float(logs.get("loss", math.nan))),
                  "learning_rate": self._learning_rate, "metrics": metrics,
                  "key_metric": state.key_metric,
                  "best_metric": _finite_or_none(state.best_metric),
                  "best_epoch": state.best_epoch + 1 if state.best_epoch >= 0 else None,
                  "seconds": round(time.monotonic() - self._started, 3)}
        self.models_dir.mkdir(parents=True, exist_ok=True)
        with open(self.models_dir / HISTORY, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")

    def _write_summary(self, state: TrainState, status: str, error: str | None = None) -> None:
        summary = {"status": status, "phase": self.phase, "key_metric": state.key_metric,
                   "best_metric": _finite_or_none(state.best_metric),
                   "best_epoch": state.best_epoch + 1 if state.best_epoch >= 0 else None,
                   "epochs": state.epochs,
                   "epochs_finished": state.last_finished_epoch + 1,
                   "seconds": round(time.monotonic() - self._started, 3)}
        if self.settings:
            summary["settings"] = self.settings
        if error is not None:
            summary["error"] = error
        write_json_atomic(self.models_dir / SUMMARY, summary)  # readers never see half a file

    def on_train_end(self, state: TrainState) -> None:
        self._write_summary(state, "finished")

    def on_interrupt(self, state: TrainState) -> None:
        self._write_summary(state, "interrupted")

    def on_failure(self, state: TrainState, error: Exception) -> None:
        # Else a previous run's "finished" summary would stand for this one. A run that
        # failed before any record (no history line, no earlier summary) writes nothing:
        # its models/ folder, made only for the run's lock, then goes with the lock.
        if not ((self.models_dir / SUMMARY).exists() or (self.models_dir / HISTORY).exists()):
            return
        self._write_summary(state, "failed", (str(error).strip().splitlines() or [""])[0]
                            or type(error).__name__)
