"""What a stopped run was started with, kept beside its resume state for ``--resume``.

A run stopped by Ctrl-C/SIGTERM/SIGHUP writes ``resume/run.json`` after
``resume/model.ckpt`` (so a ``run.json`` marks a whole state): its ``--set`` values (``--epochs``/``--learning-rate`` included, as
the globals they set), the number of epochs it was training and had finished, its number
of workers and launch options, its seed, and the resolved settings that shape it (learning rate, its
policy, optimizer, batch size, network), and, for a tracked run, where it was tracked and
its MLflow run (so that the resumed epochs go to that same run). ``train --resume`` reuses
the ``--set`` values when they are not given again, so ``mmarctl train MMAR --resume`` continues the same run rather
than one with other settings; a value given again must be the same, except ``epochs``, which
may be raised to train longer (on the command line or in the config). A shaping setting
edited in the config since the run stopped is refused, naming the file, key and both values.
``multi_gpu`` is not compared: mmarctl's launcher sets it for its workers, and the number of
workers may change (the training plan then re-derives the schedule's position).

Plain JSON, read before TensorFlow starts (a refused resume costs no start-up).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from mmarctl.errors import RuntimeFailure, UsageError
from mmarctl.shell_words import shell_word

#: The file beside the resume checkpoint.
RUN_FILE = "run.json"


#: The launching process tells its workers the launch options the user gave
#: (``--gpus 2 --cpu``), so that the interrupt warning repeats them (mmarctl.launcher
#: forwards every ``MMARCTL_*`` variable to the workers).
LAUNCH_OPTIONS_ENV = "MMARCTL_LAUNCH_OPTIONS"

#: Set by mmarctl's launcher for its workers: not one of the user's settings.
LAUNCHER_MARKER = "multi_gpu"


def write_run_settings(resume_dir: Path, overrides: Mapping[str, Any], epochs: int, *,
                       workers: int = 1, settings: Mapping[str, Any] | None = None,
                       finished_epochs: int | None = None,
                       resume_with: str | None = None, seed: int | None = None,
                       training_data: Mapping[str, Any] | None = None,
                       phase: str | None = None) -> Path:
    """Write ``run.json`` in ``resume_dir`` atomically (a reader sees the old file or the new).

    Args:
        overrides: the run's ``--set`` values (``multi_gpu`` is left out: the launcher's).
        epochs: the epochs the run was training.
        workers: its number of processes.
        settings: :func:`shaping_settings` of its resolved config.
        finished_epochs: how many epochs it finished.
        resume_with: the command that continues it.
        seed: the seed it trained with (``--seed``, else the config's ``determinism``;
            None: unseeded); a plain ``--resume`` trains on with it.
        training_data: :func:`training_data` of the run (its datalist, items, steps).
        phase: ``train`` or ``finetune``: what the resumed run is recorded as.

    Returns:
        the file written.
    """
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    path = resume_dir / RUN_FILE
    tmp = path.with_name(f"{RUN_FILE}.tmp-{os.getpid()}")
    payload: dict[str, Any] = {
        "overrides": {k: v for k, v in overrides.items() if k != LAUNCHER_MARKER},
        "epochs": int(epochs), "workers": int(workers)}
    if settings is not None:
        payload["settings"] = dict(settings)
    if finished_epochs is not None:
        payload["finished_epochs"] = int(finished_epochs)
    if resume_with:
        payload["resume_with"] = resume_with
    payload["seed"] = None if seed is None else int(seed)
    if training_data is not None:
        payload["training_data"] = dict(training_data)
    if phase:
        payload["phase"] = phase
    try:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remember_tracking(resume_dir: Path, tracking: Mapping[str, Any]) -> bool:
    """Add the stopped run's tracking to its ``run.json`` (written just before by the
    checkpoint saver): ``{"uri": URI or None (the embedded store), "run_id": ID or None}``.
    ``train --resume`` then tracks again, into the same MLflow run, without ``--tracking``
    being repeated (as it keeps the ``--set`` values). Returns False when there is no
    ``run.json`` to add it to (or it cannot be rewritten)."""
    path = Path(resume_dir) / RUN_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    data["tracking"] = {key: tracking.get(key) for key in ("uri", "run_id")}
    tmp = path.with_name(f"{RUN_FILE}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True


def saved_tracking(resume_dir: Path) -> dict[str, Any] | None:
    """The stopped run's tracking (see :func:`remember_tracking`), or None: it was untracked
    (or its ``run.json`` is unreadable, which ``--resume`` itself refuses)."""
    try:
        data = json.loads((Path(resume_dir) / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    tracking = data.get("tracking") if isinstance(data, dict) else None
    return dict(tracking) if isinstance(tracking, dict) else None


def read_run_settings(resume_dir: Path, shown_as: str | None = None) -> dict[str, Any] | None:
    """The stopped run's settings (``{"overrides": {...}, "epochs": N}``), or None when
    ``run.json`` is absent (a resume state written before it was kept).

    Raises:
        RuntimeFailure: the file is there but unreadable or not what this module writes.
    """
    path = Path(resume_dir) / RUN_FILE
    if not path.is_file():
        return None
    shown = shown_as or str(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RuntimeFailure(f"{shown}: the stopped run's settings cannot be read ({error})",
                             hint="start a fresh run without --resume") from error
    if (not isinstance(data, dict) or not isinstance(data.get("overrides"), dict)
            or not isinstance(data.get("epochs"), int) or isinstance(data["epochs"], bool)):
        raise RuntimeFailure(f"{shown}: expected an object with \"overrides\" (an object) and "
                             "\"epochs\" (an integer)",
                             hint="start a fresh run without --resume")
    return data


def shaping_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved settings that shape a run, by JSON path: ``learning_rate``,
    ``train.lr_policy``, ``train.optimizer``, ``train.model`` (the network) and the
    training pipeline's batch size(s). A resumed run must have the same ones."""
    train = config.get("train") if isinstance(config.get("train"), Mapping) else {}
    shaping: dict[str, Any] = {}
    if "learning_rate" in config:
        shaping["learning_rate"] = config["learning_rate"]
    for key in ("lr_policy", "optimizer", "model"):
        if key in train:
            shaping[f"train.{key}"] = train[key]
    pipeline = train.get("image_pipeline")
    args = pipeline.get("args") if isinstance(pipeline, Mapping) else None
    if isinstance(args, Mapping):
        for key, value in args.items():
            if key.endswith("batch_size"):
                shaping[f"train.image_pipeline.args.{key}"] = value
    return json.loads(json.dumps(shaping, sort_keys=True, default=str))


