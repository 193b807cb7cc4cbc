"""Data-parallel training backends: one process, or several under Horovod.

The trainer talks to one :class:`Backend` and never to Horovod directly::

    backend = get_backend()            # SingleProcess, or HorovodBackend under horovodrun/mpirun
    backend.pin_gpu()                  # before any TensorFlow op: one GPU per process
    files = backend.shard(train_list)  # this rank's share; every rank gets the same count
    backend.broadcast_variables(model.variables + optimizer.variables)  # after first build
    grads = backend.allreduce_gradients(grads)   # inside the tf.function train step
    dice = backend.allreduce_mean(local_dice)    # host side, for validation metrics
    if backend.is_chief: save checkpoint / TensorBoard / eval files / progress bar
    attach_rank_filter(backend)        # done by HorovodBackend itself; again after re-configuring

Why not ``hvd.broadcast_variables`` / ``hvd.DistributedGradientTape``: with Keras 3 the
variables are not ``tf.Variable`` objects and both fail; broadcasting each variable's value
and a grouped allreduce of the gradient list work (checked with 2 Gloo processes).

Horovod is picked automatically when the process was started by Horovod's launcher
(``horovodrun`` sets ``HOROVOD_RANK``/``HOROVOD_SIZE``) or by ``mpirun`` with more than one
process (``OMPI_COMM_WORLD_SIZE`` / ``PMI_SIZE``), or when asked with ``get_backend("horovod")``.
TensorFlow and Horovod are imported lazily, so picking a backend costs nothing.
"""

from __future__ import annotations

import abc
import logging
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from mmarctl.errors import DataError, MissingDependency, RuntimeFailure

__all__ = [
    "Backend", "SingleProcess", "HorovodBackend", "get_backend", "launched_by_horovod",
    "shard_items", "RankFilter", "attach_rank_filter", "install_worker_excepthook",
    "check_world_size", "failure_detail", "HOROVOD_INSTALL_HINT",
]

T = TypeVar("T")

#: What to run when Horovod is missing (kept in one place: launcher and doctor say the same).
HOROVOD_INSTALL_HINT = "install it with: python -m mmarctl.install_horovod"

#: Variables Horovod's own launcher (horovodrun / horovod.runner, Gloo) gives each worker.
_HOROVODRUN_VARS = ("HOROVOD_RANK", "HOROVOD_SIZE")
#: World-size variables of MPI launchers: Open MPI, then MPICH / Intel MPI (PMI).
_MPI_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def launched_by_horovod(environ: Mapping[str, str] | None = None) -> bool:
    """True when this process is one worker of a ``horovodrun`` or multi-process ``mpirun`` job."""
    env = os.environ if environ is None else environ
    if all(name in env for name in _HOROVODRUN_VARS):
        return True
    for name in _MPI_SIZE_VARS:
        try:
            if int(env.get(name, "1")) > 1:
                return True
        except ValueError:
            continue
    return False


def shard_items(items: Sequence[T], rank: int, size: int, *,
                drop_remainder: bool = False) -> list[T]:
    """Rank ``rank``'s share of ``items`` (``items[rank::size]``), equal in length on every rank.

    Every rank must run the same number of steps per epoch, or the ranks that finish first
    wait forever in the next allreduce. When ``len(items)`` is not a multiple of ``size``:

    * default: the list is padded by repeating items from its start, so each rank gets
      ``ceil(n / size)`` items and a few items are seen twice per epoch (nothing is skipped);
      with fewer items than ranks each item is reused as needed;
    * ``drop_remainder=True``: the last ``n % size`` items are left out of this epoch and each
      rank gets ``n // size``; a :class:`DataError` if that leaves nothing.

    An empty list gives every rank an empty share.

    Args:
        items: the full, identically ordered list on every rank.
        rank: this process's rank, ``0 <= rank < size``.
        size: the number of processes, ``>= 1``.
        drop_remainder: drop instead of repeat, as described above.
    """
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"shard_items needs 0 <= rank < size. Received: rank={rank}, size={size}")
    n = len(items)
    if n == 0:
        return []
    if drop_remainder:
        per_rank = n // size
        if per_rank == 0:
            raise DataError(
                f"{n} item(s) cannot be split over {size} processes without repeating",
                hint="use fewer processes, add data, or let mmarctl repeat items")
        return list(items[: per_rank * size][rank::size])
    per_rank = math.ceil(n / size)
    padded = [items[i % n] for i in range(per_rank * size)]
    return padded[rank::size]


