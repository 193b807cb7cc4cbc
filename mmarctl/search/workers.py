"""Trial process slots: ``--workers N`` and Clara's ``workers=0:0:1:1``.

A slot runs one trial at a time. On a machine with GPUs, ``--workers N`` hands the GPUs out
round-robin (worker i on GPU i mod G); on CPU the cores are shared out, each trial process
getting ``cores // N`` TensorFlow threads. Clara's spec names each worker's GPUs: ``0:0:1:1``
is four workers, two on GPU 0 and two on GPU 1; ``0,1:2,3`` two workers of two GPUs each (a
2-process Horovod trial).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mmarctl.errors import UsageError


@dataclass(frozen=True)
class Slot:
    """One trial process slot: its GPUs (None on CPU) and its CPU threads."""

    index: int
    gpus: tuple[int, ...] | None
    threads: int | None

    def describe(self) -> str:
        if self.gpus is None:
            return f"worker {self.index}: CPU, {self.threads} thread(s)"
        return f"worker {self.index}: GPU {','.join(map(str, self.gpus))}"


def parse_worker_gpus(spec: str, option: str = "--worker-gpus") -> list[tuple[int, ...]]:
    """``0:0:1:1`` -> ``[(0,), (0,), (1,), (1,)]``; ``0,1:2,3`` -> ``[(0, 1), (2, 3)]``.

    Raises:
        UsageError: an empty entry, or one that is not a GPU number.
    """
    entries = []
    for entry in str(spec).split(":"):
        try:
            gpus = tuple(int(part) for part in entry.split(","))
        except ValueError:
            gpus = ()
        if not gpus or any(g < 0 for g in gpus) or len(set(gpus)) != len(gpus):
            raise UsageError(f"{option}: expected GPU numbers such as 0:0:1:1 or 0,1:2,3; "
                             f"Received: {spec!r} (bad entry {entry!r})")
        entries.append(gpus)
    return entries


def plan_slots(workers: int | None, worker_gpus: str | None, gpu_count: int,
               cores: int | None = None) -> list[Slot]:
    """The slots for ``--workers`` / ``--worker-gpus`` on a machine with ``gpu_count`` GPUs.

    Raises:
        UsageError: both options given, ``--workers`` below 1, or a spec naming a GPU the
            machine does not have.
    """
    cores = cores or os.cpu_count() or 1
    if worker_gpus is not None:
        if workers is not None:
            raise UsageError("give --workers or --worker-gpus, not both")
        entries = parse_worker_gpus(worker_gpus)
        missing = sorted({g for entry in entries for g in entry if g >= gpu_count})
        if missing:
            raise UsageError(f"--worker-gpus names GPU {missing[0]} but this machine has "
                             f"{gpu_count} GPU(s); Received: {worker_gpus!r}",
                             hint="use --workers N on CPU")
        return [Slot(i, entry, None) for i, entry in enumerate(entries)]
    count = 1 if workers is None else workers
    if count < 1:
        raise UsageError(f"--workers must be at least 1; Received: {count}")
    if gpu_count > 0:
        return [Slot(i, (i % gpu_count,), None) for i in range(count)]
    return [Slot(i, None, max(1, cores // count)) for i in range(count)]
