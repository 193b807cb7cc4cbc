"""One AutoML trial: a real MMAR under ``automl/<run_id>/<trial>/``, trained in its own process.

The trial MMAR is what a user could have made by hand: the source's config/ (with the trial's
concrete training config, every annotation removed), resources/ and docs/, commands/
generated, an environment.json whose data paths point at the source's data, and
``.mmarctl/provenance.json`` naming the study, the trial and its values. It is trained by
``mmarctl train`` in a child process, so a crash or a kill takes down that trial only; its
validation points are read from ``models/metrics_history.jsonl`` while it runs (for pruning).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mmarctl
from mmarctl.jsonio import write_json_atomic
from mmarctl.run_records import read_history, read_summary
from mmarctl.workspace import ENVIRONMENT, TRAIN_CONFIG, Workspace, is_path_key

LOG = "train.log"
#: Folders copied from the source MMAR into each trial (data stays where it is).
COPIED = ("config", "resources", "docs")
#: What ``key_mmar_content_only`` keeps of a trial that is not among the best.
KEPT_CONTENT = ("config", "commands", ".mmarctl", LOG)
KEPT_MODELS = ("metrics_history.jsonl", "training_summary.json")
#: A trial's own folders: relative paths into them stay relative (the trial's own).
_OWN_FOLDERS = frozenset(COPIED) | {"models", "eval", "commands"}
#: Seconds a stopped trial gets to save its resumable state before its processes are killed.
STOP_GRACE_S = 30.0


def trial_name(number: int) -> str:
    """The folder of trial ``number`` (``trial_003``), sortable."""
    return f"trial_{number:03d}"


def create_trial_mmar(source: Workspace, dest: Path, config_name: str, config: dict,
                      provenance: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                      seed: int | None = None, amp: bool | None = None) -> Workspace:
    """Write the trial MMAR ``dest`` (replacing a partial one from an interrupted attempt).

    The concrete ``config`` is always the trial's ``config/config_train.json``, whatever the
    source's annotated config (``config_name``, e.g. Clara's ``trn_autoML.json``) is called:
    so the trial's commands/, ``mmarctl train|validate TRIAL`` and the final validation (whose
    CheckpointLoader builds the network from config_train.json) all find it. The annotated
    copy and the AutoML settings files (``config_automl*.json``) are left out: a trial is an
    ordinary MMAR with nothing to search.

    The study's ``--set`` values (``overrides``) and ``--seed`` are written into it, so the
    trial MMAR trains as the study trained it with a plain ``mmarctl train``: a value
    environment.json has goes there (it would override the config), any other one into the
    config's globals, and the seed into ``determinism.random_seed``. Provenance records them.
    The study's ``--amp``/``--no-amp`` (``amp``) becomes the config's ``use_amp``, so the trial
    MMAR computes in the precision its trial ran in.
    """
    from mmarctl.scripts import write_commands

    environment = trial_environment(source)
    config = dict(config)
    for key, value in (overrides or {}).items():
        value = trial_set_value(source, key, value)
        if key in environment:
            environment[key] = value
        else:
            config[key] = value
    if amp is not None:
        config["use_amp"] = amp
    if seed is not None:
        determinism = config.get("determinism")
        config["determinism"] = {**(determinism if isinstance(determinism, dict) else {}),
                                 "random_seed": seed}

    if dest.exists():
        shutil.rmtree(dest)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for folder in COPIED:
        if (source.root / folder).is_dir():
            shutil.copytree(source.root / folder, staging / folder, symlinks=True,
                            ignore=shutil.ignore_patterns("automl"))
    annotated = source.config_path(config_name)
    try:
        (staging / annotated.relative_to(source.root)).unlink(missing_ok=True)
    except ValueError:  # a config outside the source MMAR was not copied
        pass
    for settings_file in (staging / "config").glob("config_automl*.json"):
        settings_file.unlink()
    write_json_atomic(staging / "config" / ENVIRONMENT, environment)
    write_json_atomic(staging / "config" / TRAIN_CONFIG, config)
    if amp is not None:
        _validation_configs_use_amp(staging / "config", amp)
    write_commands(staging, force=True)
    write_json_atomic(staging / ".mmarctl" / "provenance.json", {
        "command": "automl", "source": str(source.root),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mmarctl_version": mmarctl.__version__, "config": config_name, **provenance,
        "set": dict(overrides or {}), "seed": seed, "amp": amp})
    staging.rename(dest)
    return Workspace(dest)


def resumable_trial(root: Path, study_dir: Path) -> str | None:
    """``root`` when it is a trial MMAR of the study at ``study_dir`` holding the resumable
    state a stopped ``mmarctl train`` saves (``MMAR_CKPT_DIR/resume/run.json``), else None."""
    from mmarctl.runtime import checkpoint  # no TensorFlow at import

    try:
        if root.parent.resolve() != study_dir.resolve() or not root.is_dir():
            return None
        state = Workspace(root).checkpoint_dir() / "resume"
    except (OSError, ValueError):  # an environment.json that cannot be read
        return None
    # train --resume's own rule: a hard kill can leave run.json without the checkpoint, and
    # such a trial starts over rather than failing with "nothing to resume".
    whole = (state / "run.json").is_file() and checkpoint.exists(state / "model.ckpt")
    return str(root) if whole else None


def reuse_trial_mmar(stopped: Path, dest: Path, provenance: Mapping[str, Any]) -> Workspace:
    """The stopped trial MMAR ``stopped`` moved to ``dest`` (the re-run's folder), its
    provenance naming the new trial and the one it continues; its config, checkpoints and
    resumable state are kept for ``mmarctl train --resume``."""
    if dest.exists():
        shutil.rmtree(dest)
    stopped.rename(dest)
    path = dest / ".mmarctl" / "provenance.json"
    try:
        import json

        written = json.loads(path.read_text())
    except (OSError, ValueError):
        written = {}
    write_json_atomic(path, {**written, **provenance, "continues": stopped.name})
    return Workspace(dest)


def trial_set_value(source: Workspace, key: str, value: Any) -> Any:
    """A ``--set`` value of the study as its trials see it: a relative path to anything but
    the trial's own folders is made absolute against the source MMAR (as the source would
    read it), so the trial does not look for it inside its own folder."""
    if key in TRIAL_OWN_KEYS:
        return trial_own_folder(source, key, value)
    if isinstance(value, str) and value and is_path_key(key) and "{" not in value:
        path = Path(os.path.expanduser(value))
        if not path.is_absolute() and path.parts[:1] and path.parts[0] not in _OWN_FOLDERS:
            return str((source.root / path).resolve())
    return value


#: environment.json keys naming folders each trial has for itself, and the trial's folder
#: for each when the source names one outside itself.
TRIAL_OWN_KEYS = {"MMAR_CKPT_DIR": "models", "MMAR_EVAL_OUTPUT_PATH": "eval"}


def trial_own_folder(source: Workspace, key: str, value: Any) -> Any:
    """``MMAR_CKPT_DIR``/``MMAR_EVAL_OUTPUT_PATH`` for a trial: always a folder inside the
    trial MMAR. An absolute path would make every trial train into (and the pruner and the
    final validation read) one shared folder: one inside the source MMAR becomes the same
    relative folder of the trial, one outside it the trial's ``models``/``eval``."""
    if not isinstance(value, str) or not value.strip() or "{" in value:
        return value
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        return value
    try:
        inside = path.resolve().relative_to(source.root.resolve())
    except ValueError:
        return TRIAL_OWN_KEYS[key]
    return inside.as_posix() if inside.parts else TRIAL_OWN_KEYS[key]


