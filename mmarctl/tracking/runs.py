"""The runs mmarctl's verbs open: their tags, params and end artifacts, and the record of the
training run that ``validate`` nests under.

A tracked train or finetune writes ``models/tracking.json`` (``tracking_uri``,
``experiment_id``, ``run_id``) once its run exists. ``mmarctl validate`` on that MMAR, tracked
to the same URI, logs its run as a child of that training run (``mlflow.parentRunId``), in
the same experiment; otherwise its run stands alone.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Mapping

import mmarctl
from mmarctl.jsonio import write_json_atomic
from mmarctl.tracking.params import config_hash, config_params
from mmarctl.tracking.settings import TrackingSettings
from mmarctl.tracking.tracker import Tracker

RECORD = "tracking.json"
#: What a run uploads at its end when present, relative to the MMAR: (path, artifact folder).
END_ARTIFACTS = (("config", "config"), ("models/learning_curves.png", "models"),
                 ("models/export.json", "models"), ("eval/report.html", "eval"))


def warn_line(line: str) -> None:
    """The one line a tracking problem gets (stderr)."""
    from mmarctl.console import err

    err.print(line, highlight=False, soft_wrap=True)


def open_run(root: Path, settings: TrackingSettings, *, verb: str, phase: str,
             config: Mapping[str, Any], run_name: str | None = None,
             record_dir: Path | None = None, extra_params: Mapping[str, Any] | None = None,
             warn: Callable[[str], None] = warn_line,
             resume_run_id: str | None = None) -> Tracker | None:
    """Start a tracked run for ``verb`` on the MMAR at ``root``, or None when off.

    Tags: ``mmarctl.mmar`` (the MMAR's path), ``mmarctl.config_hash``, ``mmarctl.version``,
    ``mmarctl.verb``, ``mmarctl.phase`` (+ ``mmarctl.study`` and ``mmarctl.trial`` for an
    automl trial). Params: the resolved config (:func:`config_params`) and ``extra_params``.
    A settings ``problem`` (a URI that does not parse) is said in one line here.
    ``resume_run_id``: continue that run (an automl study resumed) when it still exists.
    """
    if not settings.enabled:
        if settings.problem:
            warn(f"warning: {settings.problem}; going on untracked")
        return None
    root = Path(root).resolve()
    tags = {"mmarctl.mmar": str(root), "mmarctl.config_hash": config_hash(config),
            "mmarctl.version": mmarctl.__version__, "mmarctl.verb": verb,
            "mmarctl.phase": phase, "mlflow.source.name": "mmarctl",
            "mlflow.source.type": "LOCAL"}
    name = run_name or f"{root.name} {verb}"
    params = dict(extra_params or {})
    trial = settings.trial
    if trial:
        tags["mmarctl.study"] = str(trial.get("study", ""))
        tags["mmarctl.trial"] = str(trial.get("trial", ""))
        tags["mmarctl.phase"] = "trial"
        name = f"trial_{int(trial.get('trial', 0)):03d}" if str(
            trial.get("trial", "")).isdigit() else name
        for key, value in (trial.get("values") or {}).items():
            params[f"automl.{key}"] = value

    def on_run(run_id: str) -> None:
        if record_dir is None:
            return
        try:
            write_json_atomic(Path(record_dir) / RECORD, {
                "tracking_uri": settings.uri, "experiment_id": tracker.experiment_id,
                "run_id": run_id, "verb": verb})
        except OSError:
            pass  # an unwritable models/ loses only validate's nesting

    tracker = Tracker(settings, run_name=name, tags=tags, warn=warn, on_run=on_run,
                      resume_run_id=resume_run_id).start()
    tracker.log_params({**config_params(config), **params})
    return tracker


def log_end_artifacts(tracker: Tracker, root: Path) -> None:
    """The configs, learning curves, eval report and export manifest that exist now."""
    for relative, folder in END_ARTIFACTS:
        path = Path(root) / relative
        if path.exists():
            tracker.log_artifact(path, folder)


def training_run(models_dir: Path) -> dict[str, Any] | None:
    """``models/tracking.json`` of the last tracked training run, or None."""
    try:
        record = json.loads((Path(models_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("run_id") else None


def nested_under_training(settings: TrackingSettings, models_dir: Path) -> TrackingSettings:
    """``settings`` with the MMAR's training run as parent, when it was tracked to the same
    URI (and no automl parent is set)."""
    record = training_run(models_dir)
    if (not settings.enabled or settings.parent_run_id or record is None
            or record.get("tracking_uri") != settings.uri):
        return settings
    return dataclasses.replace(settings, parent_run_id=str(record["run_id"]),
                               experiment_id=str(record.get("experiment_id") or "") or None)


def open_validation(workspace: Any, *, mode: str | None, uri: str | None, config: str,
                    overrides: Mapping[str, Any], model: str | None) -> Tracker | None:
    """Start the tracked run of a ``mmarctl validate`` before it validates, so that
    ``import mlflow`` and connecting (a dead or hung server: up to ~20 s) overlap the
    validation instead of following it; None when untracked (or the config does not
    resolve: validate itself says why). End it with :func:`finish_validation`, or
    ``close("FAILED")`` when validation fails."""
    from mmarctl.errors import MmarError
    from mmarctl.tracking.settings import resolve_settings

    try:
        resolved = workspace.resolve(config, dict(overrides))
    except MmarError:
        return None
    settings = resolve_settings(workspace.root, mode=mode, uri=uri,
                                variables=resolved.variables)
    settings = nested_under_training(settings, workspace.checkpoint_dir(resolved.variables))
    return open_run(workspace.root, settings, verb="validate", phase="validate",
                    config=resolved.data, extra_params={"mmarctl.model": model or "config"})


def finish_validation(tracker: Tracker | None, workspace: Any, report: Any) -> None:
    """Log a finished validation into the run :func:`open_validation` started: its summary
    metrics, the case count, the eval files and the config as artifacts; waits at most
    20 s for the upload."""
    if tracker is None:
        return
    tracker.log_params({"mmarctl.cases": report.cases})
    tracker.log_metrics(report.metrics, step=0)
    output = Path(report.output_dir)
    for name in ("metrics.json", "metrics_per_case.csv", "metrics_summary.txt",
                 "report.html"):
        if (output / name).is_file():
            tracker.log_artifact(output / name, "eval")
    tracker.log_artifact(workspace.config_dir, "config")
    tracker.close("FINISHED")


def track_validation(workspace: Any, report: Any, *, mode: str | None, uri: str | None,
                     config: str, overrides: Mapping[str, Any],
                     model: str | None) -> None:
    """Log a finished ``mmarctl validate`` as a run: its summary metrics, the validation
    config as params, the eval files as artifacts (nested under the training run when
    :func:`nested_under_training` finds it). Waits at most 20 s for the upload.
    (:func:`open_validation` before validating and :func:`finish_validation` after do the
    same without the wait for the connection at the end.)"""
    tracker = open_validation(workspace, mode=mode, uri=uri, config=config,
                              overrides=overrides, model=model)
    finish_validation(tracker, workspace, report)
