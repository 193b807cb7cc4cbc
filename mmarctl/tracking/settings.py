"""Whether a run is tracked, where to, and under which experiment.

Tracking is off unless something turns it on. First match wins::

    --tracking none                      off, whatever else says
    --tracking mlflow                    on
    --tracking-uri URI                   on, to URI
    MLFLOW_TRACKING_URI (environment)    on, to that URI
    "tracking": "mlflow" | "none"        a global of the config (or environment.json / --set)
    MLFLOW_TRACKING_URI (config key)     on, to that URI (environment.json, a global or --set)

The URI is ``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the config's
``MLFLOW_TRACKING_URI``, else the embedded store: ``sqlite:///<MMAR>/mlruns.db`` with
artifacts in ``<MMAR>/mlartifacts/`` (MLflow 3 refuses the old ``./mlruns`` folder store
unless ``MLFLOW_ALLOW_FILE_STORE`` is set, so SQLite it is).

The experiment is ``$MLFLOW_EXPERIMENT_ID``, else ``$MLFLOW_EXPERIMENT_NAME``, else the
config key ``tracking_experiment``, else the MMAR folder's name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from mmarctl.errors import UsageError

#: ``--tracking`` values.
MODES = ("mlflow", "none")
#: The environment variable (and config key) MLflow itself reads.
URI_VARIABLE = "MLFLOW_TRACKING_URI"
#: Set by ``mmarctl automl`` for its trial processes: the study's run (parent of the trial).
PARENT_VARIABLE = "MMARCTL_TRACKING_PARENT_RUN_ID"
#: Set by ``mmarctl automl`` for its trial processes: JSON {"study", "trial", "values"}.
TRIAL_VARIABLE = "MMARCTL_TRACKING_TRIAL"
#: The embedded store's files inside the MMAR.
EMBEDDED_DB = "mlruns.db"
EMBEDDED_ARTIFACTS = "mlartifacts"

#: URI schemes MLflow's tracking client understands (``+driver`` suffixes allowed).
_SCHEMES = {"http", "https", "sqlite", "postgresql", "mysql", "mssql", "file", "databricks",
            "databricks-uc", "uc"}
_DATABASES = {"postgresql", "mysql", "mssql"}


@dataclass(frozen=True)
class TrackingSettings:
    """Where one run is tracked (``enabled`` False: nowhere).

    Attributes:
        enabled: tracking is on.
        uri: the tracking URI (None when off).
        source: what chose the URI: ``--tracking-uri``, ``MLFLOW_TRACKING_URI``, ``config``
            or ``embedded``.
        experiment_name: the experiment to create or use.
        experiment_id: an existing experiment's id (automl trials), else None.
        artifact_location: for a new experiment in the embedded store, its artifact folder.
        parent_run_id: nest the run under this one (``mlflow.parentRunId``).
        trial: automl's description of this trial (``study``, ``trial``, ``values``), or {}.
        problem: why tracking is off although it was asked for (a URI that does not parse).
    """

    enabled: bool
    uri: str | None = None
    source: str = ""
    experiment_name: str = "mmarctl"
    experiment_id: str | None = None
    artifact_location: str | None = None
    parent_run_id: str | None = None
    trial: dict = field(default_factory=dict)
    problem: str | None = None


#: MLflow 3's switch that lets the old folder store (``file:``) be used.
FILE_STORE_VARIABLE = "MLFLOW_ALLOW_FILE_STORE"


def uri_problem(uri: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``uri`` is not a tracking URI MLflow can use, or None when it parses.

    A ``file:`` URI (MLflow's old folder store) is one unless ``MLFLOW_ALLOW_FILE_STORE``
    is true in ``environ`` (default ``os.environ``): MLflow 3 refuses it otherwise, and
    saying so before the run beats a cut-off MLflow message after it.
    """
    env = os.environ if environ is None else environ
    text = uri.strip()
    if not text:
        return "it is empty"
    if text in ("databricks", "databricks-uc"):  # MLflow's bare profile-less forms
        return None
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as error:
        return str(error)
    scheme = parts.scheme.lower()
    base = scheme.split("+", 1)[0]
    if not scheme:
        return "it has no scheme"
    if base not in _SCHEMES:
        return f"unknown scheme {scheme!r}"
    if base in ("http", "https") and not parts.hostname:
        return "no host"
    if base in _DATABASES and not parts.hostname:
        return "no database host"
    if base == "sqlite" and not text.startswith(f"{scheme}:///"):
        return "a SQLite URI is sqlite:///PATH"
    if base == "file" and str(env.get(FILE_STORE_VARIABLE, "")).strip().lower() not in (
            "true", "1"):
        return (f"MLflow 3 refuses the folder store (file:); use sqlite:///PATH/mlflow.db, "
                f"or set {FILE_STORE_VARIABLE}=true")
    del port
    return None


