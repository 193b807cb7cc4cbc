"""``mmarctl automl`` from start to end: pre-flight, study folder, trials, results.

Everything that can be refused is refused before anything is written under ``automl/``:
the annotations, ``config_automl.json``, the whole MMAR check of the training config, the
workers spec, the storage URL and ``--resume`` without a study.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError, UsageError, WorkspaceError
from mmarctl.problems import Problem, more_problems
from mmarctl.search import results as results_module
from mmarctl.search.concrete import read_valid_space
from mmarctl.search.older_keys import LEARNING_RATE_RANGE, learning_rate_entry
from mmarctl.search.space import set_conflicts
from mmarctl.search.settings import (AUTOML_CONFIG, AutomlSettings, load_settings,
                                     missing_train_config, named_train_config)
from mmarctl.search.study import (Study, StudyOptions, default_storage, find_study,
                                  open_storage, stored_options, total_trials)
from mmarctl.search.trials import moved_own_folders
from mmarctl.search.workers import Slot, plan_slots
from mmarctl.workspace import TRAIN_CONFIG, Workspace

#: Clara's automl.sh passes these through ``--set``; they are options of the study.
CLARA_STUDY_KEYS = ("run_id", "trainconf", "workers", "traceout")


@dataclass
class AutomlRequest:
    """The command line of ``mmarctl automl``."""

    mmar: str | None
    set_items: list[str]
    config_train: str | None = None
    config_automl: str | None = None
    run_id: str | None = None
    rounds: int | None = None
    workers: int | None = None
    worker_gpus: str | None = None
    storage: str | None = None
    resume: bool = False
    seed: int | None = None
    tracking: str | None = None
    tracking_uri: str | None = None
    amp: bool | None = None  # --amp/--no-amp, handed to every trial's `mmarctl train`


def split_clara_keys(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """Clara's ``run_id=``, ``trainconf=``, ``workers=``, ``traceout=`` out of ``--set`` items."""
    clara, rest = {}, []
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key.strip() in CLARA_STUDY_KEYS:
            clara[key.strip()] = value.strip()
        else:
            rest.append(item)
    return clara, rest


def _same_as_clara_keys(request: AutomlRequest, clara: dict[str, str],
                        workspace: Workspace) -> None:
    """Clara's ``--set run_id=``/``trainconf=``/``workers=`` and the option of the same
    meaning, both given, must agree: one would silently win over the other.

    Raises:
        UsageError: they name different things.
    """
    pairs = (("run_id", "--run-id", request.run_id, lambda a, b: a == b),
             ("trainconf", "--config-train", request.config_train,
              lambda a, b: workspace.config_path(a) == workspace.config_path(b)),
             ("workers", "--worker-gpus", request.worker_gpus, lambda a, b: a == b))
    for key, option, given, same in pairs:
        if given is not None and key in clara and not same(clara[key], given):
            raise UsageError(f"--set {key}={clara[key]} and {option} {given} disagree; "
                             f"give one of them")


def _first_error(problems: list[Problem]) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        first = errors[0]
        raise ConfigError(first.message + more_problems(errors), file=first.file,
                          json_path=first.json_path)


@dataclass
class Prepared:
    """A study ready to run (nothing written yet)."""

    workspace: Workspace
    config: dict
    space: Any
    settings: AutomlSettings
    options: StudyOptions
    study_dir: Path
    total: int
    #: Lines printed as ``note:`` before the first trial (what the trials change).
    notes: list[str] = field(default_factory=list)


