"""Clara's ``train_2gpu*.sh``: ``mpirun -np 2 ... python3 -u -m nvmidl.apps.train ...
multi_gpu=true`` (and its multi-GPU evaluation, ``mpirun ... nvmidl.apps.evaluate ...
multi_gpu=true``).

Under ``mpirun`` every process is one worker already; it trains (or validates its share of
the cases) as a Horovod rank (the runtime picks Horovod from Open MPI's / PMI's world size,
:mod:`mmarctl.runtime.distributed`) and must not launch workers of its own, so it is
marked a worker. Horovod joins ``mpirun``'s ranks only when it was built with MPI
(``horovod.tensorflow.mpi_built()``, what ``mmarctl doctor`` reports); without it the run
stops in one line before any training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mmarctl.errors import MissingDependency

_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK")


def _int(env: Mapping[str, str], names: tuple[str, ...], default: int) -> int:
    for name in names:
        try:
            return int(env[name])
        except (KeyError, ValueError):
            continue
    return default


def world_size(environ: Mapping[str, str] | None = None) -> int:
    """Processes in this ``mpirun`` job (1 outside one)."""
    return _int(os.environ if environ is None else environ, _SIZE_VARS, 1)


def rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's rank in the ``mpirun`` job (0 outside one)."""
    return _int(os.environ if environ is None else environ, _RANK_VARS, 0)


def horovod_mpi_built() -> bool:
    """Whether Horovod is installed with its MPI controller (imports TensorFlow)."""
    try:
        from mmarctl.runtime import logs

        logs.quiet_tensorflow()  # TensorFlow's start-up chatter stays off the terminal
        import horovod.tensorflow as hvd
    except Exception:  # not installed, or built against another TensorFlow
        return False
    try:
        return bool(hvd.mpi_built())
    except Exception:
        return False


def prepare_worker(environ: dict[str, str] | None = None, *, mpi_built=horovod_mpi_built) -> bool:
    """Under a multi-process ``mpirun``: check Horovod's MPI and mark this process a worker.

    Returns True when this process is one rank of such a job, False outside one.

    Raises:
        MissingDependency: Horovod without MPI (named with the command that builds it).
    """
    from mmarctl.launcher import INSTALL_COMMAND, WORKER_ENV

    env = os.environ if environ is None else environ
    if world_size(env) < 2:
        return False
    if not mpi_built():
        raise MissingDependency(
            f"mpirun -np {world_size(env)} needs Horovod built with MPI, and this environment's "
            "Horovod has no MPI (horovod.tensorflow.mpi_built() is false)",
            hint=f"`{INSTALL_COMMAND} --mpi`, or train on several GPUs without mpirun: "
                 "mmarctl train MMAR --gpus 2")
    env[WORKER_ENV] = "1"  # train as this rank; never launch workers from inside mpirun
    return True