#: The one setting a resumed run may change: the precision it computes in (``--amp`` /
#: ``--no-amp`` arrive as this key). Checkpoints hold float32 weights under every policy.
PRECISION_KEY = "use_amp"


def _precision_change(stored: Mapping[str, Any],
                      given: Mapping[str, Any]) -> tuple[Any, str] | None:
    """``(value, note)`` when ``given`` asks for another precision than the stopped run
    was started with (``use_amp`` of its ``--amp``/``--set``, else its config's); None when
    it asks for none or the same."""
    if PRECISION_KEY not in given or (PRECISION_KEY in stored
                                      and _same(stored[PRECISION_KEY], given[PRECISION_KEY])):
        return None
    wanted = given[PRECISION_KEY]
    before = (f"use_amp {json.dumps(stored[PRECISION_KEY], default=str)}"
              if PRECISION_KEY in stored else "its config's use_amp")
    return wanted, (f"note: --resume computes with use_amp {json.dumps(wanted, default=str)}; "
                    f"the stopped run was started with {before} (checkpoints are float32 "
                    "either way)")


def _same(a: Any, b: Any) -> bool:
    # As they would be written to run.json: 3 and 3.0 are the same value, "3" is not.
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                       default=str)


def _shown(key: str, values: Mapping[str, Any],
           configured: Mapping[str, Any] | None = None) -> str:
    if key not in values:
        if isinstance(configured, Mapping) and key in configured:
            # Not a --set value, but what the run trained with: its config's.
            return f"{key} {json.dumps(configured[key], default=str)} (its config's)"
        return f"{key} unset"
    return f"{key}={json.dumps(values[key], default=str)}"