class Backend(abc.ABC):
    """What a data-parallel trainer needs from its process group."""

    name: str = "backend"

    @property
    @abc.abstractmethod
    def rank(self) -> int:
        """This process's index in the job, 0 .. size-1."""

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """The number of processes in the job."""

    @property
    @abc.abstractmethod
    def local_rank(self) -> int:
        """This process's index on its own machine (picks its GPU)."""

    @property
    def is_chief(self) -> bool:
        """Rank 0 alone writes checkpoints, TensorBoard, eval files and the progress bar."""
        return self.rank == 0

    def shard(self, items: Sequence[T], *, drop_remainder: bool = False) -> list[T]:
        """This rank's share of ``items``; see :func:`shard_items` for the padding rule."""
        return shard_items(items, self.rank, self.size, drop_remainder=drop_remainder)

    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's own items, ``items[rank::size]``: each item on exactly one rank, none
        repeated, so shares differ in length by one at most (validate/infer, which run no
        collective per item, gather the results once at the end)."""
        return list(items[self.rank::self.size])

    def gather_objects(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        return [value]

    @abc.abstractmethod
    def broadcast_variables(self, variables: Sequence[Any], root_rank: int = 0) -> None:
        """Overwrite every variable with its value on ``root_rank`` (after the model is built)."""

    @abc.abstractmethod
    def allreduce_gradients(self, grads: Sequence[Any]) -> list[Any]:
        """Average gradients over ranks (inside a ``tf.function`` too); ``None`` stays ``None``."""

    @abc.abstractmethod
    def allreduce_mean(self, value: Any) -> Any:
        """Host-side mean over ranks of a number, an array or a dict of numbers (same keys)."""

    @abc.abstractmethod
    def allreduce_sum(self, value: Any) -> Any:
        """Host-side sum over ranks, same types as :meth:`allreduce_mean` (for weighted means)."""

    @abc.abstractmethod
    def barrier(self) -> None:
        """Return only when every rank has reached this call."""

    def pin_gpu(self) -> str | None:
        """Make only GPU ``local_rank % n_gpus`` visible; return its name, or None without GPUs.

        Call before TensorFlow runs its first op (device lists are frozen after that).
        Memory growth is enabled so several processes can share a GPU when they must.
        """
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        gpu = gpus[self.local_rank % len(gpus)]
        try:
            tf.config.set_visible_devices(gpu, "GPU")
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:  # TensorFlow already initialised its devices
            raise RuntimeFailure(
                f"cannot pin {gpu.name} to rank {self.rank}: {error}",
                hint="call backend.pin_gpu() before building the model") from error
        return gpu.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}, " \
               f"local_rank={self.local_rank})"


class SingleProcess(Backend):
    """One process: every collective is the identity."""

    name = "single"

    @property
    def rank(self) -> int:
        return 0

    @property
    def size(self) -> int:
        return 1

    @property
    def local_rank(self) -> int:
        return 0

    def broadcast_variables(self, variables: Sequence[Any], root_rank: int = 0) -> None:
        if root_rank != 0:
            raise ValueError(f"a single process has only rank 0. Received: root_rank={root_rank}")

    def allreduce_gradients(self, grads: Sequence[Any]) -> list[Any]:
        return list(grads)

    def allreduce_mean(self, value: Any) -> Any:
        return value

    def allreduce_sum(self, value: Any) -> Any:
        return value

    def barrier(self) -> None:
        return None


class HorovodBackend(Backend):
    """Several processes joined by Horovod (Gloo or MPI controller; NCCL on GPUs when built).

    Initialises Horovod on construction; create it through :func:`get_backend`, which keeps
    one instance per process.
    """

    name = "horovod"

    def __init__(self) -> None:
        from mmarctl.runtime import logs

        logs.quiet_tensorflow()  # TensorFlow the runtime's way before Horovod loads it
        try:
            import horovod.tensorflow as hvd
        except ImportError as error:
            raise MissingDependency(f"Horovod is not usable here ({error})",
                                    hint=HOROVOD_INSTALL_HINT) from error
        try:
            hvd.init()
        except Exception as error:  # e.g. started by mpirun with a Gloo-only build
            lines = str(error).strip().splitlines()
            raise RuntimeFailure(
                f"Horovod could not start: {lines[0] if lines else type(error).__name__}",
                hint="start workers with `mmarctl train --gpus N` (Gloo); under mpirun Horovod "
                     "must be built with MPI: python -m mmarctl.install_horovod --mpi") from error
        self._hvd = hvd
        self._reduce_count = 0
        install_worker_excepthook(self.rank)
        attach_rank_filter(self)  # other ranks' log lines start with "[rank N] "

    @property
    def rank(self) -> int:
        return int(self._hvd.rank())

    @property
    def size(self) -> int:
        return int(self._hvd.size())

    @property
    def local_rank(self) -> int:
        return int(self._hvd.local_rank())

    def broadcast_variables(self, variables: Sequence[Any], root_rank: int = 0) -> None:
        import tensorflow as tf

        if not 0 <= root_rank < self.size:
            raise ValueError(f"root_rank must be in [0, {self.size}). "
                             f"Received: root_rank={root_rank}")
        for index, variable in enumerate(variables):
            # Keras 3 variables are not tf.Variables: broadcast the value, then assign it.
            value = self._hvd.broadcast(tf.convert_to_tensor(variable), root_rank,
                                        name=f"mmarctl.bcast.{index}")
            variable.assign(value)

    def allreduce_gradients(self, grads: Sequence[Any]) -> list[Any]:
        import tensorflow as tf

        present = [i for i, g in enumerate(grads) if g is not None]
        if not present:
            return list(grads)
        # IndexedSlices (embedding-style gradients) are densified: Gloo reduces dense tensors.
        dense = [tf.convert_to_tensor(grads[i]) for i in present]
        reduced = self._hvd.grouped_allreduce(dense, op=self._hvd.Average)
        out = list(grads)
        for i, g in zip(present, reduced):
            out[i] = g
        return out

    def _host_reduce(self, value: Any, op: Any) -> Any:
        import numpy as np
        import tensorflow as tf

        if isinstance(value, Mapping):
            keys = sorted(value)
            reduced = self._host_reduce(np.array([float(value[k]) for k in keys]), op)
            return {k: float(v) for k, v in zip(keys, reduced)}
        array = np.asarray(value, dtype=np.float64)
        # Each eager collective needs a name that is the same on every rank and new each call.
        self._reduce_count += 1
        out = self._hvd.allreduce(tf.constant(array), op=op,
                                  name=f"mmarctl.host_reduce.{self._reduce_count}").numpy()
        return float(out) if array.ndim == 0 else out

    def allreduce_mean(self, value: Any) -> Any:
        return self._host_reduce(value, self._hvd.Average)

    def allreduce_sum(self, value: Any) -> Any:
        return self._host_reduce(value, self._hvd.Sum)

    def gather_objects(self, value: Any) -> list[Any]:
        self._reduce_count += 1  # the same new name on every rank, as for _host_reduce
        return list(self._hvd.allgather_object(
            value, name=f"mmarctl.gather_objects.{self._reduce_count}"))

    def barrier(self) -> None:
        barrier = getattr(self._hvd, "barrier", None)
        if barrier is not None:
            barrier()
        else:  # older builds: an allreduce completes only when every rank has joined it
            self.allreduce_sum(0.0)


#: Words in an error that mean a collective failed because another process went away.
_PEER_FAILURE_MARKS = ("gloo", "horovod", "connection reset", "connection closed", "broken pipe",
                       "keyboardinterrupt")


def is_peer_failure(error: BaseException) -> bool:
    """Whether ``error`` is how a collective fails in a worker when another one stopped
    (Gloo's or Horovod's words in it), not a failure of this worker's own."""
    text = f"{type(error).__name__} {error}".lower()
    return any(mark in text for mark in _PEER_FAILURE_MARKS)


