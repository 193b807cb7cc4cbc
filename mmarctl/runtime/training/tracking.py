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
"""

from __future__ import annotations

import math
import time
from typing import Any

from mmarctl.runtime.training.contract import Callback, TrainState


class TrackingCallback(Callback):
    """Feeds one tracked run from the training events.

    Args:
        tracker: a started :class:`mmarctl.tracking.Tracker`.
        root: the MMAR (for the end artifacts).
        step_every_s: the shortest interval between two logged step points.
    """

    def __init__(self, tracker: Any, root: Any, step_every_s: float = 1.0) -> None:
        self.tracker = tracker
        self.root = root
        self.step_every_s = step_every_s
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

    def on_interrupt(self, state: TrainState) -> None:
        self._finish(state, "KILLED")

    def on_failure(self, state: TrainState, error: Exception) -> None:
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

    options, workspace = plan.options, plan.workspace
    settings = resolve_settings(workspace.root, mode=getattr(options, "tracking", None),
                                uri=getattr(options, "tracking_uri", None),
                                variables=plan.resolved.variables)
    verb = "finetune" if options.finetune_from else "train"
    extra = {"mmarctl.steps_per_epoch": plan.state.steps_per_epoch,
             "mmarctl.processes": plan.backend.size, "mmarctl.seed": plan.seed,
             "mmarctl.resume": bool(options.resume),
             "mmarctl.finetune_from": options.finetune_from}
    tracker = open_run(workspace.root, settings, verb=verb, phase=verb,
                       config=plan.resolved.data, record_dir=plan.checkpoint_dir,
                       extra_params={k: v for k, v in extra.items() if v is not None})
    return [] if tracker is None else [TrackingCallback(tracker, workspace.root)]