def check_cli_options(mode: str | None, uri: str | None) -> None:
    """``--tracking`` and ``--tracking-uri`` as typed: a usage error before anything runs.

    Raises:
        UsageError: ``--tracking`` is not mlflow/none, or ``--tracking-uri`` does not parse.
    """
    if mode is not None and mode not in MODES:
        raise UsageError(f"--tracking must be mlflow or none; Received: {mode!r}")
    if uri is not None and (problem := uri_problem(uri)):
        raise UsageError(f"--tracking-uri {uri!r} does not parse: {problem}",
                         hint="e.g. http://127.0.0.1:5000 or sqlite:///path/mlflow.db")


def _mode_from_config(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("mlflow", "true", "on"):
        return True
    if text in ("none", "false", "off", ""):
        return False
    return None


def embedded_uri(root: Path) -> str:
    """The embedded store of the MMAR at ``root`` (a SQLite file inside it)."""
    return f"sqlite:///{Path(root).resolve() / EMBEDDED_DB}"


def resolve_settings(root: Path, *, mode: str | None = None, uri: str | None = None,
                     variables: Mapping[str, Any] | None = None,
                     environ: Mapping[str, str] | None = None) -> TrackingSettings:
    """Tracking for a run on the MMAR at ``root`` (see the module docstring for the order).

    Args:
        root: the MMAR folder (the embedded store lives there).
        mode: ``--tracking`` (None, ``"mlflow"`` or ``"none"``).
        uri: ``--tracking-uri``.
        variables: the resolved config's variables (globals, environment.json, ``--set``).
        environ: the process environment (default ``os.environ``).

    A URI from the environment or the config that does not parse gives settings that are
    off, with ``problem`` saying why (the caller prints it in one line and runs untracked).
    """
    env = os.environ if environ is None else environ
    variables = variables or {}
    config_uri = variables.get(URI_VARIABLE)
    config_uri = str(config_uri) if config_uri not in (None, "") else None
    env_uri = env.get(URI_VARIABLE) or None
    if mode == "none":
        return TrackingSettings(False)
    if mode == "mlflow" or uri or env_uri:
        enabled = True
    else:
        from_config = _mode_from_config(variables.get("tracking"))
        enabled = from_config if from_config is not None else bool(config_uri)
    if not enabled:
        return TrackingSettings(False)
    for chosen, source in ((uri, "--tracking-uri"), (env_uri, URI_VARIABLE),
                           (config_uri, "config")):
        if chosen:
            break
    else:
        chosen, source = embedded_uri(root), "embedded"
    problem = uri_problem(chosen, env)
    if problem:
        return TrackingSettings(False, uri=chosen, source=source,
                                problem=f"tracking URI {chosen!r} ({source}) does not parse: "
                                        f"{problem}")
    artifacts = None
    if source == "embedded":
        artifacts = (Path(root).resolve() / EMBEDDED_ARTIFACTS).as_uri()
    experiment = (env.get("MLFLOW_EXPERIMENT_NAME") or variables.get("tracking_experiment")
                  or Path(root).resolve().name)
    trial: dict = {}
    if env.get(TRIAL_VARIABLE):
        try:
            trial = dict(json.loads(env[TRIAL_VARIABLE]))
        except (ValueError, TypeError):
            trial = {}
    return TrackingSettings(True, uri=chosen, source=source, experiment_name=str(experiment),
                            experiment_id=env.get("MLFLOW_EXPERIMENT_ID") or None,
                            artifact_location=artifacts,
                            parent_run_id=env.get(PARENT_VARIABLE) or None, trial=trial)