def prepare(request: AutomlRequest) -> Prepared:
    """Every check of the study, with nothing written.

    Raises:
        MmarError: the first thing that would stop the study, in one line.
    """
    from mmarctl import launcher
    from mmarctl.check.mmar import check_mmar
    from mmarctl.variables import parse_set_items

    from mmarctl.tracking.settings import check_cli_options

    check_cli_options(request.tracking, request.tracking_uri)
    workspace = Workspace.locate(request.mmar)
    workspace.require_clara3()
    clara, set_items = split_clara_keys(list(request.set_items))
    _same_as_clara_keys(request, clara, workspace)
    automl_name = request.config_automl or AUTOML_CONFIG
    automl_path = workspace.config_path(automl_name)
    settings = load_settings(automl_path, workspace.display(automl_path))
    config_name = request.config_train or clara.get("trainconf")
    named_by_settings = not config_name and named_train_config(settings) is not None
    if named_by_settings:
        config_name = named_train_config(settings)
    config_name = config_name or TRAIN_CONFIG
    config_path = workspace.config_path(config_name)
    shown = workspace.display(config_path)
    if not config_path.exists():
        if named_by_settings:
            raise missing_train_config(settings, config_path, shown)
        raise ConfigError("file not found", file=shown,
                          hint="--config-train names the annotated training config")
    config = workspace.load(config_name)
    if not isinstance(config, dict):
        raise ConfigError("expected a JSON object at the top level", file=shown, json_path="$")
    space = read_valid_space(config, shown)
    if space.is_empty:
        entry = learning_rate_entry(config)
        raise ConfigError("no search annotations: nothing to search", file=shown,
                          hint=f"add {entry} (from its {LEARNING_RATE_RANGE}, which nothing "
                               "reads)" if entry else
                               "add \"search\" entries (docs/automl.md#a-first-study), or "
                               "use `mmarctl train`")
    worker_gpus = request.worker_gpus or clara.get("workers")
    # An empty --run-id (or run_id=) is refused, not replaced by the default name.
    run_id = next((v for v in (request.run_id, clara.get("run_id")) if v is not None),
                  Path(config_name).stem)
    if not run_id.strip() or "/" in run_id or run_id in (".", ".."):
        raise UsageError(f"--run-id must be a plain folder name; Received: {run_id!r}")
    base = workspace.root / "automl"
    if settings.work_dir:  # a relative work_dir is under the MMAR, wherever mmarctl runs
        base = workspace.root / Path(os.path.expanduser(settings.work_dir))
    study_dir = base / run_id
    train_flags: list[str] = [] if request.amp is None else \
        ["--amp" if request.amp else "--no-amp"]
    seed, total = request.seed, total_trials(space, settings, request.rounds)
    if request.resume:
        set_items, seed, train_flags, total = _resumed_options(
            request, study_dir, run_id, set_items, train_flags, space, settings)
    overrides = parse_set_items(set_items)
    # A --set on a searched global would train every trial alike under different labels.
    _first_error(set_conflicts(space, overrides))
    # The trials train with the config; the best one is validated with the MMAR's own
    # validation configs: all are checked before any trial starts.
    validation = [p.name for p in sorted(workspace.config_dir.glob("config_validation*.json"))]
    # The settings file this study reads (--config-automl), not a default one it ignores.
    report = check_mmar(workspace, overrides, train_config=config_name,
                        validation_configs=validation,
                        automl_configs=[request.config_automl] if request.config_automl
                        else None)
    _first_error(report.problems)

    slots: list[Slot] = plan_slots(request.workers, worker_gpus, launcher.count_gpus())
    options = StudyOptions(run_id=run_id, config_name=config_name, rounds=request.rounds,
                           slots=slots, set_items=set_items, storage=request.storage,
                           resume=request.resume, seed=seed, train_flags=train_flags)
    notes = moved_own_folders(workspace, overrides)
    return Prepared(workspace, config, space, settings, options, study_dir, total, notes)


def _resumed_options(request: AutomlRequest, study_dir: Path, run_id: str,
                     set_items: list[str], train_flags: list[str], space: Any,
                     settings: AutomlSettings) -> tuple[list[str], int | None, list[str], int]:
    """``--resume``: the study's own ``--set``, ``--seed`` and ``--amp`` and its planned
    trials, so the trials left run as the first ones did. The same value given again is
    fine; a different one is refused (it would make the study's trials incomparable).
    ``--rounds`` may grow the study, never shrink it. Returns (set items, seed, train
    flags, trials planned).

    Raises:
        UsageError: an option that differs from the study's.
    """
    from mmarctl.variables import parse_set_items

    if request.storage is None and not (study_dir / "study.db").exists():
        # open_study refuses this with its own line.
        return set_items, request.seed, train_flags, total_trials(space, settings,
                                                                   request.rounds)
    stored = stored_options(request.storage or default_storage(study_dir), run_id,
                            embedded=request.storage is None)
    if stored is None:
        return set_items, request.seed, train_flags, total_trials(space, settings,
                                                                   request.rounds)
    hint = "--resume continues the study with the options it was started with: leave it out"
    if "set_items" in stored:
        kept = list(stored["set_items"])
        if set_items and parse_set_items(set_items) != parse_set_items(kept):
            shown = " ".join(f"--set {item}" for item in kept) or "no --set"
            raise UsageError(f"--resume: --set {' '.join(set_items)} differs from the "
                             f"study's {shown}", hint=hint)
        set_items = kept
    seed = request.seed
    if "seed" in stored:
        if seed is not None and seed != stored["seed"]:
            shown = "no --seed" if stored["seed"] is None else f"--seed {stored['seed']}"
            raise UsageError(f"--resume: --seed {seed} differs from the study's {shown}",
                             hint=hint)
        seed = stored["seed"]
    if "train_flags" in stored:
        kept = list(stored["train_flags"])
        if train_flags and train_flags != kept:
            shown = " ".join(kept) or "neither --amp nor --no-amp"
            raise UsageError(f"--resume: {' '.join(train_flags)} differs from the study's "
                             f"{shown}", hint=hint)
        train_flags = kept
    if (not space.enum_only and "controller" in stored
            and stored["controller"] != settings.controller):
        # Its sampler drew the trials so far: another one would mix two searches in one
        # study (and results.json would name the new one for every trial).
        raise UsageError(f"--resume: the study was made with the {stored['controller']}; "
                         f"{request.config_automl or AUTOML_CONFIG} now names the "
                         f"{settings.controller}",
                         hint="--resume keeps a study's controller: put it back, or start "
                              "another --run-id")
    planned = int(stored.get("total") or 0)
    if request.rounds is None:
        return set_items, seed, train_flags, planned
    total = total_trials(space, settings, request.rounds)
    if total < planned:
        raise UsageError(f"--resume --rounds {request.rounds}: the study plans {planned} "
                         "trials; --rounds can grow a study, not shrink it")
    return set_items, seed, train_flags, total