def moved_own_folders(source: Workspace, overrides: Mapping[str, Any]) -> list[str]:
    """One note per absolute ``MMAR_CKPT_DIR``/``MMAR_EVAL_OUTPUT_PATH`` (environment.json
    or ``--set``) that each trial replaces by a folder of its own."""
    environment = trial_environment_raw(source)
    notes = []
    for key in TRIAL_OWN_KEYS:
        value = overrides.get(key, environment.get(key))
        own = trial_own_folder(source, key, value)
        if own != value:
            notes.append(f"{key}={value} is one folder for every trial: each trial writes "
                         f"its own {own}/ instead")
    return notes


def trial_environment_raw(source: Workspace) -> dict[str, Any]:
    """The source's environment.json as written ({} when absent or not an object)."""
    if not source.config_path(ENVIRONMENT).exists():
        return {}
    environment = source.load(ENVIRONMENT)
    return environment if isinstance(environment, dict) else {}


def trial_environment(source: Workspace) -> dict[str, Any]:
    """The source's environment.json for a trial: paths into its own MMAR folders (models/,
    eval/, config/ ...) stay relative, so the trial writes and reads its own; any other
    relative path (the data) is made absolute, so the trial reads the source's data."""
    environment = trial_environment_raw(source)
    own = _OWN_FOLDERS
    result = {}
    for key, value in environment.items():
        # The checkpoint and eval folders are the trial's own whatever they are called
        # (MMAR_CKPT_DIR "ckpts" or absolute): shared, every trial would train into one.
        if key in TRIAL_OWN_KEYS:
            value = trial_own_folder(source, key, value)
        elif isinstance(value, str) and is_path_key(key) and "{" not in value:
            path = Path(os.path.expanduser(value))
            if not path.is_absolute() and path.parts[:1] and path.parts[0] not in own:
                value = str((source.root / path).resolve())
        result[key] = value
    return result


