"""An AutoML study as a parent MLflow run, its trials as child runs.

The study's run (``mmarctl.phase`` = ``study``) holds the study's settings as params (the
search space as ``automl.space.<name>``, named as the trials' ``automl.<name>`` params), one
``trial_metric`` point per finished trial (``step`` = trial number), ``best_metric``,
``best_trial`` and ``best_validation``, and results.json/results.csv at the end. Its run id is
stored with the Optuna study, so ``--resume`` continues the same run (to the same URI)
instead of opening a second one. Each trial is a separate ``mmarctl train`` process: it
gets ``--tracking mlflow --tracking-uri URI`` and, in its environment, the parent's run id
(``MMARCTL_TRACKING_PARENT_RUN_ID``), the experiment (``MLFLOW_EXPERIMENT_ID``) and its own
number and values (``MMARCTL_TRACKING_TRIAL``), so its run is a child (``mlflow.parentRunId``)
named ``trial_NNN`` with the searched values as ``automl.*`` params.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmarctl.tracking.runs import open_run
from mmarctl.tracking.settings import PARENT_VARIABLE, TRIAL_VARIABLE, resolve_settings

#: The Optuna study's user attribute holding its MLflow run: {"uri": ..., "run_id": ...}.
RUN_ATTRIBUTE = "mlflow_run"
#: How long the study waits for its run to exist before starting trials untracked as children.
PARENT_WAIT_S = 20.0


class StudyTracking:
    """The study's run; ``None``-safe helpers so the study code needs no ``if``.

    Args:
        prepared: :class:`mmarctl.search.automl.Prepared`.
        mode, uri: ``--tracking`` and ``--tracking-uri``.
        variables: the training config's resolved variables (config keys of tracking).
    """

    def __init__(self, prepared: Any, mode: str | None, uri: str | None,
                 variables: dict[str, Any]) -> None:
        self.prepared = prepared
        self.settings = resolve_settings(prepared.workspace.root, mode=mode, uri=uri,
                                         variables=variables)
        self.tracker = None

    def start(self, study: Any = None) -> None:
        """Open the study's run (the one ``study``, an Optuna study, already has when it is
        resumed on the same URI) and hand the trials what they need to nest under it."""
        options = self.prepared.options
        space = space_params(self.prepared.space)
        previous = None
        if study is not None and self.settings.enabled:
            stored = study.user_attrs.get(RUN_ATTRIBUTE) or {}
            if stored.get("uri") == self.settings.uri:
                previous = stored.get("run_id")
        params = {"automl.run_id": options.run_id, "automl.config": options.config_name,
                  "automl.trials": self.prepared.total,
                  "automl.controller": self.prepared.settings.controller,
                  "automl.sampler": ("grid" if self.prepared.space.enum_only
                                     else self.prepared.settings.sampler),
                  "automl.workers": len(options.slots), "automl.seed": options.seed, **space}
        self.tracker = open_run(self.prepared.workspace.root, self.settings, verb="automl",
                                phase="study", config={}, run_name=f"automl {options.run_id}",
                                extra_params={k: v for k, v in params.items()
                                              if v is not None},
                                resume_run_id=previous)
        if self.tracker is None:
            return
        self.tracker.set_tags({"mmarctl.study": options.run_id})
        run_id = self.tracker.wait_for_run(PARENT_WAIT_S)
        if run_id is None:
            return  # the tracker said why in one line; trials run untracked
        if study is not None and run_id != previous:
            study.set_user_attr(RUN_ATTRIBUTE, {"uri": self.settings.uri, "run_id": run_id})
        options.train_flags += ["--tracking", "mlflow", "--tracking-uri", self.settings.uri]
        options.trial_env = {PARENT_VARIABLE: run_id,
                             "MLFLOW_EXPERIMENT_ID": str(self.tracker.experiment_id)}

    def trial_finished(self, number: int, outcome: Any) -> None:
        """One point per finished trial (its best key metric)."""
        if self.tracker is not None and outcome.metric is not None:
            self.tracker.log_metrics({"trial_metric": outcome.metric}, step=number)

    def finish(self, best: Any, status: str = "FINISHED",
               validation: dict[str, Any] | None = None) -> None:
        """The best metric, its validation (what ``mmarctl validate`` on the best MMAR
        gives), results files, and the end of the study's run."""
        if self.tracker is None:
            return
        if best is not None and best.metric is not None:
            self.tracker.log_metrics({"best_metric": best.metric,
                                      "best_trial": best.number}, step=0)
        if validation and validation.get("metric") is not None:
            self.tracker.log_metrics({"best_validation": validation["metric"]}, step=0)
        for name in ("results.json", "results.csv"):
            path = Path(self.prepared.study_dir) / name
            if path.is_file():
                self.tracker.log_artifact(path, "automl")
        self.tracker.close(status)


def space_params(space: Any) -> dict[str, Any]:
    """``automl.space.<name>`` per searched arg, named as the trials' ``automl.<name>``:
    a float's ``[low, high]``, an enum arg's values in target order."""
    params: dict[str, Any] = {}
    for dimension in space.dimensions:
        labels = dimension.labels or (dimension.key,)
        for index, label in enumerate(labels):
            params[f"automl.space.{label}"] = (
                list(dimension.targets) if dimension.type != "enum"
                else [target[index] for target in dimension.targets])
    return params


def trial_environment(base: dict[str, str], study: str, number: int,
                      values: dict[str, Any]) -> dict[str, str]:
    """The environment a trial process adds (empty when the study is not tracked)."""
    if not base:
        return {}
    trial = {"study": study, "trial": number, "values": values}
    return {**base, TRIAL_VARIABLE: json.dumps(trial, default=str)}