def merge_overrides(saved: Mapping[str, Any], given: Mapping[str, Any]
                    ) -> tuple[dict[str, Any], str | None]:
    """The overrides a resumed run trains with, and a note to print (or None).

    The stopped run's values, with ``epochs`` raised when ``given`` raises it. Not given
    again, ``epochs`` is the stopped run's (even when it came from the config).

    Raises:
        UsageError: ``given`` sets a value other than the stopped run's (one not set then
            counts as different), or fewer epochs.
    """
    stored = dict(saved["overrides"])
    run_epochs = int(saved["epochs"])
    merged = dict(stored)
    merged["epochs"] = run_epochs
    note = None
    differ = [key for key in given
              if key != "epochs" and (key not in stored or not _same(stored[key], given[key]))]
    epochs = given.get("epochs", run_epochs)
    counted = isinstance(epochs, int) and not isinstance(epochs, bool)
    if not counted:
        merged["epochs"] = epochs  # not a count: the settings reader refuses it, as always
    lowered = counted and epochs < run_epochs
    if differ or lowered:
        keys = differ + (["epochs"] if lowered else [])
        was = {**stored, "epochs": run_epochs}
        configured = saved.get("settings")
        raise UsageError(
            "--resume: the stopped run was started with "
            + ", ".join(_shown(key, was, configured) for key in keys) + "; this command gives "
            + ", ".join(_shown(key, given) for key in keys),
            hint="leave them out to continue with the run's own values (only epochs may "
                 "differ, and only upward), or start a new run without --resume")
    if counted and epochs > run_epochs:
        merged["epochs"] = epochs
        note = (f"note: --resume trains longer than the stopped run: epochs {run_epochs} -> "
                f"{epochs} (the learning-rate schedule now spans {epochs} epochs)")
    return merged, note


def training_data(config: Mapping[str, Any], items: int, steps: int) -> dict[str, Any]:
    """What a run trains on, kept in ``run.json``: the training datalist (as resolved),
    its list key, this process's item count and the steps per epoch."""
    train = config.get("train") if isinstance(config.get("train"), Mapping) else {}
    pipeline = train.get("image_pipeline") if isinstance(train, Mapping) else None
    args = pipeline.get("args") if isinstance(pipeline, Mapping) else None
    args = args if isinstance(args, Mapping) else {}
    return {"datalist": str(args.get("data_list_file_path")),
            "list_key": str(args.get("data_list_key", "training")),
            "items": int(items), "steps_per_epoch": int(steps)}


def training_data_note(saved: Mapping[str, Any] | None, now: Mapping[str, Any],
                       workers: int) -> str | None:
    """A note when a resumed run trains on other data than the stopped one (another
    datalist, or items added or removed): its steps per epoch, and so the schedule's
    pace, change. None when the same, unknown, or told by the workers note instead."""
    before = (saved or {}).get("training_data")
    if not isinstance(before, Mapping) or (saved or {}).get("workers") != workers:
        return None
    parts = []
    for key in ("datalist", "list_key"):
        if before.get(key) != now.get(key):
            parts.append(f"{key} {before.get(key)} -> {now.get(key)}")
    if before.get("items") != now.get("items"):
        parts.append(f"the training list has {now.get('items')} items, the stopped run had "
                     f"{before.get('items')}")
    if not parts:
        return None
    steps = ""
    if before.get("steps_per_epoch") != now.get("steps_per_epoch"):
        steps = (f" (steps per epoch {before.get('steps_per_epoch')} -> "
                 f"{now.get('steps_per_epoch')})")
    return "note: --resume: the training data changed: " + "; ".join(parts) + steps


def _require_read_keys(workspace: Any, config: str, new: Mapping[str, Any]) -> None:
    """A ``--set`` key that no config reads is refused as without ``--resume`` (a typo is
    a typo), before it is compared with the stopped run's values.

    Raises:
        ConfigError: ``--set: KEY: KEY is read by no config ...``.
    """
    if not new:
        return
    from mmarctl.check.mmar import CheckReport, check_overrides, read_environment
    from mmarctl.errors import ConfigError

    env = read_environment(workspace, CheckReport())
    problems = check_overrides(new, env, [("train", workspace.config_path(config))], workspace)
    if problems:
        first = problems[0]
        raise ConfigError(first.message, file=first.file, json_path=first.json_path or None)


def resume_seed(saved: Mapping[str, Any] | None, given: int | None) -> int | None:
    """The seed a resumed run trains with: the stopped run's (kept in ``run.json``), so
    that a plain ``--resume`` of a seeded run is repeatable; ``given`` (``--seed``) when the
    stopped run's is unknown (a ``run.json`` from before seeds were kept).

    Raises:
        UsageError: ``--seed`` differs from the stopped run's seed (or it had none).
    """
    if not isinstance(saved, Mapping) or "seed" not in saved:
        return given
    before = saved["seed"]
    before = before if isinstance(before, int) and not isinstance(before, bool) else None
    if given is not None and given != before:
        was = f"seed {before}" if before is not None else "no seed"
        raise UsageError(f"--resume: the stopped run trained with {was}; this command gives "
                         f"--seed {given}",
                         hint="leave --seed out to continue with the run's own, or start a "
                              "new run without --resume")
    return before


def _brief(value: Any) -> str:
    # A leaf's whole value (:func:`_differences`): cut short, it hid what differed.
    return "unset" if value is _UNSET else json.dumps(value, sort_keys=True, default=str)


