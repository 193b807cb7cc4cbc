"""mmarctl's own training callbacks: checkpoints (best, final, resume) and progress.

Only the chief process (rank 0) writes files or draws progress; other ranks get no
instances of these callbacks.
"""

from __future__ import annotations

import logging
import math
import numbers
import shutil
from pathlib import Path
from typing import Any

from mmarctl.runtime import checkpoint
from mmarctl.runtime.training.contract import Callback, TrainState
from mmarctl.runtime.training.kept_checkpoints import (BEST, FINAL, keep_finetune_start,
                                                       remove_tf1_graph, set_aside_tf1_graph)
from mmarctl.runtime.training.resume_settings import RUN_FILE, write_run_settings

log = logging.getLogger("mmarctl.train")

RESUME_DIR = "resume"
#: Why a Dice key metric is NaN on every case, for the warning.
_NAN_HINT = (" (Dice is undefined on a case whose label and prediction have no foreground: "
             "check that the validation labels hold the structure)")


class CheckpointSaver(Callback):
    """Saves ``model.ckpt`` in the checkpoint folder (``MMAR_CKPT_DIR``, ``models/`` by
    default) when the key metric improves, ``model_final.ckpt`` at the end, and a resumable
    state (model, optimizer, epoch, and the run's ``--set`` values in ``run.json``) in its
    ``resume/`` on interrupt: the model and optimizer as the last finished epoch left them
    (a copy is kept in host memory at each epoch's end), since ``--resume`` redoes the
    unfinished epoch, so that a seeded run stopped and resumed trains like one never stopped.

    Without validation metrics, ``model.ckpt`` is written after every epoch, so that
    validate/infer/export always find a model. When validation runs but its key metric is
    never finite (NaN on every validation: labels with no foreground give no Dice), the run
    ends by writing ``model.ckpt`` from its last epoch, with a warning: an earlier run's
    ``model.ckpt`` left there would be what validate/infer/export read.
    """

    def __init__(self, models_dir: Path, model: Any, optimizer: Any,
                 has_metrics: bool, overrides: dict[str, Any] | None = None,
                 resume_with: str = "mmarctl train --resume", workers: int = 1,
                 settings: dict[str, Any] | None = None, seed: int | None = None,
                 start: str | None = None,
                 training_data: dict[str, Any] | None = None, phase: str = "train") -> None:
        self.models_dir = Path(models_dir)
        self.start = start  # the checkpoint a finetune starts from (None: not a finetune)
        self.training_data = training_data  # kept in run.json: --resume notes a change
        self.phase = phase  # kept in run.json: a resumed finetune stays one
        self.model = model
        self.optimizer = optimizer
        self.has_metrics = has_metrics
        self.overrides = dict(overrides or {})  # the run's --set values, kept for --resume
        self.resume_with = resume_with  # the command the interrupt warning tells
        self.workers = workers  # kept in run.json: --resume re-derives the schedule if it changes
        self.settings = settings  # the resolved settings a resume must not change
        self.seed = seed  # the seed the run trains with: a plain --resume keeps it
        self._nan_told = False
        # The weights and optimizer variables as the last finished epoch left them (or as
        # the run started): the resume state is saved from these, since --resume redoes
        # the unfinished epoch from its start; saved as they were at the interrupt, that
        # epoch's finished steps would be applied twice.
        self._epoch_start: list[Any] | None = None
        self._saved: set[str] = set()  # BEST/FINAL written by this run (TF1 graphs set aside)

    def _state(self, state: TrainState) -> dict[str, Any]:
        return {"epoch": state.last_finished_epoch, "step": state.step,
                "finished_steps": state.finished_steps,
                "best_metric": state.best_metric, "best_epoch": state.best_epoch}

    def _variables(self) -> list[Any]:
        return list(self.model.weights) + list(getattr(self.optimizer, "variables", []) or [])

    def _keep_epoch_start(self) -> None:
        """Copy the weights and optimizer variables (host memory, once per epoch)."""
        self._epoch_start = [variable.numpy() for variable in self._variables()]

    def _save(self, name: str, **state: Any) -> None:
        """Save the model as ``name`` in the models folder; before this run's first save
        there, a Clara TF1 checkpoint in its place is kept in ``previous_runs/``."""
        prefix = self.models_dir / name
        if name not in self._saved:
            set_aside_tf1_graph(prefix)
        checkpoint.save_checkpoint(prefix, self.model, **state)
        if name not in self._saved:
            remove_tf1_graph(prefix)
            self._saved.add(name)

    def _back_to_epoch_start(self) -> None:
        """Put the copy of :meth:`_keep_epoch_start` back (the run is ending)."""
        variables = self._variables()
        if self._epoch_start is None or len(variables) != len(self._epoch_start):
            return  # (no copy: nothing ran yet)
        for variable, value in zip(variables, self._epoch_start):
            variable.assign(value)

    def on_train_begin(self, state: TrainState) -> None:
        self._keep_epoch_start()
        if self.start is not None:
            keep_finetune_start(self.models_dir, self.start)

    def on_validation_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        value = metrics.get(state.key_metric) if state.key_metric else None
        if isinstance(value, numbers.Real) and math.isnan(value) and not self._nan_told:
            self._nan_told = True  # once a run: every epoch would say the same
            log.warning("epoch %d: %s is NaN: no validation case gave a value%s; model.ckpt "
                        "is saved when it is a number (from the last epoch if it never is)",
                        state.epoch + 1, state.key_metric,
                        _NAN_HINT if "dice" in state.key_metric.lower() else "")
        if state.improved:
            self._save(BEST, epoch=state.epoch, best_metric=state.best_metric)
            log.info("epoch %d: %s improved to %.4f, saved %s", state.epoch + 1,
                     state.key_metric, state.best_metric, self.models_dir / BEST)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if not self.has_metrics:
            self._save(BEST, epoch=state.epoch)
        if state.epoch < state.epochs - 1:  # (after the last epoch no resume state is saved)
            self._keep_epoch_start()

    def on_train_end(self, state: TrainState) -> None:
        self._save(FINAL, **self._state(state))
        if state.best_epoch < 0 and (self.has_metrics
                                     or not checkpoint.exists(self.models_dir / BEST)):
            # No finite key metric was ever reached in this run (a resumed one keeps its
            # best_epoch): the final model is the best we have. A model.ckpt already there
            # is an earlier run's, which validate/infer/export would read without a word.
            stale = checkpoint.exists(self.models_dir / BEST)
            self._save(BEST, **self._state(state))
            if self.has_metrics and state.key_metric:
                log.warning("no validation gave a finite %s: %s is this run's last epoch "
                            "(as %s)%s", state.key_metric, self.models_dir / BEST, FINAL,
                            "; the earlier run's model.ckpt was replaced" if stale else "")
        shutil.rmtree(self.models_dir / RESUME_DIR, ignore_errors=True)

    def on_failure(self, state: TrainState, error: Exception) -> None:
        # Another worker of a multi-process run stopped: this one's weights and optimizer
        # are whole as of its last completed step (the failed collective applied nothing),
        # so the run can go on from there, as after a Ctrl-C. Any other failure (a NaN,
        # a bad case) leaves no resume state: the weights may be what went wrong.
        from mmarctl.runtime.distributed import is_peer_failure

        if is_peer_failure(error):
            self._save_resume(state, "another worker stopped")

    def on_interrupt(self, state: TrainState) -> None:
        self._save_resume(state, "interrupted")

    def _save_resume(self, state: TrainState, what: str) -> None:
        prefix = self.models_dir / RESUME_DIR / "model.ckpt"
        # The last finished epoch's weights and moments: --resume redoes the rest.
        self._back_to_epoch_start()
        # The checkpoint first, run.json last: a run.json is the sign of a complete state
        # (--resume refuses a checkpoint without it, and says so of one without its
        # checkpoint). An earlier stop's run.json goes first, so that it never stands
        # beside this stop's checkpoint.
        (prefix.parent / RUN_FILE).unlink(missing_ok=True)
        checkpoint.save_checkpoint(prefix, self.model, self.optimizer, **self._state(state))
        write_run_settings(prefix.parent, self.overrides, state.epochs, workers=self.workers,
                           settings=self.settings,
                           finished_epochs=state.last_finished_epoch + 1,
                           resume_with=self.resume_with, seed=self.seed,
                           training_data=self.training_data, phase=self.phase)
        where = "after" if state.last_finished_epoch == state.epoch else "in"
        log.warning("%s %s epoch %d; saved a resumable state in %s (continue with `%s`)",
                    what, where, state.epoch + 1, prefix.parent, self.resume_with)