@dataclass
class TrialOutcome:
    """How a trial process ended.

    Attributes:
        status: ``complete``, ``pruned``, ``failed`` or ``interrupted``.
        metric: the best key metric (None when the run produced none).
        epoch: the epoch of the best metric (1-based).
        key_metric: the metric's name.
        error: the last error line of a failed run.
        seconds: wall time of the trial process.
    """

    status: str
    metric: float | None = None
    epoch: int | None = None
    key_metric: str | None = None
    error: str | None = None
    seconds: float = 0.0


def last_error_line(log: Path) -> str:
    """The last line of a trial's log that reads like an error (else its last line)."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if line.lower().startswith(("error", "mmarctl:")) or "Error" in line.split(":")[0]:
            return line[:300]
    return lines[-1][:300] if lines else "the trial process wrote nothing"


def killed_by(number: int) -> str:
    """A trial's error when its run was killed by signal ``number``."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    why = (" (the out-of-memory killer does this when the machine runs out of memory: "
           "fewer --workers, or a smaller batch or crop size)" if number == signal.SIGKILL
           else "")
    return f"the trial's train process was killed by {name}{why}"


class TrialProcess:
    """``mmarctl train`` on a trial MMAR in a child process.

    Args:
        mmar: the trial MMAR.
        config_name: its training config.
        set_items: ``--set`` items for every trial.
        gpus: the GPUs this trial may use (None: CPU), e.g. ``[0, 1]`` for a 2-GPU Horovod run.
        threads: TensorFlow's intra-op threads on CPU (the cores shared out among workers).
        seed: ``--seed`` for the run (None: the config's).
        extra_flags: more ``mmarctl train`` options (``--tracking ...``).
        extra_env: more environment variables (the MLflow parent run of a tracked study).
    """

    def __init__(self, mmar: Workspace, config_name: str, set_items: Sequence[str], *,
                 gpus: Sequence[int] | None, threads: int | None, seed: int | None,
                 extra_flags: Sequence[str] = (),
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.mmar = mmar
        argv = [sys.executable, "-m", "mmarctl", "train", str(mmar.root),
                "--config-train", config_name]
        for item in set_items:
            argv += ["--set", item]
        if seed is not None:
            argv += ["--seed", str(seed)]
        if gpus and len(gpus) > 1:
            argv += ["--gpus", str(len(gpus))]
        self.argv = argv + list(extra_flags)
        env = {**os.environ, **(extra_env or {})}
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if gpus is None:
            if threads:
                env["TF_NUM_INTRAOP_THREADS"] = str(threads)
                env["TF_NUM_INTEROP_THREADS"] = "1"
        else:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
        self.env = env
        self.process: subprocess.Popen | None = None
        #: Set by :meth:`interrupt` (the study's Ctrl-C): the run ends as ``interrupted``.
        self.interrupted = False
        self._signalled = False
        # Popen and interrupt() may race (the worker thread starts the run while the main
        # thread stops the study): under this lock a stopped trial never starts.
        self._lock = threading.Lock()

    def run(self, on_validation: Callable[[int, float, bool], bool],
            should_stop: Callable[[], bool], key_metric: str | None,
            poll_s: float = 0.5) -> TrialOutcome:
        """Run to the end; ``on_validation(epoch, value, final)`` returning True prunes the
        trial, ``should_stop()`` returning True interrupts it (Ctrl-C of the study)."""
        started = time.monotonic()
        log_path = self.mmar.root / LOG
        # A resumed trial's log goes on after the stopped run's.
        mode = "a" if "--resume" in self.argv else "w"
        with open(log_path, mode, encoding="utf-8") as log:
            with self._lock:
                if self.interrupted or should_stop():
                    return TrialOutcome(status="interrupted")
                # Its own session: a Ctrl-C at the terminal reaches the study, which then
                # stops each trial itself (and records it as interrupted, not failed). A
                # study killed outright (kill -9, the OOM killer) cannot: the trial gets
                # SIGTERM from the kernel instead (PR_SET_PDEATHSIG) and stops as after a
                # Ctrl-C, rather than training on as an orphan beside a --resume. The signal
                # comes when the *thread* that started the trial ends: this worker thread
                # waits in this method until the trial has ended, so it never ends first.
                self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                                stdout=log, stderr=subprocess.STDOUT,
                                                env=self.env, start_new_session=True,
                                                preexec_fn=_stop_with_study())
            checkpoints = self.mmar.checkpoint_dir()
            seen, pruned, stopped = 0, False, False
            while self.process.poll() is None:
                time.sleep(poll_s)
                if should_stop():
                    stopped = True
                    self.interrupt()
                    self.wait_stopped()
                    break
                records = read_history(checkpoints)
                for record in records[seen:]:
                    value = _key_value(record, key_metric)
                    # The last epoch's point is reported, never pruned: the run is done.
                    final = int(record["epoch"]) >= int(record.get("epochs") or 0)
                    if value is not None and on_validation(int(record["epoch"]), value, final):
                        pruned = True
                seen = len(records)
                if pruned:
                    self._signal(signal.SIGINT)
                    self.wait_stopped()
                    break
            code = self.process.wait()
            # Stopped by the study from another thread, which this loop may not have seen.
            stopped = stopped or self.interrupted
        seconds = time.monotonic() - started
        summary = read_summary(checkpoints) or {}
        if code == 0 and summary.get("status") == "finished":
            # It ended by itself before the stop reached it (a Ctrl-C just after its last
            # epoch): a complete trial, not one to throw away and run again.
            stopped = False
        outcome = TrialOutcome(status="complete", metric=summary.get("best_metric"),
                               epoch=summary.get("best_epoch"),
                               key_metric=summary.get("key_metric"), seconds=seconds)
        if outcome.metric is None:  # interrupted or pruned: the best point seen so far
            best = _best_of(read_history(checkpoints), key_metric)
            if best:
                outcome.epoch, outcome.metric = best
        if stopped:
            outcome.status = "interrupted"
        elif pruned:
            outcome.status = "pruned"
        elif code < 0:  # killed by a signal: its log ends on a progress line, not an error
            outcome.status, outcome.error = "failed", killed_by(-code)
        elif code != 0:
            outcome.status, outcome.error = "failed", last_error_line(log_path)
        elif outcome.metric is None:
            outcome.status, outcome.error = "failed", "the run reported no validation metric"
        return outcome

    def interrupt(self) -> None:
        """Ask a running trial to stop (SIGINT to its process group: the run saves a
        resumable state) and mark it ``interrupted``; a trial not started yet never starts.
        Safe from any thread and more than once; returns at once (see :meth:`wait_stopped`).
        A run that has already ended is left as it ended."""
        with self._lock:
            if self.process is not None and self.process.poll() is not None:
                return
            self.interrupted = True
            if self.process is not None:
                self._signal(signal.SIGINT)

    def wait_stopped(self, grace_s: float = STOP_GRACE_S) -> None:
        """Wait up to ``grace_s`` for the stopped run to end, then SIGKILL its process group."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the run's whole process group now (Horovod ranks included) and reap it."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL, again=True)
        self.process.wait()

    def _signal(self, signum: int, again: bool = False) -> None:
        # The run is the leader of its own process group: the group holds every process it
        # started. A second SIGINT would make `mmarctl train` give up its resumable save.
        if self._signalled and not again:
            return
        self._signalled = True
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def _stop_with_study() -> Callable[[], None] | None:
    """The ``preexec_fn`` that stops a trial when this study process dies (Linux; None
    elsewhere): the launcher's, which ``mmarctl train --gpus N`` arms for its workers."""
    from mmarctl.launcher import _stop_with_parent

    return _stop_with_parent(os.getpid())