#: pybind11's text when a signal's KeyboardInterrupt replaced the error a C++ call was
#: raising (the launcher's SIGTERM landing as a collective fails); names no cause itself.
_PYBIND11_MISMATCH = re.compile(r"pybind11::error_already_set: MISMATCH of original and "
                                r"normalized active exception types: ORIGINAL (?P<original>\w+)")


def failure_detail(exc_type: type[BaseException], exc: BaseException) -> str:
    """What the one-line report of a worker's uncaught error says in its parentheses: the
    exception's type and first line, or, where pybind11's "MISMATCH of original and
    normalized ..." text took the place of the error (the launcher stopped this worker as
    its collective failed), the failed call's error type and where the cause is printed."""
    lines = str(exc).strip().splitlines()
    match = _PYBIND11_MISMATCH.search(lines[0]) if lines else None
    if match:
        return (f"its collective failed with {match['original']} as the launcher stopped it; "
                "the cause is in Horovod's error line above")
    return f"{exc_type.__name__}: {lines[0][:200]}" if lines else exc_type.__name__


def install_worker_excepthook(rank: int, argv: Sequence[str] | None = None) -> None:
    """In a Horovod worker, report an uncaught error as one line instead of a traceback.

    When one worker dies, the others fail inside their next collective (a Gloo "connection
    reset" surfacing as a TensorFlow error) or are stopped by the launcher mid-way; their
    tracebacks would bury the first worker's real error. The line names the rank, says when
    the cause is another worker, and keeps the exception's type and first line. With
    ``--debug`` on the command line, and for Ctrl-C, Python's own report is kept.
    """
    args = sys.argv if argv is None else argv
    if "--debug" in args:
        return
    previous = sys.excepthook

    def report(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        detail = failure_detail(exc_type, exc)
        cause = ("another worker stopped, so this one cannot go on"
                 if is_peer_failure(exc) else "stopped")
        print(f"error: rank {rank}: {cause} ({detail}; --debug shows the traceback)",
              file=sys.stderr, flush=True)

    sys.excepthook = report


_BACKEND: Backend | None = None


def get_backend(kind: str = "auto", environ: Mapping[str, str] | None = None) -> Backend:
    """The process's backend, created once.

    Args:
        kind: ``"auto"`` (Horovod when :func:`launched_by_horovod`, else one process),
            ``"horovod"`` (Horovod even for one process; fails when it is not installed) or
            ``"single"``.
        environ: environment to inspect for ``"auto"`` (default ``os.environ``).
    """
    global _BACKEND
    if kind not in ("auto", "horovod", "single"):
        raise ValueError(f"kind must be 'auto', 'horovod' or 'single'. Received: kind={kind!r}")
    if kind == "auto":
        kind = "horovod" if launched_by_horovod(environ) else "single"
    if _BACKEND is not None and _BACKEND.name == kind:
        return _BACKEND
    backend = HorovodBackend() if kind == "horovod" else SingleProcess()
    # Before anything is written: a worker that is alone must not train as if it were the job.
    check_world_size(backend, environ)
    _BACKEND = backend
    return _BACKEND


def check_world_size(backend: Backend, environ: Mapping[str, str] | None = None) -> None:
    """Stop a worker whose process group is not the one its launcher started.

    ``mmarctl train --gpus N`` tells each worker N (``MMARCTL_EXPECTED_SIZE``). A Horovod
    built without MPI and started by ``mpirun`` initialises as N separate jobs of size 1:
    each would train alone and all would write the same checkpoint. Such a worker raises
    here, before it writes anything, and the launcher then stops the job.

    Raises:
        RuntimeFailure: the backend's size differs from the launcher's (one line: why).
    """
    from mmarctl.launcher import EXPECTED_SIZE_ENV, LAUNCHER_ENV, expected_size, launch_rank

    env = os.environ if environ is None else environ
    expected = expected_size(env)
    if expected is None or backend.size == expected:
        return
    launcher = env.get(LAUNCHER_ENV) or "the launcher"
    rank = launch_rank(env)
    mpi_built = _mpi_built(backend)
    if backend.size == 1 and launcher == "mpirun" and mpi_built is False:
        why = "this Horovod was built without MPI, so under mpirun each process trains alone"
        hint = ("rebuild it with `python -m mmarctl.install_horovod --mpi`, or use "
                "--launcher gloo")
    else:
        why = (f"launcher mismatch: Horovod's {backend.name} backend did not join the "
               f"processes {launcher} started")
        hint = ("start workers with `mmarctl train --gpus N` (Horovod built with MPI for "
                f"--launcher mpirun); {EXPECTED_SIZE_ENV} must not be set by hand")
    raise RuntimeFailure(f"worker {rank}: Horovod sees {backend.size} process(es) but "
                         f"{launcher} started {expected}: {why}; stopping before anything "
                         "is written", hint=hint)


def _mpi_built(backend: Backend) -> bool | None:
    """``hvd.mpi_built()`` of a Horovod backend; None when unknown."""
    hvd = getattr(backend, "_hvd", None)
    if hvd is None:
        return None
    try:
        return bool(hvd.mpi_built())
    except Exception:  # a build without the probe
        return None


class RankFilter(logging.Filter):
    """Adds ``record.rank`` and, on ranks other than 0, starts the message with ``[rank N] ``.

    Rank 0's lines stay as they are, so a one-process run logs exactly as before.
    """

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank
        self.prefix = f"[rank {rank}] " if rank else ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        if self.prefix and not getattr(record, "_mmarctl_ranked", False):
            record.msg = f"{self.prefix}{record.msg}"
            record._mmarctl_ranked = True  # several handlers must not prefix twice
        return True


def attach_rank_filter(backend: Backend, logger: logging.Logger | None = None) -> RankFilter:
    """Put a :class:`RankFilter` on every handler of ``logger``.

    By default: the handlers of the root logger and of every logger that exists now (a
    Clara ``log.config`` may hang handlers on named loggers). Handler filters see records
    from all child loggers, which logger filters would not. :class:`HorovodBackend` calls
    this when it starts, i.e. after the trainer applied ``resources/log.config``; call it
    again if logging is configured later.
    """
    if logger is not None:
        targets = [logger]
    else:
        manager = logging.Logger.manager
        targets = [logging.getLogger()] + [
            item for item in list(manager.loggerDict.values()) if isinstance(item, logging.Logger)]
    rank_filter = RankFilter(backend.rank)
    for target in targets:
        for handler in target.handlers:
            if not any(isinstance(f, RankFilter) for f in handler.filters):
                handler.addFilter(rank_filter)
    return rank_filter
