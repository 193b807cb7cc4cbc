"""MLflow tracking of a training run, as a callback on the trainer's events (chief only).

What it logs (through :class:`mmarctl.tracking.Tracker`, which never blocks the loop):

* params: the resolved training config (globals, components and args) plus
  ``mmarctl.steps_per_epoch``, ``mmarctl.processes``, ``mmarctl.seed``, ``mmarctl.finetune_from``;
* per step (``step`` = global step): ``loss``, ``learning_rate`` and scalar aux-op tags, at
  most one point per ``step_every_s`` seconds (plus each epoch's first step);
* per epoch (``step`` = epoch, 1-based, as in metrics_history.jsonl): ``epoch_loss``,
  ``epoch_learning_rate``, ``epoch_seconds`` and every validation metric under its name;
* at the end: ``best_<key metric>`` and ``best_epoch``, the artifacts of
  :data:`mmarctl.tracking.runs.END_ARTIFACTS`; the run ends FINISHED, KILLED (Ctrl-C) or
  FAILED (an error such as a NaN loss).

A stopped run (Ctrl-C, SIGTERM) records its tracking in ``resume/run.json``; ``train
--resume`` tracks again without ``--tracking`` being repeated, into the same MLflow run (set
RUNNING again), unless ``--tracking``/``--tracking-uri`` say otherwise.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from mmarctl.runtime.training.contract import Callback, TrainState


class TrackingCallback(Callback):
    """Feeds one tracked run from the training events.

    Args:
        tracker: a started :class:`mmarctl.tracking.Tracker`.
        root: the MMAR (for the end artifacts).
        step_every_s: the shortest interval between two logged step points.
        resume_dir: where a stopped run's ``run.json`` is written (its tracking is added).
        uri: the URI to record there (None: the embedded store, found again on resume).
    """

    def __init__(self, tracker: Any, root: Any, step_every_s: float = 1.0,
                 resume_dir: Path | None = None, uri: str | None = None) -> None:
        self.tracker = tracker
        self.root = root
        self.step_every_s = step_every_s
        self.resume_dir = resume_dir
        self.uri = uri
        self._started = time.time()
        self._last_step_at = -math.inf
        self._epoch_first = True
        self._learning_rate: float | None = None

    def on_epoch_begin(self, state: TrainState) -> None:
        self._epoch_first = True

    def on_step_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if "learning_rate" in logs:
            self._learning_rate = float(logs["learning_rate"])
        now = time.monotonic()
        if self._epoch_first or now - self._last_step_at >= self.step_every_s:
            self._epoch_first = False
            self._last_step_at = now
            self.tracker.log_metrics(logs, step=state.step)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        values = {name: value for name, value in logs.items() if name not in ("loss", "time_s")}
        values["epoch_loss"] = logs.get("loss", math.nan)
        values["epoch_seconds"] = logs.get("time_s", math.nan)
        if self._learning_rate is not None:
            values["epoch_learning_rate"] = self._learning_rate
        self.tracker.log_metrics(values, step=state.epoch + 1)

    def _finish(self, state: TrainState, status: str) -> None:
        if state.key_metric and math.isfinite(state.best_metric):
            self.tracker.log_metrics({f"best_{state.key_metric}": state.best_metric,
                                      "best_epoch": state.best_epoch + 1}, step=state.epoch + 1)
        from mmarctl.tracking.runs import log_end_artifacts

        log_end_artifacts(self.tracker, self.root)
        self.tracker.close(status)

    def on_train_end(self, state: TrainState) -> None:
        self._finish(state, "FINISHED")

    def _remember(self) -> None:
        """Add this run's tracking to the resume state saved just now (the checkpoint saver
        runs first), so that ``--resume`` continues the same MLflow run."""
        if self.resume_dir is None:
            return
        from mmarctl.runtime.training.resume_settings import RUN_FILE, remember_tracking

        try:
            fresh = (Path(self.resume_dir) / RUN_FILE).stat().st_mtime >= self._started - 1
        except OSError:
            return
        if fresh:
            remember_tracking(self.resume_dir, {"uri": self.uri,
                                                "run_id": self.tracker.run_id})

    def on_interrupt(self, state: TrainState) -> None:
        self._remember()
        self._finish(state, "KILLED")

    def on_failure(self, state: TrainState, error: Exception) -> None:
        self._remember()  # another worker stopped: a resume state may have been saved
        # The run ends FAILED in close(); the tag says why, as the summary's "error" does.
        line = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
        self.tracker.set_tags({"mmarctl.error": line})

    def close(self) -> None:
        """Called after training whatever happened: a run not ended yet failed."""
        self.tracker.close("FAILED")


def tracking_callbacks(plan: Any) -> list[Callback]:
    """``[TrackingCallback]`` when the plan's run is tracked (chief only), else ``[]``."""
    if not plan.backend.is_chief:
        return []
    from mmarctl.tracking.runs import open_run
    from mmarctl.tracking.settings import resolve_settings

    from mmarctl.runtime.training.callbacks import RESUME_DIR
    from mmarctl.runtime.training.resume_settings import saved_tracking

    options, workspace = plan.options, plan.workspace
    resume_dir = Path(plan.checkpoint_dir) / RESUME_DIR
    mode = getattr(options, "tracking", None)
    uri = getattr(options, "tracking_uri", None)
    saved = saved_tracking(resume_dir) if options.resume else None
    if saved is not None and mode is None and uri is None:
        mode, uri = "mlflow", saved.get("uri")  # the stopped run was tracked: so is its rest
    settings = resolve_settings(workspace.root, mode=mode, uri=uri,
                                variables=plan.resolved.variables)
    recorded = None if settings.source == "embedded" else settings.uri
    resume_run_id = None
    if saved is not None and saved.get("run_id") and saved.get("uri") == recorded:
        resume_run_id = str(saved["run_id"])  # the same store: continue the stopped run
    verb = getattr(plan, "phase", None) or ("finetune" if options.finetune_from else "train")
    extra = {"mmarctl.steps_per_epoch": plan.state.steps_per_epoch,
             "mmarctl.processes": plan.backend.size, "mmarctl.seed": plan.seed,
             "mmarctl.resume": bool(options.resume),
             "mmarctl.finetune_from": options.finetune_from}
    tracker = open_run(workspace.root, settings, verb=verb, phase=verb,
                       config=plan.resolved.data, record_dir=plan.checkpoint_dir,
                       extra_params={k: v for k, v in extra.items() if v is not None},
                       resume_run_id=resume_run_id)
    if tracker is None:
        return []
    return [TrackingCallback(tracker, workspace.root, resume_dir=resume_dir, uri=recorded)]