def _key_value(record: Mapping[str, Any], key_metric: str | None) -> float | None:
    metrics = record.get("metrics") or {}
    name = key_metric or record.get("key_metric") or next(iter(metrics), None)
    value = metrics.get(name) if name else None
    return float(value) if isinstance(value, (int, float)) else None


def _best_of(records: list[dict], key_metric: str | None) -> tuple[int, float] | None:
    points = [(int(r["epoch"]), v) for r in records
              if (v := _key_value(r, key_metric)) is not None]
    return max(points, key=lambda p: p[1]) if points else None


def trim_trial(root: Path) -> None:
    """Keep a trial's config, commands, provenance, log and metrics; drop its checkpoints
    (Clara's ``key_mmar_content_only`` for the trials not among the best). The metrics are
    kept in ``models/`` or wherever ``MMAR_CKPT_DIR`` puts them."""
    checkpoints = Workspace(root).checkpoint_dir()
    for entry in root.iterdir():
        if entry.name == "models" or entry.resolve() == checkpoints:
            for item in entry.iterdir():
                if item.name not in KEPT_MODELS:
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
        elif entry.name not in KEPT_CONTENT:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _validation_configs_use_amp(config_dir: Path, amp: bool) -> None:
    """The study's precision in the trial's validation configs that write ``use_amp``
    (one that does not takes the training config's): its validate.sh then scores the
    trial in the precision it trained in, as the study validated it."""
    for path in sorted(config_dir.glob("config_validation*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # check names a broken file; the trial keeps it as the source has it
        if isinstance(data, dict) and "use_amp" in data and data["use_amp"] != amp:
            write_json_atomic(path, {**data, "use_amp": amp})


def logged_precision(log: Path) -> str | None:
    """What a run's log says it computed in: its ``precision ...`` line (the run's first,
    :func:`mmarctl.runtime.precision.for_run`), e.g. ``bfloat16: --amp and the CPU has
    avx512_bf16``; None when the log has none."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        _, marker, reason = line.partition(": precision ")
        if marker:
            return reason.strip()
    return None


def validate_trial(root: Path, key_metric: str | None, timeout_s: float = 1800,
                   flags: Sequence[str] = ()) -> tuple[float | None, str | None]:
    """``mmarctl validate`` on a kept trial MMAR (its config_validation.json, on the input
    grid); returns (the key metric's value from eval/metrics.json, or None; an error line).

    ``flags``: more ``validate`` options: the study's ``--amp``/``--no-amp``, so the best trial
    is validated in the precision it trained in (its validation config may not say use_amp).
    """
    import json

    log_path = root / "validate.log"
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            code = subprocess.run([sys.executable, "-m", "mmarctl", "validate", str(root),
                                   *flags],
                                  stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout_s,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).returncode
        except subprocess.TimeoutExpired:
            return None, f"validate took longer than {timeout_s:.0f} s"
    if code != 0:
        return None, last_error_line(log_path)
    try:
        summary = json.loads((root / "eval" / "metrics.json").read_text())["summary"]
    except (OSError, ValueError, KeyError):
        return None, "validate wrote no eval/metrics.json"
    name = key_metric if key_metric in summary else next(iter(summary), None)
    value = summary.get(name, {}).get("value") if name else None
    return (float(value) if isinstance(value, (int, float)) else None), None