_UNSET = object()


def _differences(key: str, before: Any, now: Any) -> list[tuple[str, Any, Any]]:
    """The leaves where two settings differ, by JSON path (``train.model.args.nf_enc``):
    an edited network argument is named as itself, not as the whole ``train.model``."""
    if _same(before, now):
        return []
    if isinstance(before, Mapping) and isinstance(now, Mapping):
        found: list[tuple[str, Any, Any]] = []
        for name in sorted(set(before) | set(now), key=str):
            found += _differences(f"{key}.{name}", before.get(name, _UNSET),
                                  now.get(name, _UNSET))
        return found
    return [(key, before, now)]


def resume_overrides(workspace: Any, config: str, given: Mapping[str, Any],
                     resume_dir: Path) -> tuple[dict[str, Any], list[str], dict[str, Any] | None]:
    """The overrides a resumed run trains with, the notes to print, and the stopped run's
    settings (its ``run.json``).

    TensorFlow-free: the launching process asks before any worker starts, and the training
    plan again (the same answer). ``epochs`` raised in the config acts as ``--epochs``.

    Raises:
        UsageError: a ``--set`` value differs from the stopped run's, fewer epochs (given
            or in the config), or a setting that shapes the run was edited in the config.
        RuntimeFailure: ``run.json`` is missing or unreadable.
        ConfigError: the config cannot be resolved.
    """
    resume_dir = Path(resume_dir)
    saved = read_run_settings(resume_dir, workspace.display(resume_dir / RUN_FILE))
    if saved is None:
        # The saver writes run.json after the checkpoint: a checkpoint alone is a save
        # cut short (kill -9), a hand-copied state or an old mmarctl's. Its epochs and
        # --set values are unknown, and the config's would re-span the schedule silently.
        raise RuntimeFailure(
            f"{workspace.display(resume_dir / RUN_FILE)} is missing: the stopped run's "
            "settings (epochs, --set values) are unknown, so it cannot be continued as it was",
            hint=f"start a new run without --resume, or finetune from its weights: mmarctl "
                 f"finetune {shell_word(workspace.root)} --set "
                 f"MMAR_CKPT={shell_word(resume_dir / 'model.ckpt')}")
    stored = {k: v for k, v in saved["overrides"].items() if k != LAUNCHER_MARKER}
    mine = {k: v for k, v in given.items() if k != LAUNCHER_MARKER}
    _require_read_keys(workspace, config, {k: v for k, v in mine.items() if k not in stored})
    precision = _precision_change(stored, mine)
    if precision is not None:
        mine.pop(PRECISION_KEY)
    merged, note = merge_overrides({**saved, "overrides": stored}, mine)
    notes = [note] if note else []
    if precision is not None:
        merged[PRECISION_KEY], precision_note = precision
        notes.append(precision_note)
    shown = workspace.display(workspace.config_path(config))
    if "epochs" not in stored and "epochs" not in mine:
        # The run trained the config's epochs: an edit there is read like --epochs.
        run_epochs = merged.pop("epochs")
        edited = workspace.resolve(config, merged).data.get("epochs")
        if not isinstance(edited, int) or isinstance(edited, bool):
            merged["epochs"] = run_epochs  # not a count: the stopped run's
        elif edited < run_epochs:
            raise UsageError(f"--resume: {shown} now sets epochs={edited}; the stopped run "
                             f"trains {run_epochs} epochs",
                             hint=f"put epochs back to {run_epochs} or raise it (only more "
                                  "epochs can continue a run), or start a new run without "
                                  "--resume")
        elif edited > run_epochs:
            notes.append(f"note: --resume trains longer than the stopped run: {shown} epochs "
                         f"{run_epochs} -> {edited} (the learning-rate schedule now spans "
                         f"{edited} epochs)")
    if LAUNCHER_MARKER in given:
        merged[LAUNCHER_MARKER] = given[LAUNCHER_MARKER]
    before = saved.get("settings")
    if isinstance(before, Mapping):
        now = shaping_settings(workspace.resolve(config, merged).data)
        changed = [leaf for key in sorted(set(before) | set(now))
                   for leaf in _differences(key, before.get(key, _UNSET),
                                            now.get(key, _UNSET))]
        if changed:
            raise UsageError(
                f"--resume: {shown} changed since the run stopped: " + ", ".join(
                    f"{key} {_brief(was)} -> {_brief(is_)}" for key, was, is_ in changed),
                hint="put the stopped run's values back to continue it, or start a new run "
                     "without --resume")
    return merged, notes, saved