def resume_command(request: AutomlRequest, prepared: Prepared) -> str:
    """The command that continues this study: the options that find it (config files, run
    id, storage) and those given that are not stored with it (tracking, workers). Its --set,
    --seed, --amp and trial count are stored in the study."""
    import shlex

    words = ["mmarctl", "automl", str(prepared.workspace.root)]
    if prepared.options.config_name != TRAIN_CONFIG:
        words += ["--config-train", prepared.options.config_name]
    if request.config_automl:
        words += ["--config-automl", request.config_automl]
    words += ["--run-id", prepared.options.run_id]
    if prepared.options.storage:
        words += ["--storage", prepared.options.storage]
    # Left out, the resumed study would run untracked or on another number of workers.
    for flag, value in (("--tracking", request.tracking),
                        ("--tracking-uri", request.tracking_uri),
                        ("--workers", request.workers),
                        ("--worker-gpus", request.worker_gpus)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words + ["--resume"])


def open_study(prepared: Prepared) -> tuple[Study, bool]:
    """Connect to the storage, create or join the study (writes the study folder).

    Raises:
        MmarError: an unreachable storage, ``--resume`` with no study, or a study that
            exists without ``--resume`` in the embedded storage.
    """
    options, study_dir = prepared.options, prepared.study_dir
    shown_dir = prepared.workspace.display(study_dir)
    if options.storage is None:
        database = study_dir / "study.db"
        if options.resume and not database.exists():
            raise WorkspaceError(f"--resume: no study to resume in {shown_dir}",
                                 hint="start it without --resume")
        if not options.resume and study_dir.exists():
            raise WorkspaceError(f"{shown_dir} already holds a study",
                                 hint="continue it with --resume, or pick another --run-id")
        url = default_storage(study_dir)
    else:
        url = options.storage
    # An explicit storage is reached before anything is written here.
    storage = open_storage(url) if options.storage else None
    if options.storage and options.resume and find_study(storage, options.run_id) is None:
        raise WorkspaceError(f"--resume: no study {options.run_id!r} in {options.storage}",
                             hint="start it without --resume")
    created_dir = not study_dir.exists()
    study_dir.mkdir(parents=True, exist_ok=True)
    try:
        if storage is None:
            storage = open_storage(url, embedded=True)
        study = Study(prepared.workspace, prepared.config, prepared.space, prepared.settings,
                      options, study_dir, storage)
        # Refused here when another live process runs the study: --resume would take over
        # its running trials.
        study.hold(exclusive=options.resume)
        _, created = study.open(prepared.total)
    except BaseException:
        if created_dir:
            shutil.rmtree(study_dir, ignore_errors=True)
        raise
    if options.resume:
        study.requeue_stale()
        if options.rounds:
            study.extend(prepared.total)
    study.share()
    return study, created


def finish(study: Study, prepared: Prepared, *, validate_best: bool = True) -> \
        tuple[list[Any], Any, dict[str, Any]]:
    """Results files and the kept MMARs; the best trial's MMAR validated with its own
    config_validation.json. Returns (records, best record, its validation)."""
    from mmarctl.search.trials import LOG, logged_precision, validate_trial

    records = results_module.collect(study.study)
    kept = results_module.keep_best(records, prepared.settings.num_mmars_to_keep,
                                    prepared.settings.key_mmar_content_only)
    top = results_module.best(records)
    # The study's --amp/--no-amp: every trial trained with it, the best one validates with it.
    amp_flags = [f for f in prepared.options.train_flags if f in ("--amp", "--no-amp")]
    validation: dict[str, Any] = {}
    if validate_best and top is not None and top.mmar:
        root = Path(top.mmar)
        value, error = validate_trial(root, top.key_metric, flags=amp_flags)
        validation = {"trial": top.number, "metric": value, "error": error,
                      "file": str(root / "eval" / "metrics.json"),
                      # each run's own "precision ..." line: what it really computed in
                      "trained_precision": logged_precision(root / LOG),
                      "precision": logged_precision(root / "validate.log")}
    results_module.write_results(prepared.study_dir, prepared.options.run_id, records, {
        "amp": amp_flags[-1] if amp_flags else None,
        "best_validation": validation or None,
        "config": prepared.options.config_name,
        "controller": prepared.settings.controller,
        "sampler": "grid" if prepared.space.enum_only else prepared.settings.sampler,
        "trials_planned": prepared.total, "kept": kept,
        "stopped_by_threshold": study.threshold_reached.is_set()})
    return records, top, validation
