"""The AutoML study: Optuna storage, the trial queue, worker threads, pruning and the end.

Every trial a study will run is put in Optuna's queue when the study is created
(``enqueue_trial``): the grid points of an enum-only space, or empty entries whose values the
sampler draws when a worker takes one. A worker takes trials only from the queue, and taking
one is atomic in the storage, so several processes (``mmarctl automl --storage URL`` on
several machines) share a study without running one trial twice or overshooting the count.
A trial stopped by Ctrl-C is recorded as failed-interrupted and queued again with the same
values; ``--resume`` then runs what is still queued and never re-runs a finished trial.
A trial that fails because of the machine rather than its values (no space left, a disk
quota, a read-only file system: :func:`machine_failure`) stops the study the same way, since
every later trial would fail alike; :attr:`Study.machine_failure` says why.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmarctl.errors import MissingDependency, MmarError, UsageError, WorkspaceError
from mmarctl.search.concrete import concrete_config
from mmarctl.search.space import SearchSpace
from mmarctl.search.scalars import StudyScalars
from mmarctl.search.settings import AutomlSettings
from mmarctl.search.trials import (STOP_GRACE_S, TrialOutcome, TrialProcess, create_trial_mmar,
                                   resumable_trial, reuse_trial_mmar, trial_name,
                                   trial_set_value)
from mmarctl.variables import parse_set_items
from mmarctl.search.workers import Slot
from mmarctl.tracking.study import trial_environment
from mmarctl.workspace import TRAIN_CONFIG, Workspace

QUEUED = "mmarctl_queued"
INTERRUPTED = "mmarctl_interrupted"
SURPLUS = "mmarctl_surplus"
#: A re-queued trial's user attribute: the stopped trial's MMAR, whose resumable state the
#: re-run continues (``mmarctl train --resume``) instead of starting over.
RESUME_FROM = "mmarctl_resume_from"
#: The study's user attribute holding the options every trial trains with.
TRIAL_OPTIONS = "trial_options"
DATABASE = "study.db"
#: After Ctrl-C, how long the workers get to record their stopped trials (each trial process
#: has already ended or been killed by then).
RECORD_TIMEOUT_S = 30.0
#: Words of a trial's error line that blame the machine, not the trial's values: mmarctl's
#: own lines (errors.disk_full, errors.write_failed) and the operating system's.
MACHINE_FAILURES = ("no space left on the device", "no space left on device",
                    "disk quota exceeded", "read-only file system")
_MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def machine_failure(error: str | None) -> bool:
    """Whether a failed trial's error line says the machine failed it (a full disk, a quota,
    a read-only file system), which every later trial would meet too."""
    return bool(error) and any(words in error.lower() for words in MACHINE_FAILURES)


def import_optuna() -> Any:
    """Optuna, quiet (its INFO line per trial would bury the study's own progress)."""
    try:
        import optuna
    except ImportError:
        raise MissingDependency("mmarctl automl needs Optuna",
                                hint="pip install -e '.[automl]' in the mmarctl checkout")\
            from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def study_amp(train_flags: list[str]) -> bool | None:
    """The study's ``--amp``/``--no-amp`` as the trial MMARs' ``use_amp`` (None: neither
    given, the config's own ``use_amp`` stands), so a trial's commands/train.sh trains in
    the precision its trial did."""
    flag = next((f for f in train_flags if f in ("--amp", "--no-amp")), None)
    return {"--amp": True, "--no-amp": False}.get(flag) if flag else None


@dataclass
class StudyOptions:
    """What ``mmarctl automl`` was asked for (already checked)."""

    run_id: str
    config_name: str
    rounds: int | None
    slots: list[Slot]
    set_items: list[str] = field(default_factory=list)
    storage: str | None = None
    resume: bool = False
    seed: int | None = None
    train_flags: list[str] = field(default_factory=list)
    #: Environment for every trial process (MLflow's parent run; mmarctl.tracking.study).
    trial_env: dict[str, str] = field(default_factory=dict)


def default_storage(study_dir: Path) -> str:
    """The embedded storage: a SQLite file in the study folder."""
    return f"sqlite:///{study_dir / DATABASE}"


@contextlib.contextmanager
def sqlite_serialised(url: str, purpose: str) -> Iterator[None]:
    """Held by one process at a time for ``purpose`` on a SQLite study (no-op otherwise).

    SQLite is shared only between processes of one machine, so an OS file lock beside the
    database (released by the kernel on any exit, kill -9 included) serialises what SQLite
    itself cannot: creating Optuna's tables, and taking a queued trial (see
    ``Study._taking``). PostgreSQL and MySQL need neither.
    """
    database = sqlite_path(url)
    if database is None:
        yield
        return
    with open(f"{database}.{purpose}-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _rdb_storage(url: str) -> Any:
    optuna = import_optuna()
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # several workers write at once
    else:
        kwargs["pool_pre_ping"] = True
    for attempt in range(5):
        try:
            # Two processes starting at once both create Optuna's tables and version row: on
            # SQLite they take turns; on a server the loser of the race tries again.
            with sqlite_serialised(url, "create"):
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except ImportError:
            raise
        except Exception as error:
            if attempt == 4 or not _CREATION_RACE.search(str(error)):
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


_CREATION_RACE = re.compile(r"UniqueViolation|duplicate key|already exists|database is locked"
                            r"|UNIQUE constraint failed")


def open_storage(url: str, embedded: bool = False) -> Any:
    """An Optuna RDB storage for ``url``; one line when it is unreachable or malformed.
    ``embedded``: ``url`` is the study folder's own ``study.db`` (no ``--storage`` given),
    so a message names that file, not an option the user never gave.

    Raises:
        UsageError: the URL does not parse or names no database Optuna supports.
        MmarError: the database cannot be reached.
    """
    database = sqlite_path(url)
    if database is not None and not Path(database).parent.is_dir():
        # SQLite would say only "unable to open database file" (or name a lock file).
        raise MmarError(f"--storage {url}: the folder {Path(database).parent} does not exist",
                        hint="create it, or give a path in an existing folder")
    try:
        return _rdb_storage(url)
    except ImportError as error:
        raise MissingDependency(f"--storage {url}: the database driver is missing ({error})",
                                hint="pip install -e '.[automl-postgres]' in the mmarctl checkout,"
                                     " for PostgreSQL")\
            from None
    except Exception as error:  # SQLAlchemy raises many kinds; each is one line here
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "Could not parse" in text or "Can't load plugin" in text:
            raise UsageError(f"--storage {url!r}: not a database URL Optuna can use ({text})",
                             hint="e.g. sqlite:///study.db or postgresql://user@host/db")\
                from None
        if embedded:
            raise MmarError(f"{database}: cannot open the study: {text[:200]}",
                            hint="the study's database is damaged and cannot be resumed: "
                                 "start the search again with another --run-id") from None
        raise MmarError(f"--storage {url}: cannot open the study storage: {text[:200]}")\
            from None


def sqlite_path(url: str) -> str | None:
    """The database file of a ``sqlite:///`` URL, else None."""
    if not url.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return database if database and database != ":memory:" else None


def space_fingerprint(config: dict) -> str:
    """A hash of the annotated config: ``--resume`` must continue the same search."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_study(storage: Any, run_id: str) -> Any | None:
    """The study summary named ``run_id`` in ``storage``, or None."""
    optuna = import_optuna()
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if summary.study_name == run_id:
            return summary
    return None


def stored_options(url: str, run_id: str, embedded: bool = False) -> dict[str, Any] | None:
    """What the study ``run_id`` in ``url`` was created with: ``set_items``, ``seed``,
    ``train_flags``, ``controller`` and ``total`` (trials planned); None when there is no such study.
    A study made before these were stored gives only ``total``. ``embedded``: as for
    :func:`open_storage`."""
    storage = open_storage(url, embedded)
    if find_study(storage, run_id) is None:
        return None
    attrs = storage.get_study_user_attrs(storage.get_study_id_from_name(run_id))
    return {**(attrs.get(TRIAL_OPTIONS) or {}), "total": attrs.get("total")}


#: TPE's random start-up trials. Optuna's default, 10, would make a study of Clara's usual
#: 8 rounds purely random.
TPE_STARTUP_TRIALS = 4


def sampler_for(settings: AutomlSettings, seed: int | None) -> Any:
    """Optuna's sampler for the controller (an enum-only grid comes from the queue, so the
    sampler only ever draws values for float dimensions and non-grid enums).

    With a seed, each trial's draws come from ``(seed, trial number)``: a trial number is
    never reused in a study, so a study resumed, grown or joined by another process draws
    new values. (A sampler seeded once per process would replay its first draws on every
    ``--resume`` and run the values of finished trials again.)"""
    optuna = import_optuna()
    if settings.sampler == "random":
        return _per_trial_seeded(optuna.samplers.RandomSampler, seed)(seed=seed)
    # Clara's ReinforcementController -> TPE; its first trials are random (start-up).
    return _per_trial_seeded(optuna.samplers.TPESampler, seed)(
        seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number`` of a study seeded with ``seed``."""
    import numpy as np

    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _per_trial_seeded(base: type, seed: int | None) -> type:
    """``base`` (an Optuna sampler) whose random state is seeded again for each trial."""
    if seed is None:
        return base

    class PerTrialSeeded(base):  # type: ignore[misc, valid-type]
        def before_trial(self, study: Any, trial: Any) -> None:
            value = trial_seed(seed, trial.number)
            # Optuna's samplers keep their random state in ``_rng`` (TPE: and in its
            # start-up RandomSampler); reseed_rng() would seed them from the clock.
            for sampler in (self, getattr(self, "_random_sampler", None)):
                state = getattr(sampler, "_rng", None)
                if state is not None:
                    state.rng.seed(value)
            super().before_trial(study, trial)

    PerTrialSeeded.__name__ = base.__name__
    return PerTrialSeeded


def total_trials(space: SearchSpace, settings: AutomlSettings, rounds: int | None) -> int:
    """Trials the study runs: every combination of an enum-only space (``--rounds`` may cap
    it), else ``--rounds`` or ``max_rounds``."""
    if space.enum_only:
        combinations = space.combinations()
        return min(rounds, combinations) if rounds else combinations
    return rounds or settings.max_rounds


@dataclass
class StudyEvents:
    """Callbacks the study driver calls from its worker threads (printing, progress)."""

    trial_started: Callable[[int, dict[str, Any], Slot], None] = lambda n, v, s: None
    trial_finished: Callable[[int, TrialOutcome], None] = lambda n, o: None


class Study:
    """One AutoML study over one MMAR.

    Args:
        workspace: the source MMAR.
        config: the annotated training config as written.
        space: its search space (checked).
        settings: ``config_automl.json``.
        options: the command line.
        study_dir: ``automl/<run_id>/``.
        storage: an Optuna storage.
    """

    def __init__(self, workspace: Workspace, config: dict, space: SearchSpace,
                 settings: AutomlSettings, options: StudyOptions, study_dir: Path,
                 storage: Any) -> None:
        self.workspace = workspace
        self.config = config
        self.space = space
        self.settings = settings
        self.options = options
        self.study_dir = study_dir
        self.storage = storage
        self.stop = threading.Event()
        self.threshold_reached = threading.Event()
        self.events = StudyEvents()
        self.errors: list[str] = []
        #: The first trial error that blames the machine (:func:`machine_failure`), which
        #: stopped the study; None otherwise.
        self.machine_failure: str | None = None
        self.study: Any = None
        self.scalars = StudyScalars(study_dir / "study", warn=self.errors.append)
        self.storage_url = options.storage or default_storage(study_dir)
        self._take_lock = threading.Lock()
        self._scalars_lock = threading.Lock()
        #: The trial processes of this study's workers, stopped directly on Ctrl-C.
        self._live: set[TrialProcess] = set()
        self._live_lock = threading.Lock()
        self._run_lock: Any = None

    def hold(self, exclusive: bool) -> None:
        """Mark this process as running the study until it exits (SQLite storage only).

        Every process of a study holds a shared OS lock on ``<database>.run-lock`` (the
        kernel drops it on any exit, kill -9 included). ``--resume`` asks for it exclusively
        first: it re-queues the trials left running, which must not be those of a live
        process; it keeps the lock exclusive until :meth:`share`. Other storages have no
        such lock (docs/automl.md).

        Raises:
            WorkspaceError: ``exclusive`` and another process is running the study.
        """
        database = sqlite_path(self.storage_url)
        if database is None or self._run_lock is not None:
            return
        handle = open(f"{database}.run-lock", "a+b")  # not inherited by trial processes
        if exclusive:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                shown = self.workspace.display(Path(database))
                raise WorkspaceError(f"--resume: study {self.options.run_id!r} is running in "
                                     f"another mmarctl automl process ({shown} is in use)",
                                     hint="let it finish or stop it (Ctrl-C), then --resume")\
                    from None
        else:
            fcntl.flock(handle, fcntl.LOCK_SH)
        self._run_lock = handle

    def share(self) -> None:
        """After ``--resume`` has re-queued the stale trials: let other processes join."""
        if self._run_lock is not None:
            fcntl.flock(self._run_lock, fcntl.LOCK_SH)

    # -- creating or joining ----------------------------------------------------------------
    def open(self, total: int) -> tuple[Any, bool]:
        """Create the study and queue its trials, or load it; returns (study, created)."""
        optuna = import_optuna()
        sampler = sampler_for(self.settings, self.options.seed)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
        fingerprint = space_fingerprint(self.config)
        try:
            study = optuna.create_study(study_name=self.options.run_id, storage=self.storage,
                                        sampler=sampler, pruner=pruner, direction="maximize")
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=self.options.run_id, storage=self.storage,
                                      sampler=sampler, pruner=pruner)
            created = False
        if created:
            study.set_user_attr("fingerprint", fingerprint)
            study.set_user_attr("config", self.options.config_name)
            # What every trial trains with: --resume reuses it (see stored_options).
            study.set_user_attr(TRIAL_OPTIONS, {"set_items": self.options.set_items,
                                                "seed": self.options.seed,
                                                "train_flags": self.options.train_flags,
                                                "controller": self.settings.controller})
            points = list(self.space.grid()) if self.space.enum_only else [{}] * total
            for point in points[:total]:
                study.enqueue_trial(point, user_attrs={QUEUED: True}, skip_if_exists=False)
            study.set_user_attr("total", total)
            study.set_user_attr("ready", True)
        else:
            deadline = time.monotonic() + 60
            while not study.user_attrs.get("ready") and time.monotonic() < deadline:
                time.sleep(0.5)  # another process is queueing the trials right now
                study = optuna.load_study(study_name=self.options.run_id,
                                          storage=self.storage, sampler=sampler, pruner=pruner)
            if study.user_attrs.get("fingerprint") not in (None, fingerprint):
                raise UsageError(f"study {self.options.run_id!r} was made from a different "
                                 f"{self.options.config_name}",
                                 hint="use another --run-id for the changed search")
        self.study = study
        return study, created

    def requeue_stale(self) -> int:
        """``--resume``: trials left running by a study that was killed are queued again."""
        optuna = import_optuna()
        stale = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        for trial in stale:
            self.storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
            self.storage.set_trial_state_values(trial._trial_id,
                                                optuna.trial.TrialState.FAIL)
            mmar = trial.user_attrs.get("mmar")
            self._requeue(trial.params, resumable_trial(Path(mmar), self.study_dir)
                          if mmar else None)
        return len(stale)

    def extend(self, total: int) -> int:
        """``--resume --rounds N`` past the study's size: queue the extra trials (a grid
        never grows past its combinations). Returns how many were added."""
        planned = int(self.study.user_attrs.get("total", 0))
        if self.space.enum_only:
            total = min(total, self.space.combinations())
        extra = total - planned
        if extra <= 0:
            return 0
        if self.space.enum_only:
            # Queued points hold their values as fixed_params until a worker takes them.
            done = {json.dumps(t.params or t.system_attrs.get("fixed_params") or {},
                               sort_keys=True)
                    for t in self.study.get_trials(deepcopy=False)}
            points = [p for p in self.space.grid() if json.dumps(p, sort_keys=True) not in done]
        else:
            points = [{}] * extra
        for point in points[:extra]:
            self._requeue(point)
        self.study.set_user_attr("total", planned + len(points[:extra]))
        return len(points[:extra])

    def queued(self) -> int:
        """Trials still waiting in the queue."""
        optuna = import_optuna()
        return len(self.study.get_trials(deepcopy=False,
                                         states=(optuna.trial.TrialState.WAITING,)))

    def _requeue(self, params: dict[str, Any], resume_from: str | None = None) -> None:
        attrs: dict[str, Any] = {QUEUED: True}
        if resume_from:
            attrs[RESUME_FROM] = resume_from
        self.study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)

    # -- running --------------------------------------------------------------------------
    def run(self) -> None:
        """Run queued trials on every slot until the queue is empty or the study stops.
        Ctrl-C (KeyboardInterrupt in the calling thread) stops every trial process first."""
        if not self.options.slots:
            return
        remaining = [len(self.options.slots)]
        all_done = threading.Event()
        count_lock = threading.Lock()

        def work(slot: Slot) -> None:
            try:
                self._worker(slot)
            finally:
                with count_lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        all_done.set()

        threads = [threading.Thread(target=work, args=(slot,), daemon=True,
                                    name=f"automl-worker-{slot.index}")
                   for slot in self.options.slots]
        for thread in threads:
            thread.start()
        try:
            # An Event, not Thread.join: on Python 3.11 a KeyboardInterrupt inside
            # join(timeout) marks a thread that still runs as stopped, and every later join
            # then returns at once, before the trials are stopped and recorded.
            while not all_done.wait(timeout=0.5):
                pass
        except KeyboardInterrupt:
            self.stop.set()
            try:
                self._stop_trials()
                # The workers record each stopped trial as interrupted and queue it again.
                all_done.wait(timeout=RECORD_TIMEOUT_S)
            except KeyboardInterrupt:  # a second Ctrl-C: no more grace
                self._kill_trials()
            raise
        finally:
            self.scalars.close()

    def _live_trials(self) -> list[TrialProcess]:
        with self._live_lock:
            return list(self._live)

    def _stop_trials(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop every trial process now: SIGINT to all at once, then each one SIGKILLed
        if it has not ended within ``grace_s`` (whatever its worker thread is doing)."""
        processes = self._live_trials()
        for process in processes:
            process.interrupt()
        deadline = time.monotonic() + grace_s
        for process in processes:
            process.wait_stopped(max(0.0, deadline - time.monotonic()))

    def _kill_trials(self) -> None:
        for process in self._live_trials():
            process.interrupt()
            process.kill()

    def _worker(self, slot: Slot) -> None:
        optuna = import_optuna()
        while not self.stop.is_set():
            with self._taking():
                if self.queued() == 0:
                    return
                trial = self.study.ask()
                # Drawn while no other worker asks: the sampler is seeded per trial
                # (sampler_for), and another ask in between would reseed it.
                point = self._suggest(trial) if trial.user_attrs.get(QUEUED) else {}
            if not trial.user_attrs.get(QUEUED):
                # Another worker took the last queued trial between our look and our ask.
                trial.set_user_attr(SURPLUS, True)
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return
            try:
                self._run_trial(trial, slot, point)
            except optuna.exceptions.UpdateFinishedTrialError:
                self.errors.append(f"trial {trial.number} was ended by another process "
                                   "(a --resume elsewhere?); its result is not recorded")
            except OSError as error:
                if error.errno in _MACHINE_ERRNOS:
                    # Making the trial's MMAR hit a full disk: the machine's problem, not
                    # the trial's; its values are queued again and the study stops.
                    from mmarctl.errors import write_failed

                    failure = write_failed(error, absolute=True)
                    self._stop_for_machine(trial, str(failure or error).splitlines()[0])
                else:
                    self._record_broken(trial, error)
            except Exception as error:  # a broken trial never takes the study down
                self._record_broken(trial, error)

    def _record_broken(self, trial: Any, error: BaseException) -> None:
        """A trial whose bookkeeping raised: failed with the error, the study goes on."""
        optuna = import_optuna()
        message = f"trial {trial.number}: {error}".splitlines()[0]
        self.errors.append(message)
        try:
            trial.set_user_attr("error", message)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except Exception:  # noqa: BLE001 - already ended elsewhere: nothing to record
            pass

    def _stop_for_machine(self, trial: Any, error: str) -> None:
        """Trial ``trial`` failed because of the machine (``error``, its one line): it is
        recorded as stopped and queued again with the same values, like one stopped by
        Ctrl-C, its folder removed (its re-run starts over; a full disk needs the space),
        and the study stops: every later trial would fail the same way."""
        optuna = import_optuna()
        # The trial's own line, without its "error: " and its hint: the study's line adds
        # its own (the continue command).
        shown = re.sub(r" \([^()]*\)$", "", re.sub(r"^error:\s*", "", error))
        with self._live_lock:
            if self.machine_failure is None:
                self.machine_failure = f"trial {trial.number}: {shown}"
        self.stop.set()  # no new trial; the running ones are stopped and queued again
        try:
            trial.set_user_attr("error", error)
            trial.set_user_attr(INTERRUPTED, True)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self._requeue(trial.params)
        except Exception as failure:  # noqa: BLE001 - e.g. the database on the same disk
            self.errors.append(f"trial {trial.number}: not queued again ({failure})"
                               .splitlines()[0])
        shutil.rmtree(self.study_dir / trial_name(trial.number), ignore_errors=True)

    @contextlib.contextmanager
    def _taking(self) -> Iterator[None]:
        """Held while a worker takes a trial from the queue.

        Optuna takes a queued trial by reading it as waiting, then marking it running. On
        PostgreSQL and MySQL the read locks the row (SELECT ... FOR UPDATE); SQLite ignores
        that, and two takers could both get the same trial. So on SQLite the take is
        serialised: between threads by a lock, between processes by an OS file lock beside the
        database (SQLite is shared between processes of one machine only).
        """
        with self._take_lock, sqlite_serialised(self.storage_url, "take"):
            yield

    def _suggest(self, trial: Any) -> dict[str, Any]:
        point: dict[str, Any] = {}
        for dimension in self.space.dimensions:
            if dimension.type == "enum":
                point[dimension.key] = trial.suggest_categorical(
                    dimension.key, list(range(len(dimension.targets))))
            else:
                low, high = dimension.targets
                # Learning rates and other positive ranges spanning decades: log scale.
                log = low > 0 and high / low >= 100
                point[dimension.key] = trial.suggest_float(dimension.key, low, high, log=log)
        return point

    def _run_trial(self, trial: Any, slot: Slot, point: dict[str, Any]) -> None:
        optuna = import_optuna()
        values = self.space.describe(point)
        trial.set_user_attr("values", _jsonable(values))
        name = trial_name(trial.number)
        overrides = {key: trial_set_value(self.workspace, key, value)
                     for key, value in parse_set_items(self.options.set_items).items()}
        shown = self.workspace.display(self.workspace.config_path(self.options.config_name))
        concrete = concrete_config(self.config, self.space, point, shown)
        provenance = {"study": self.options.run_id, "trial": trial.number,
                      "values": _jsonable(values), "storage": _safe_url(self.options)}
        # A stopped trial's re-run continues its resumable state (same values, same
        # config) in its folder, renamed for the new trial number, rather than starting over.
        stopped = trial.user_attrs.get(RESUME_FROM)
        stopped = resumable_trial(Path(stopped), self.study_dir) if stopped else None
        if stopped:
            mmar = reuse_trial_mmar(Path(stopped), self.study_dir / name, provenance)
        else:
            mmar = create_trial_mmar(
                self.workspace, self.study_dir / name, self.options.config_name,
                concrete, provenance, overrides=overrides, seed=self.options.seed,
                amp=study_amp(self.options.train_flags))
        trial.set_user_attr("mmar", str(mmar.root))
        trial.set_user_attr("slot", slot.index)
        self.events.trial_started(trial.number, values, slot)
        # Still given to `mmarctl train` too (its run records them), as the trial sees them.
        set_items = [f"{key}={value if isinstance(value, str) else json.dumps(value)}"
                     for key, value in overrides.items()]
        process = TrialProcess(mmar, TRAIN_CONFIG,
                               set_items, gpus=slot.gpus, threads=slot.threads,
                               seed=self.options.seed,
                               extra_flags=[*self.options.train_flags,
                                            *(["--resume"] if stopped else [])],
                               extra_env=trial_environment(self.options.trial_env,
                                                           self.options.run_id, trial.number,
                                                           _jsonable(values)))

        def on_validation(epoch: int, value: float, final: bool) -> bool:
            try:
                trial.report(value, step=epoch)
            except optuna.exceptions.UpdateFinishedTrialError:
                # Ended by another process: stop training it (as a prune stops a run), and
                # the bookkeeping below reports it in one line.
                return True
            return not final and trial.should_prune()

        with self._live_lock:
            self._live.add(process)
        try:
            outcome = process.run(on_validation, self.stop.is_set, key_metric=None)
        except Exception:
            # Whatever went wrong here, the trial's train process must not go on alone.
            process.interrupt()
            process.wait_stopped()
            raise
        finally:
            with self._live_lock:
                self._live.discard(process)
        trial.set_user_attr("seconds", round(outcome.seconds, 2))
        if outcome.epoch is not None:
            trial.set_user_attr("epoch", outcome.epoch)
        if outcome.key_metric:
            trial.set_user_attr("key_metric", outcome.key_metric)
        if outcome.metric is not None:
            trial.set_user_attr("metric", outcome.metric)
        if outcome.status == "complete":
            self.study.tell(trial, outcome.metric)
            threshold = self.settings.stop_threshold
            if threshold is not None and outcome.metric >= threshold:
                self.threshold_reached.set()
                self.stop.set()
        elif outcome.status == "pruned":
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif outcome.status == "interrupted":
            trial.set_user_attr(INTERRUPTED, True)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            resume_from = resumable_trial(mmar.root, self.study_dir)
            self._requeue(trial.params, resume_from)
        elif machine_failure(outcome.error):
            self.events.trial_finished(trial.number, outcome)
            self._stop_for_machine(trial, outcome.error or "failed")
            return
        else:
            trial.set_user_attr("error", outcome.error or "failed")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if outcome.status != "interrupted":
            with self._scalars_lock:
                self.scalars.trial(trial.number, outcome.metric, outcome.seconds, values)
        elif not resume_from:
            shutil.rmtree(mmar.root, ignore_errors=True)  # its re-run is queued, from scratch
        self.events.trial_finished(trial.number, outcome)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _safe_url(options: StudyOptions) -> str | None:
    """The storage URL without a password, for provenance."""
    url = options.storage
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':')[0]}@{host}"