def launch_options(gpus: int, cpu: bool, hosts: str | None, hostfile: Any,
                   launcher: str) -> str:
    """The launch options as the user gave them (``--gpus 2 --cpu``), for the resume hint."""
    import shlex

    parts: list[str] = []
    if gpus > 1:
        parts += ["--gpus", str(gpus)]
    if hosts:
        parts += ["--hosts", shlex.quote(hosts)]
    if hostfile:
        parts += ["--hostfile", shlex.quote(str(hostfile))]
    if cpu:
        parts.append("--cpu")
    if launcher != "gloo":
        parts += ["--launcher", launcher]
    return " ".join(parts)


def _root_shown(workspace: Any) -> str:
    """The MMAR as a command names it from here: relative below the current folder."""
    root = str(workspace.root)
    try:
        shown = os.path.relpath(root)
    except ValueError:  # another drive
        return root
    return root if shown.startswith("..") else shown


def _for_this_mmar(command: str, workspace: Any) -> str:
    """A stored ``mmarctl train PATH ... --resume`` with PATH as this invocation names the
    MMAR: the stored one was typed from another folder, or for the MMAR before it was
    copied or renamed."""
    import shlex

    try:
        parts = shlex.split(command)
    except ValueError:
        parts = []
    if len(parts) < 3 or parts[:2] != ["mmarctl", "train"]:
        return f"mmarctl train {shell_word(_root_shown(workspace))} --resume"
    parts[2] = _root_shown(workspace)
    return shlex.join(parts)


def resume_command(workspace: Any, config: str, launch: str | None = None) -> str:
    """The command that resumes a run of ``workspace`` (shown when a run is stopped), with
    the launch options of the stopped run (``launch``; default: what the launching process
    passed down in ``MMARCTL_LAUNCH_OPTIONS``)."""
    import shlex

    parts = ["mmarctl", "train", shlex.quote(_root_shown(workspace))]
    if config != "config_train.json":
        parts += ["--config-train", shlex.quote(config)]
    if launch is None:
        launch = os.environ.get(LAUNCH_OPTIONS_ENV, "")
    if launch:
        parts.append(launch)
    return " ".join(parts + ["--resume"])


def stopped_run_warning(workspace: Any, checkpoint_dir: Path, verb: str) -> str | None:
    """One warning line when ``checkpoint_dir/resume/`` holds a stopped run that a new
    ``train``/``finetune`` (not ``--resume``) will discard when it ends (or replace with
    its own, stopped); None otherwise. The command it names is for the MMAR as given now."""
    from mmarctl.runtime import checkpoint

    resume_dir = Path(checkpoint_dir) / "resume"
    if not checkpoint.exists(resume_dir / "model.ckpt"):
        return None
    try:
        saved = read_run_settings(resume_dir) or {}
    except RuntimeFailure:
        saved = {}
    done = saved.get("finished_epochs")
    what = (f"a stopped run ({done} of {saved['epochs']} epochs finished)"
            if isinstance(done, int) and "epochs" in saved else "a stopped run")
    again = _for_this_mmar(str(saved.get("resume_with") or ""), workspace)
    return (f"warning: {workspace.display(resume_dir)} holds {what}; this {verb} starts anew "
            f"and discards it when it ends or is stopped itself (to continue the stopped run "
            f"instead: `{again}`)")


def require_resume_state(workspace: Any, checkpoint_dir: Path) -> Path:
    """The resume state's checkpoint prefix in ``checkpoint_dir`` (``resume/model.ckpt``).

    ``train --resume`` asks before any worker or TensorFlow starts, and the training plan
    again when it restores; both say the same line.

    Raises:
        RuntimeFailure: no stopped run left one there.
    """
    from mmarctl.runtime import checkpoint

    prefix = Path(checkpoint_dir) / "resume" / "model.ckpt"
    if not checkpoint.exists(prefix) and (prefix.parent / RUN_FILE).is_file():
        raise RuntimeFailure(f"nothing to resume: {workspace.display(prefix.parent)} holds "
                             f"{RUN_FILE} but no checkpoint ({prefix.name}): the stopped "
                             "run's state was not saved whole",
                             hint=f"start a new run without --resume "
                                  f"({workspace.display(Path(checkpoint_dir) / 'model.ckpt')}"
                                  ", if there, holds the best epoch saved, to finetune from)")
    if not checkpoint.exists(prefix):
        raise RuntimeFailure(f"nothing to resume: no {workspace.display(prefix)}",
                             hint="--resume continues a run stopped with Ctrl-C, SIGTERM or "
                                  "SIGHUP; start a new run without it")
    return prefix
