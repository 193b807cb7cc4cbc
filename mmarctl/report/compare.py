"""``mmarctl compare``: clones of one experiment side by side, from what their runs left.

No TensorFlow, no Typer. For each MMAR it reads the training config resolved as training
reads it (:meth:`Workspace.resolve`: globals, environment.json, ``{VAR}`` placeholders),
``models/metrics_history.jsonl`` and ``training_summary.json``
(:mod:`mmarctl.run_records`), and ``eval/metrics.json`` when ``validate`` ran. The rows:

* ``globals``: every variable the config sees (its globals, then environment.json, then
  the ``--set`` values the run trained with, which ``training_summary.json`` records);
* ``components``: each leaf of the config's sections by JSON path
  (``train.loss.name``, ``train.optimizer.args.learning_rate``); a list of plain values is
  one leaf, a list of components is indexed (``train.pre_transforms[2].args.fields``);
* ``results``: status, best key metric and its epoch, epochs run, final loss, wall time,
  from the run's current lineage (see :mod:`mmarctl.report.curves`);
* ``eval``: each metric's value in ``eval/metrics.json``.

Paths inside an MMAR are shown as ``<MMAR>/...``, so two clones reading their own ``data/``
compare equal; so do two paths that name the same folder, such as a clone's ``DATA_ROOT``
(``clone`` points it at its source's data) and the source's own ``data``. Config rows equal in every run are hidden unless ``show_all``; results and
eval rows are the point of a comparison and are always shown.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mmarctl.errors import ConfigError, RuntimeFailure, UsageError
from mmarctl.jsonio import format_json_path
from mmarctl.report.curves import Curves, read_curves
from mmarctl.run_records import (
    HISTORY, SUMMARY, history_problem, model_replaced, read_history, read_summary,
    run_started, summary_problem)
from mmarctl.shell_words import shell_word
from mmarctl.staging import process_alive
from mmarctl.variables import global_values
from mmarctl.workspace import TRAIN_CONFIG, Workspace, study_trials

#: How a value absent from one run is shown.
ABSENT = "-"
#: An eval cell whose ``eval/metrics.json`` exists but cannot be read.
UNREADABLE = "unreadable"
#: Added to the eval cells of a run whose ``eval/metrics.json`` is about an earlier model.
STALE = "(stale: model retrained since)"
#: ... and of a run whose eval is of a model an earlier run saved (the current run, stopped
#: or still going, has saved none yet).
EARLIER = "(stale: an earlier run's model)"
#: Row sections, in display order.
SECTIONS = ("globals", "components", "results", "eval")
_MISSING = object()


@dataclass
class RunRecord:
    """One MMAR as compare sees it.

    Attributes:
        label: its column heading (the folder name, or the path when names repeat).
        root: the MMAR root.
        values: ``(section, row name) -> value`` of its config rows.
        curves: its current training lineage (empty when it never trained).
        summary: ``models/training_summary.json`` or None.
        eval_summary: metric name -> value from ``eval/metrics.json``, or None.
        note: how its config was read when not as training reads it (an AutoML source).
        eval_problem: why its ``eval/metrics.json`` exists but cannot be read (the file
            and the JSON error), or None.
        eval_stale: why its ``eval/metrics.json`` is about an earlier model (the model file
            validate recorded holds another model now: retrained or finetuned since; or it
            predates the current training run, which saved none yet), or None.
        eval_mark: what its eval cells add when stale (:data:`STALE` or :data:`EARLIER`).
        base_values: after a finetune, the config rows of the training it continued, from
            ``training_summary.json``'s ``base_settings``; None when not recorded.
        settings_note: after a finetune, what the config rows show (a results row).
        record_problems: why its ``training_summary.json`` cannot be read, or which lines
            of its ``metrics_history.jsonl`` are not epoch records (one warning each).
        untrained_model: what its checkpoint folder holds when it never trained here
            (Clara's pretrained TF1 checkpoint or frozen graph), for its status; else None.
    """

    label: str
    root: Path
    values: dict[tuple[str, str], Any]
    curves: Curves
    summary: dict[str, Any] | None
    eval_summary: dict[str, float | None] | None
    note: str | None = None
    eval_problem: str | None = None
    eval_stale: str | None = None
    eval_mark: str = STALE
    base_values: dict[tuple[str, str], Any] | None = None
    settings_note: str | None = None
    record_problems: list[str] = field(default_factory=list)
    untrained_model: str | None = None

    @property
    def trained(self) -> bool:
        return bool(self.curves)


@dataclass
class Row:
    """A table row: one text per run, whether the runs differ on it, and the values as
    data for ``--json`` (numbers at full precision, seconds, None for "-"/"not validated")."""

    section: str
    name: str
    values: list[str]
    differs: bool
    data: list[Any] | None = None


@dataclass
class Comparison:
    """The runs and every row; :meth:`rows_shown` applies the hiding rule."""

    runs: list[RunRecord]
    rows: list[Row] = field(default_factory=list)

    def rows_shown(self, show_all: bool = False) -> list[Row]:
        """Config rows that differ (all with ``show_all`` or a single run), then results."""
        keep_all = show_all or len(self.runs) == 1
        return [row for row in self.rows
                if keep_all or row.differs or row.section in ("results", "eval")]

    def hidden_count(self, show_all: bool = False) -> int:
        """How many config rows :meth:`rows_shown` leaves out."""
        return len(self.rows) - len(self.rows_shown(show_all))

    def to_json(self, show_all: bool = False) -> dict[str, Any]:
        """Machine-readable form: the runs (with ``eval``: validated, not validated,
        unreadable or stale) and the rows shown, ``values`` as data (full-precision
        numbers, ``wall time`` in seconds, null where the table says "-" or "not
        validated"), ``text`` as the table shows them."""
        return {"runs": [{"label": run.label, "mmar": str(run.root), "trained": run.trained,
                          "eval": _eval_status(run),
                          **({"eval_problem": run.eval_problem} if run.eval_problem else {}),
                          **({"eval_stale": run.eval_stale} if run.eval_stale else {})}
                         for run in self.runs],
                "rows": [{"section": row.section, "name": row.name,
                          "values": row.data if row.data is not None else row.values,
                          "text": row.values, "differs": row.differs}
                         for row in self.rows_shown(show_all)]}


# -- reading one MMAR ---------------------------------------------------------------------
def _normalise(value: Any, root: str) -> Any:
    """Paths under the MMAR root as ``<MMAR>/...``, recursively."""
    if isinstance(value, str):
        return value.replace(root, "<MMAR>") if root in value else value
    if isinstance(value, list):
        return [_normalise(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v, root) for k, v in value.items()}
    return value


def _real_paths(value: Any) -> Any:
    """Absolute path strings as the real path they name, recursively."""
    if isinstance(value, str):
        return os.path.realpath(value) if os.path.isabs(value) else value
    if isinstance(value, list):
        return [_real_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: _real_paths(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Value:
    """A config value as shown (paths in the MMAR as ``<MMAR>/...``) and with its absolute
    paths made real: two runs hold the same value when either form agrees."""

    shown: Any
    real: Any


def _value(value: Any, root: str) -> _Value:
    return _Value(_normalise(value, root), _real_paths(value))


def _leaves(value: Any, parts: tuple, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _leaves(item, parts + (key,), out)
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        for index, item in enumerate(value):
            _leaves(item, parts + (index,), out)
    else:
        out[format_json_path(parts)] = value


def config_values(data: dict[str, Any], variables: dict[str, Any],
                  root: Path) -> dict[tuple[str, str], Any]:
    """The config rows of one resolved config: its variables, then its sections' leaves."""
    shown_root = str(root)
    values: dict[tuple[str, str], Any] = {}
    globals_ = {k: v for k, v in variables.items() if k != "MMAR_ROOT"}
    globals_.update(global_values(data))  # a global's effective value, as training reads it
    for key in sorted(globals_):
        values[("globals", key)] = _value(globals_[key], shown_root)
    leaves: dict[str, Any] = {}
    for key, section in data.items():
        if isinstance(section, (dict, list)):
            _leaves(section, (key,), leaves)
    for path, value in leaves.items():
        values[("components", path)] = _value(value, shown_root)
    return values


def _eval_summary(workspace: Workspace, variables: dict[str, Any],
                  given: str | Path, started: float | None = None
                  ) -> tuple[dict | None, str | None, str | None, str]:
    """``eval/metrics.json``'s metrics, why it cannot be read when it exists but is
    damaged (cut off, hand-edited): that run is not "not validated", and one damaged file
    among 30 runs must not pass for one nobody validated; why it is stale when the model it
    validated was replaced since (a train after the validate), or is older than the current
    training run (``started``: a new train stopped before it saved a model leaves the
    previous run's model.ckpt, which the eval is of); and the mark its cells get."""
    from mmarctl.errors import MmarError
    from mmarctl.jsonio import load_json

    out_dir = Path(variables.get("MMAR_EVAL_OUTPUT_PATH") or workspace.eval_dir)
    if not out_dir.is_absolute():
        out_dir = workspace.root / out_dir
    path = out_dir / "metrics.json"
    if not path.exists():
        return None, None, None, STALE
    shown = workspace.display(path)
    if not Path(shown).is_absolute():  # named as the user named the MMAR
        shown = str(Path(given) / shown) if Path(given).resolve() == workspace.root else \
            str(workspace.root / shown)
    try:
        data = load_json(path, shown_as=shown, warn=lambda *_: None)
    except MmarError as error:
        return None, str(error), None, STALE
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, dict):
        return None, f"{shown}: no \"summary\" object: not as validate writes it", None, STALE
    result: dict[str, float | None] = {}
    for name, entry in summary.items():
        entry = entry if isinstance(entry, dict) else {}
        value = entry.get("value")
        result[name] = value if value is not None else entry.get("mean")
    stale, mark = None, STALE
    model = data.get("model")
    written = model.get("mtime") if isinstance(model, dict) else None
    if model_replaced(model, workspace.root):
        when = data.get("validated_at")
        stale = (f"{shown} is about an earlier model: {model['file']} was replaced after "
                 f"validate ran{' (' + str(when) + ')' if when else ''}; run "
                 f"`mmarctl validate {shell_word(given)}` again")
    elif (started is not None and isinstance(written, (int, float))
          and not isinstance(written, bool) and written < started):
        began = time.strftime("%Y-%m-%d %H:%M", time.localtime(started))
        stale, mark = (f"{shown} is about a model of an earlier training run: "
                       f"{model['file']} was saved before the current run began ({began}), "
                       "which has saved no model yet (stopped or still before its first "
                       "validation)"), EARLIER
    return result, None, stale, mark


#: The results row of an AutoML source whose alternatives ``train`` cannot pick from.
AUTOML_SOURCE = "AutoML source: search annotations left out, alternatives as written"


def read_run(path: str | Path, config: str = TRAIN_CONFIG) -> RunRecord:
    """Read one MMAR for comparison. An AutoML source (several enabled alternatives, which
    ``train`` refuses) is read with its annotations left out and its alternatives as
    written, and says so in its column.

    Raises:
        WorkspaceError: ``path`` is a file, no MMAR, or a Clara 4.x MMAR; ConfigError: its
            config cannot be read.
    """
    from mmarctl.errors import WorkspaceError

    if Path(path).exists() and not Path(path).is_dir():
        raise WorkspaceError("not an MMAR folder: a file", file=path,
                             hint="give the MMAR's folder")
    workspace = Workspace.locate(path, environ={})
    workspace.require_clara3()
    resolved, note = _resolve(workspace, config)
    summary = read_summary(workspace.checkpoint_dir(resolved.variables))
    models = workspace.checkpoint_dir(resolved.variables)
    problems = [problem for problem in (
        summary_problem(models, _shown(workspace, models / SUMMARY, path)),
        history_problem(models, _shown(workspace, models / HISTORY, path))) if problem]
    finished = (summary or {}).get("epochs_finished")
    records = read_history(models)
    last = records[-1].get("epoch") if records else None
    if (isinstance(finished, int) and isinstance(last, int) and finished > 0
            and (summary or {}).get("status") != "running" and finished != last):
        problems.append(f"{_shown(workspace, models / HISTORY, path)} ends at epoch {last}, "
                        f"but {SUMMARY} says {finished} finished: results are from the "
                        "history as it is")
    settings = (summary or {}).get("settings")
    if isinstance(settings, dict) and settings:
        # The values the run trained with: its config as its --set values changed it.
        resolved, note = _resolve(workspace, config, settings)
    eval_summary, eval_problem, eval_stale, eval_mark = _eval_summary(
        workspace, resolved.variables, path, run_started(models))
    curves = read_curves(workspace.checkpoint_dir(resolved.variables))
    base_values, settings_note = None, None
    if any(phase == "finetune" for _, phase in curves.phase_starts):
        # The lineage's results span the base training and the finetune; the settings
        # recorded last are the finetune's. Show the base's beside them when kept.
        base = (summary or {}).get("base_settings")
        if isinstance(base, dict):
            base_resolved, _ = _resolve(workspace, config, base)
            base_values = config_values(base_resolved.data, base_resolved.variables,
                                        workspace.root)
            settings_note = "base training -> finetune where they differ"
        else:
            settings_note = "the finetune's (the base training's --set values not recorded)"
    return RunRecord(label=workspace.root.name, root=workspace.root,
                     values=config_values(resolved.data, resolved.variables, workspace.root),
                     curves=curves, base_values=base_values, settings_note=settings_note,
                     summary=read_summary(workspace.checkpoint_dir(resolved.variables)),
                     eval_summary=eval_summary, note=note, eval_problem=eval_problem,
                     eval_stale=eval_stale, eval_mark=eval_mark, record_problems=problems,
                     untrained_model=None if curves else _clara_model(models))


def _clara_model(models: Path) -> str | None:
    """What an MMAR that never trained here holds as its model: Clara's TF1 checkpoint or
    frozen graph (an MMAR as NGC ships it), said in its status row; else None."""
    from mmarctl.model_files.inventory import checkpoint_kind

    index = models / "model.ckpt.index"
    if index.is_file() and checkpoint_kind(index) == "tf1_checkpoint":
        return "not trained here (Clara's TF1 checkpoint)"
    if (models / "model.fzn.pb").is_file() and not index.is_file():
        return "not trained here (Clara's model.fzn.pb)"
    return None


def _shown(workspace: Workspace, file: Path, given: str | Path) -> str:
    """``file`` named as the user named its MMAR."""
    shown = workspace.display(file)
    if not Path(shown).is_absolute():
        shown = str(Path(given) / shown) if Path(given).resolve() == workspace.root else \
            str(workspace.root / shown)
    return shown


def _resolve(workspace: Workspace, config: str,
             overrides: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    """``workspace.resolve``; for an AutoML source it refuses, the annotations stripped and
    the alternative lists kept as written, with :data:`AUTOML_SOURCE` as the note."""
    try:
        return workspace.resolve(config, overrides), None
    except ConfigError:
        from mmarctl.search.concrete import strip_annotations
        from mmarctl.search.space import has_annotations
        from mmarctl.variables import substitute
        from mmarctl.workspace import ResolvedConfig

        raw = workspace.load(config)
        if not isinstance(raw, dict) or not has_annotations(raw):
            raise
        shown = workspace.display(workspace.config_path(config))
        raw = strip_annotations(raw)
        variables = workspace.variables(raw, overrides)
        data = substitute(raw, variables, file=shown)
        for key in global_values(raw):
            data[key] = variables[key]
        return ResolvedConfig(file=shown, raw=raw, data=data, variables=variables), \
            AUTOML_SOURCE


# -- rows -----------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is _MISSING:
        return ABSENT
    if isinstance(value, _Value):
        value = value.shown
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, separators=(",", ":"))


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and math.isfinite(value) \
        else ABSENT


def format_seconds(seconds: float) -> str:
    """``42 s``, ``12 min 05 s``, ``2 h 03 min``."""
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 120:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _results(run: RunRecord) -> dict[str, tuple[str, Any]]:
    """Results row name -> (text, data) of one run."""
    results = {"config read": (run.note, run.note)} if run.note else {}
    if run.settings_note:
        results["config shown"] = (run.settings_note, run.settings_note)
    if run.summary is None and any(SUMMARY in problem for problem in run.record_problems):
        said = f"the config files' (the run's --set values are in the unreadable {SUMMARY})"
        results["config shown"] = (said, said)
    return {**results, **_run_results(run)}


def _finite(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def run_status(summary: dict | None) -> str | None:
    """A training summary's status as it stands now: a run recorded as ``running`` whose
    process on this machine is gone was killed (kill -9, the OOM killer, a lost node)."""
    if not summary:
        return None
    status = str(summary.get("status"))
    pid, host = summary.get("pid"), summary.get("host")
    if status == "running" and isinstance(pid, int) and host == socket.gethostname() \
            and not process_alive(pid):
        return "stopped (killed?)"
    return status


def _run_results(run: RunRecord) -> dict[str, tuple[str, Any]]:
    curves = run.curves
    status = run_status(run.summary)
    if run.summary is None and any(SUMMARY in problem for problem in run.record_problems):
        status = f"unknown ({SUMMARY} unreadable)"
    if not curves:
        # Stopped inside its first epoch: the summary says so, though no epoch finished
        said = "running, in epoch 1" if status == "running" else \
            f"{status} in epoch 1" if status else \
            _study_status(run.root) or run.untrained_model or "not trained"
        return {"status": (said, said)}
    status = status or "running or stopped"
    finetune = next((x for x, phase in curves.phase_starts if phase == "finetune"), None)
    losses = [v for v in curves.loss if not math.isnan(v)]
    best = curves.best
    return {
        "status": (status, status),
        "key metric": (curves.key_metric or ABSENT, curves.key_metric or None),
        "best metric": (_metric(best[1]) if best else ABSENT,
                        _finite(best[1]) if best else None),
        "best epoch": (str(best[0]) if best else ABSENT, int(best[0]) if best else None),
        "epochs run": (str(len(curves.epochs)), len(curves.epochs)),
        "finetune from epoch": (str(finetune) if finetune else ABSENT,
                                int(finetune) if finetune else None),
        "final loss": (_metric(losses[-1]) if losses else ABSENT,
                       _finite(losses[-1]) if losses else None),
        "wall time": (format_seconds(curves.seconds), _finite(curves.seconds)),
    }


def _study_status(root: Path) -> str | None:
    """An AutoML trial that left no run record (it failed before its first epoch): its
    status and error as the study's ``results.json`` records them, else None."""
    import re

    if not re.fullmatch(r"trial_\d+", root.name):
        return None
    try:
        data = json.loads((root.parent / "results.json").read_text(encoding="utf-8"))
        trials = data["trials"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    number = int(root.name.split("_", 1)[1])
    for trial in trials if isinstance(trials, list) else []:
        if isinstance(trial, dict) and trial.get("number") == number:
            status = str(trial.get("status") or "")
            error = (str(trial.get("error") or "").strip().splitlines() or [""])[-1]
            if status and status != "complete":
                return f"{status}: {error}" if error else status
    return None


def build_rows(runs: Sequence[RunRecord]) -> list[Row]:
    """Every row, config rows in section order and by name, then results and eval."""
    rows: list[Row] = []
    keys = sorted({key for run in runs for key in run.values},
                  key=lambda k: (SECTIONS.index(k[0]), k[1]))
    for section, name in keys:
        raw = [run.values.get((section, name), _MISSING) for run in runs]
        base = [(run.base_values or {}).get((section, name), _MISSING)
                if run.base_values is not None else value for run, value in zip(runs, raw)]
        texts = [_text(v) if _equal(b, v) else f"{_text(b)} -> {_text(v)} (finetune)"
                 for b, v in zip(base, raw)]
        differs = any(not _equal(value, raw[0]) for value in raw[1:]) or \
            any(not _equal(b, v) for b, v in zip(base, raw))
        data = [_data(v) if _equal(b, v) else {"base": _data(b), "finetune": _data(v)}
                for b, v in zip(base, raw)]
        rows.append(Row(section, name, texts, differs, data))
    results = [_results(run) for run in runs]
    names = list(dict.fromkeys(name for result in results for name in result))
    for name in names:
        pairs = [result.get(name, (ABSENT, None)) for result in results]
        texts = [text for text, _ in pairs]
        if set(texts) != {ABSENT}:  # e.g. "finetune from epoch" when none was finetuned
            rows.append(Row("results", name, texts, len(set(texts)) > 1,
                            [value for _, value in pairs]))
    metrics = list(dict.fromkeys(name for run in runs for name in (run.eval_summary or {})))
    if not metrics and any(run.eval_problem for run in runs):
        metrics = ["metrics.json"]  # no run has readable metrics: still say which is damaged
    for name in metrics:
        texts = [_eval_text(run, name) for run in runs]
        rows.append(Row("eval", name, texts, len(set(texts)) > 1,
                        [_finite((run.eval_summary or {}).get(name)) for run in runs]))
    return rows


def _data(value: Any) -> Any:
    """A config value for ``--json``: as shown (paths in the MMAR as ``<MMAR>/...``),
    None where the run has no such key."""
    if value is _MISSING:
        return None
    return value.shown if isinstance(value, _Value) else value


def _eval_status(run: RunRecord) -> str:
    if run.eval_summary is None:
        return "unreadable" if run.eval_problem else "not validated"
    return "stale" if run.eval_stale else "validated"


def _eval_text(run: RunRecord, name: str) -> str:
    if run.eval_summary is None:
        return UNREADABLE if run.eval_problem else "not validated"
    text = _metric(run.eval_summary.get(name))
    return f"{text} {run.eval_mark}" if run.eval_stale else text


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0 (JSON has one number type), but true is not 1. Config
    values are equal when shown alike or when their paths are the same files."""
    if isinstance(a, _Value) and isinstance(b, _Value):
        return _equal(a.shown, b.shown) or _equal(a.real, b.real)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _labels(runs: list[RunRecord]) -> None:
    names = [run.label for run in runs]
    for run in runs:
        if names.count(run.label) > 1:
            run.label = str(run.root)


def compare(paths: Sequence[str | Path], config: str = TRAIN_CONFIG) -> Comparison:
    """Read every MMAR in ``paths`` and build the comparison.

    Raises:
        UsageError: no MMAR given.
        WorkspaceError / ConfigError: a path is no MMAR, or its config cannot be read.
        RuntimeFailure: none of them has trained or been validated.
    """
    if not paths:
        raise UsageError("give at least one MMAR to compare",
                         hint="mmarctl compare exp-a exp-b")
    # An AutoML study folder stands for its trials (Workspace.locate would walk up to the
    # study's source MMAR, which is not what was named).
    paths = [trial for path in paths for trial in (study_trials(path) or [path])]
    runs = []
    for path in paths:
        try:
            runs.append(read_run(path, config))
        except ConfigError as error:
            # "config/config_train.json:1:2" alone does not say which of the MMARs it is
            if len(paths) > 1:
                # str(error) would carry the hint too, and the hint would be said twice.
                where = error.location()
                raise ConfigError(f"{path}: {where + ': ' if where else ''}{error.message}",
                                  hint=error.hint) from error
            raise
    _labels(runs)
    # A validated MMAR that never trained here (Clara's pretrained model, as NGC ships it)
    # has results to compare: its eval/metrics.json.
    if not any(run.trained or run.eval_summary is not None or run.eval_problem
               for run in runs):
        shown = ", ".join(run.label for run in runs)
        raise RuntimeFailure(f"none of the MMARs has trained or been validated ({shown}): no "
                             "models/metrics_history.jsonl, no eval/metrics.json",
                             hint="train them first (mmarctl train MMAR), or validate the "
                                  "model they hold (mmarctl validate MMAR)")
    return Comparison(runs=runs, rows=build_rows(runs))


def plot(comparison: Comparison, path: str | Path) -> Path:
    """Overlay each trained run's key metric per epoch into ``path`` (PNG).

    Raises:
        RuntimeFailure: ``path`` cannot be written (one line, with the reason).
    """
    from mmarctl.report.curves import draw_overlay

    target = Path(path)
    if target.suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: the picture is a PNG; name it FILE.png")
    if not target.parent.is_dir():
        raise RuntimeFailure(f"cannot write the plot: no folder {target.parent}", file=path)
    if not any(run.curves.key_points() for run in comparison.runs if run.trained):
        # (an empty panel would pass for a picture of the runs)
        shown = ", ".join(run.label for run in comparison.runs)
        raise RuntimeFailure(f"nothing to plot: none of the MMARs has validation points per "
                             f"epoch ({shown})", file=path,
                             hint="leave out --plot; the curves come from training runs that "
                                  "validate")
    try:
        return draw_overlay([(run.label, run.curves) for run in comparison.runs
                             if run.trained], target)
    except OSError as error:
        raise RuntimeFailure(f"cannot write the plot: {error.strerror or error}",
                             file=path) from None