class ProgressCallback(Callback):
    """The console progress bar (or periodic log lines) with loss and ETA.

    ``loss=`` is the mean of the epoch's step losses so far (as Keras shows it), so the
    line after an epoch's last step shows the epoch loss that metrics_history.jsonl,
    ``compare`` and the curves record, not that one step's.
    """

    def __init__(self, description: str = "train", enabled: bool = True) -> None:
        self.description = description
        self.enabled = enabled
        self._progress = None
        self._epoch: int | None = None
        self._loss_sum = 0.0
        self._steps = 0

    def on_train_begin(self, state: TrainState) -> None:
        from mmarctl.console import Progress

        total = (state.epochs - state.start_epoch) * max(state.steps_per_epoch, 1)
        self._progress = Progress(self.description, total, enabled=self.enabled)
        self._progress.__enter__()

    def on_step_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if state.epoch != self._epoch:
            self._epoch, self._loss_sum, self._steps = state.epoch, 0.0, 0
        self._loss_sum += float(logs["loss"])
        self._steps += 1
        if self._progress is not None:
            self._progress.update(1, epoch=f"{state.epoch + 1}/{state.epochs}",
                                  loss=self._loss_sum / self._steps)

    def on_validation_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        if self._progress is not None and metrics:
            self._progress.update(0, **metrics)

    def _close(self) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    def on_train_end(self, state: TrainState) -> None:
        self._close()

    def on_interrupt(self, state: TrainState) -> None:
        self._close()
