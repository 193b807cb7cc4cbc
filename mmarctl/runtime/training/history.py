"""``models/metrics_history.jsonl``: one JSON line per finished epoch, the run's plain record.

TensorBoard events need TensorFlow (or TensorBoard) to read; this file needs nothing, so the
light layer reads it: ``mmarctl automl`` follows a trial's validation points from it (for
pruning) and takes the trial's result from ``models/training_summary.json``: ``"status":
"running"`` (with ``pid`` and ``host``) from the run's start, then ``finished``,
``interrupted`` or ``failed`` (with ``error``) at its end.

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
import logging
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Mapping

from mmarctl.errors import write_failed
from mmarctl.jsonio import write_json_atomic
from mmarctl.run_records import HISTORY, SUMMARY
from mmarctl.runtime.training.contract import Callback, TrainState

log = logging.getLogger("mmarctl.train")


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _base_settings(models_dir: Path) -> dict[str, Any]:
    """What the run a finetune continues trained with: the summary's ``base_settings`` (a
    finetune of a finetune, or a resumed one), else its ``settings`` ({} when none)."""
    from mmarctl.run_records import read_summary

    summary = read_summary(models_dir) or {}
    kept = summary.get("base_settings", summary.get("settings"))
    return dict(kept) if isinstance(kept, dict) else {}


class HistoryWriter(Callback):
    """Appends an epoch record to ``models/metrics_history.jsonl``; writes the run summary
    ``models/training_summary.json`` at the end, on interrupt and on failure (chief only)."""

    def __init__(self, models_dir: Path, phase: str = "train",
                 settings: Mapping[str, Any] | None = None, seed: int | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.phase = phase
        self.seed = seed  # --seed, else the config's determinism (None: unseeded)
        # The run's --set values (with --epochs/--learning-rate): what it trained with
        # beyond its config files, for `mmarctl compare` (JSON values only).
        self.settings = {key: value for key, value in (settings or {}).items()
                         if isinstance(value, (str, int, float, bool, list, dict, type(None)))}
        self._learning_rate: float | None = None
        self._started = time.monotonic()
        self._had_summary = False
        self._made_folder = False
        # A finetune keeps what the training it continues ran with, for `mmarctl compare`.
        self.base_settings: dict[str, Any] | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self._started = time.monotonic()
        # "running" (with the process) replaces the previous run's outcome at once: a run
        # killed outright (kill -9, the OOM killer) is never shown as that run's "finished".
        self._had_summary = (self.models_dir / SUMMARY).exists()
        self._made_folder = not self.models_dir.exists()
        if self.phase == "finetune":
            self.base_settings = _base_settings(self.models_dir)
        self._write_summary(state, "running")

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
        summary["seed"] = self.seed
        if self.base_settings is not None:
            summary["base_settings"] = self.base_settings
        if error is not None:
            summary["error"] = error
        if status == "running":
            summary["pid"] = os.getpid()
            summary["host"] = socket.gethostname()
        write_json_atomic(self.models_dir / SUMMARY, summary)  # readers never see half a file

    def on_train_end(self, state: TrainState) -> None:
        self._write_summary(state, "finished")

    def on_interrupt(self, state: TrainState) -> None:
        self._write_summary(state, "interrupted")

    def on_failure(self, state: TrainState, error: Exception) -> None:
        # Else a previous run's "finished" summary (or this run's "running") would stand
        # for this one. A run that failed before any record (no history line, no earlier
        # summary) leaves nothing: its models/ folder, made only for the run's lock, then
        # goes with the lock.
        if not (self._had_summary or (self.models_dir / HISTORY).exists()):
            (self.models_dir / SUMMARY).unlink(missing_ok=True)
            if self._made_folder:
                try:
                    self.models_dir.rmdir()
                except OSError:  # something else was written there meanwhile: keep it
                    pass
            return
        if state.ending:
            self._note_kept(state)
        # a file error in the words the user's error line has (the file, not a temporary)
        shown = str(write_failed(error, absolute=True) or error)
        self._write_summary(state, "failed", (shown.strip().splitlines() or [""])[0]
                            or type(error).__name__)

    def _note_kept(self, state: TrainState) -> None:
        """After every epoch ran, the final saves failed: say what the run kept (the best
        checkpoint, saved atomically during training, is whole)."""
        from mmarctl.runtime import checkpoint

        best = self.models_dir / "model.ckpt"
        if checkpoint.exists(best):
            at = (f" ({state.key_metric} {state.best_metric:.4f} at epoch {state.best_epoch + 1})"
                  if state.best_epoch >= 0 and math.isfinite(state.best_metric) else "")
            kept = f"{best} is intact{at}"
        else:
            kept = f"no {best.name} was saved"
        log.warning("every epoch ran (%d of %d), but the saves at the end failed; %s",
                    state.last_finished_epoch + 1, state.epochs, kept)
