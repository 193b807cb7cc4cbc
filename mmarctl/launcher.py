"""Start a training verb as N data-parallel workers under Horovod's launcher.

``mmarctl train my-exp --gpus 2`` becomes, in effect (Clara's train_2gpu.sh)::

    horovodrun --gloo -np 2 -H localhost:2  python -m mmarctl train my-exp --set multi_gpu=true

and ``--launcher mpirun`` gives ``mpirun -np 2 -H localhost:2 -bind-to none -map-by slot
-x MMARCTL_WORKER --mca odls_base_sigkill_timeout 5 ... python -m mmarctl ...`` for MPI
sites. ``--hosts node1:4,node2:4`` or ``--hostfile FILE`` spread the workers over machines
(same command on every machine is NOT needed: the launcher starts them over ssh). Each
worker is started with ``MMARCTL_WORKER=1`` so it trains instead of launching again, and the
training backend (:mod:`mmarctl.runtime.distributed`) finds its rank in the variables the
launcher sets.

Each worker is also told the job's size (``MMARCTL_EXPECTED_SIZE``) and launcher; a worker
whose Horovod sees another size (a Gloo-only Horovod under mpirun) stops before writing
anything (:func:`mmarctl.runtime.distributed.check_world_size`), and ``--launcher mpirun``
refuses a Horovod built without MPI before starting mpirun. The MMAR's ``models/`` lock
(:mod:`mmarctl.locks`), taken by the process that launches, is inherited by the launcher.

A worker that dies takes the job down: Horovod's launcher stops the others and exits non-zero.
The launcher runs in its own process group, which :func:`launch` kills when the launcher exits
(no orphan survives it) and ``grace`` seconds after a Ctrl-C / SIGTERM it forwarded; it gets
SIGTERM when this process dies (``kill -9`` included, Linux). Workers told to stop get
``grace - 5`` seconds to save a resumable state before their launcher kills them (Horovod's
middleman and Open MPI both wait far less by default), and a stop the user asked for ends as
``KeyboardInterrupt`` (``mmarctl: interrupted``, 130), never as a failure. mpirun is told of
a Ctrl-C with SIGUSR2, which it passes on to every rank at once (:mod:`mmarctl.worker_stop`):
its own stop would reach them only a sigkill timeout later.

TensorFlow-free: nothing here imports TensorFlow or Horovod (Horovod's presence is checked
on disk), so a bad command line fails in milliseconds.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmarctl import worker_stop
from mmarctl.errors import MissingDependency, RuntimeFailure, UsageError

if TYPE_CHECKING:
    from mmarctl.locks import FolderLock

__all__ = ["WORKER_ENV", "EXPECTED_SIZE_ENV", "LAUNCHER_ENV", "LAUNCHERS", "INSTALL_COMMAND",
           "Hosts", "parse_hosts", "read_hostfile", "count_gpus", "horovod_status",
           "launch_rank", "expected_size", "is_worker", "processes_for", "build_command",
           "usable_cores", "require_items_per_worker", "launch"]

#: Set to "1" in every worker's environment; a worker never relaunches.
WORKER_ENV = "MMARCTL_WORKER"
#: The number of workers started; a worker whose Horovod sees another size stops at once
#: (e.g. a Gloo-only Horovod under mpirun: N independent runs of size 1).
EXPECTED_SIZE_ENV = "MMARCTL_EXPECTED_SIZE"
#: ``gloo`` or ``mpirun``: which launcher started the worker (for that worker's messages).
LAUNCHER_ENV = "MMARCTL_LAUNCHER"
#: Seconds Horovod's launcher lets a worker it told to stop (SIGTERM) save its state before it
#: kills it; set by :func:`launch` from its ``grace`` (Horovod's own default is 5).
STOP_GRACE_ENV = "MMARCTL_STOP_GRACE"
#: Accepted ``--launcher`` values.
LAUNCHERS = ("gloo", "mpirun")
#: The command that installs Horovod (see mmarctl/install_horovod.py).
INSTALL_COMMAND = "python -m mmarctl.install_horovod"

_HOST_RE = re.compile(r"^(?P<host>[A-Za-z0-9_.\-\[\]:]+?):(?P<slots>\d+)$")
#: Variables passed to MPI workers (Horovod's launcher forwards the whole environment itself).
_MPI_EXPORTS = ("PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "CUDA_VISIBLE_DEVICES", "NCCL_DEBUG",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_CPP_MIN_LOG_LEVEL")


@dataclass(frozen=True)
class Hosts:
    """Where workers run: ``(host, slots)`` pairs in order. ``spec`` is Horovod's ``-H`` form."""

    entries: tuple[tuple[str, int], ...]
    source: str = "--hosts"
    file: str | None = field(default=None, compare=False)

    @property
    def slots(self) -> int:
        """Total worker slots over all hosts."""
        return sum(n for _, n in self.entries)

    @property
    def spec(self) -> str:
        """``h1:4,h2:4``."""
        return ",".join(f"{h}:{n}" for h, n in self.entries)

    @property
    def is_local(self) -> bool:
        """Only this machine (``localhost``)."""
        return all(h in ("localhost", "127.0.0.1") for h, _ in self.entries)


def parse_hosts(text: str) -> Hosts:
    """Parse ``--hosts``: comma-separated ``HOST:SLOTS`` (``node1:4,node2:4``).

    Raises:
        UsageError: an entry without ``:SLOTS``, slots < 1, or a host named twice.
    """
    entries: list[tuple[str, int]] = []
    for raw in text.split(","):
        item = raw.strip()
        match = _HOST_RE.match(item)
        if not match or int(match["slots"]) < 1:
            raise UsageError(f"--hosts entries are HOST:SLOTS with SLOTS >= 1; Received: {item!r}",
                             hint="e.g. --hosts node1:4,node2:4")
        entries.append((match["host"], int(match["slots"])))
    _no_duplicates(entries, "--hosts", None)
    return Hosts(tuple(entries))


def read_hostfile(path: str | os.PathLike[str]) -> Hosts:
    """Read a hostfile in the form Horovod and Open MPI share: ``HOST slots=N`` per line.

    ``#`` starts a comment; a line with a bare host name counts as one slot.

    Raises:
        UsageError: the file is missing or a line cannot be read (file and line number named).
    """
    file = Path(path)
    try:
        lines = file.read_text().splitlines()
    except OSError as error:
        raise UsageError(f"cannot read the hostfile: {error.strerror}", file=file,
                         hint="pass an existing file: one `HOST slots=N` per line") from None
    entries: list[tuple[str, int]] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if ":" in parts[0]:
            raise UsageError(f"line {number}: HOST:SLOTS is the --hosts form; a hostfile line "
                             f"is `HOST slots=N`; Received: {text!r}", file=file,
                             hint="one host per line, e.g. `node1 slots=4`")
        slots = 1
        for extra in parts[1:]:
            key, _, value = extra.partition("=")
            if key in ("slots", "max_slots", "max-slots") and value.isdigit() and int(value) >= 1:
                if key == "slots":
                    slots = int(value)
            else:
                raise UsageError(f"line {number}: expected `HOST slots=N`; Received: {text!r}",
                                 file=file, hint="one host per line, e.g. `node1 slots=4`")
        entries.append((parts[0], slots))
    if not entries:
        raise UsageError("the hostfile names no host", file=file,
                         hint="one `HOST slots=N` per line")
    _no_duplicates(entries, "hostfile", file)
    return Hosts(tuple(entries), source="--hostfile", file=str(file))


def _no_duplicates(entries: list[tuple[str, int]], what: str, file: Path | None) -> None:
    seen: set[str] = set()
    for host, _ in entries:
        if host in seen:
            raise UsageError(f"{what} names host {host!r} twice", file=file,
                             hint="give each host once with its total slots")
        seen.add(host)


def count_gpus(environ: Mapping[str, str] | None = None) -> int:
    """NVIDIA GPUs this process may use, without importing TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` wins when set (empty or ``-1`` means none); otherwise the lines
    of ``nvidia-smi -L``; 0 when there is no driver.
    """
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip()]
        return 0 if not ids or ids[0].strip() == "-1" else len(ids)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if listing.returncode != 0:
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))


def horovod_status() -> dict[str, object]:
    """What of Horovod is installed, found on disk (no import of Horovod or TensorFlow).

    Returns ``{"installed": bool, "version": str|None, "tensorflow": bool, "runner": bool,
    "location": str|None, "mpi": bool|None}``; ``tensorflow`` means Horovod's TensorFlow
    extension was built, ``mpi`` that it links an MPI library (None: unknown).
    """
    from importlib import metadata

    status: dict[str, object] = {"installed": False, "version": None, "tensorflow": False,
                                 "runner": False, "location": None, "mpi": None}
    spec = importlib.util.find_spec("horovod")
    if spec is None or not spec.submodule_search_locations:
        return status
    root = Path(list(spec.submodule_search_locations)[0])
    status["installed"] = True
    status["location"] = str(root)
    try:
        status["version"] = metadata.version("horovod")
    except metadata.PackageNotFoundError:
        status["version"] = None
    libraries = sorted((root / "tensorflow").glob("mpi_lib*.so"))
    status["tensorflow"] = bool(libraries)
    status["runner"] = (root / "runner" / "launch.py").is_file()
    status["mpi"] = _links_mpi(libraries[0]) if libraries else None
    return status


def _links_mpi(library: Path) -> bool | None:
    """Whether Horovod's TensorFlow library was built with the MPI controller, read from disk.

    An MPI build links ``libmpi.so.N`` (Open MPI, MPICH, Intel MPI), so the name is in the
    library's dynamic string table; a Gloo-only build never names it. ``hvd.mpi_built()``
    says the same but needs TensorFlow imported (seconds); this takes milliseconds.
    None when the file cannot be read.
    """
    import mmap

    try:
        with open(library, "rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(b"libmpi.so") >= 0
    except (OSError, ValueError):
        return None


#: Rank variables of Horovod's launcher, Open MPI, and MPICH / Intel MPI (PMI).
_RANK_VARS = ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


def launch_rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's rank as its launcher set it, before Horovod starts (0 outside a job)."""
    env = os.environ if environ is None else environ
    for name in _RANK_VARS:
        value = env.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def expected_size(environ: Mapping[str, str] | None = None) -> int | None:
    """How many workers :func:`launch` started (None outside a job it started)."""
    env = os.environ if environ is None else environ
    value = env.get(EXPECTED_SIZE_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def is_worker(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a worker that :func:`launch` started."""
    env = os.environ if environ is None else environ
    return env.get(WORKER_ENV) == "1"


def processes_for(gpus: int, multi_gpu: bool = False,
                  environ: Mapping[str, str] | None = None) -> int:
    """How many workers a train/finetune run should start on this machine.

    ``--gpus N`` (N > 1) decides. Otherwise ``multi_gpu: true`` in the resolved config (Clara's
    train_2gpu.sh sets it with ``--set multi_gpu=true``) means one worker per visible GPU,
    as ``mpirun -np <GPUs>`` did; with fewer than two GPUs it means one process. Inside a
    worker the answer is always 1: workers never launch.
    """
    if is_worker(environ):
        return 1
    if gpus > 1:
        return gpus
    if multi_gpu:
        return max(1, count_gpus(environ))
    return 1


def _runner_prefix(launcher: str, nprocs: int, hosts: Hosts | None,
                   environ: Mapping[str, str]) -> list[str]:
    if launcher == "gloo":
        # horovodrun through this module's main(): same interpreter (no PATH lookup that may
        # find another environment's horovodrun) and no traceback when a worker fails.
        # A hostfile goes as the -H spec read from it: horovodrun's own hostfile reader takes
        # only `HOST slots=N` lines (a bare host or max_slots= stops it with an IndexError).
        # -W: Horovod's middleman processes hold multiprocessing semaphores; after a stop,
        # the resource tracker warns of each in two lines, after the command's last line.
        cmd = [sys.executable, "-W", "ignore::UserWarning:multiprocessing.resource_tracker",
               "-m", "mmarctl.launcher", "--gloo", "-np", str(nprocs)]
        return cmd + ["-H", hosts.spec if hosts is not None else f"localhost:{nprocs}"]
    cmd = ["mpirun", "-np", str(nprocs)]
    if hosts is not None and hosts.file:
        cmd += ["--hostfile", hosts.file]
    else:
        cmd += ["-H", hosts.spec if hosts is not None else f"localhost:{nprocs}"]
    # Clara's train_2gpu.sh flags: no core binding (TF makes its own threads), fill by slot.
    cmd += ["-bind-to", "none", "-map-by", "slot", "-x", WORKER_ENV]
    grace = environ.get(STOP_GRACE_ENV, "")
    if grace.replace(".", "", 1).isdigit():
        # Open MPI aborts a job (a dead worker; the launcher's fallback when workers are still
        # running half-way through a stop, see _supervise) with SIGCONT, then SIGTERM and
        # SIGKILL, each this timeout after the one before (1 s by default: too short for
        # rank 0 to finish a save). A fifth of the grace: from half-way through mmarctl's
        # grace both land before the grace is over (for 25 s: at 20 and 25 of 30 s).
        cmd += ["--mca", "odls_base_sigkill_timeout", str(max(1, math.ceil(float(grace) / 5)))]
    # Only variables that are set: Open MPI warns about every `-x NAME` it cannot find.
    exports = [n for n in environ if n.startswith("MMARCTL_") and n != WORKER_ENV]
    for name in [*_MPI_EXPORTS, *sorted(exports)]:
        if name in environ:
            cmd += ["-x", name]
    if (hosts is None or hosts.is_local) and nprocs > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")  # Open MPI refuses more local processes than cores
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # mpirun refuses root without this; set only here, where mmarctl starts mpirun itself.
        cmd.append("--allow-run-as-root")
    return cmd


def build_command(argv: Sequence[str], *, nprocs: int, launcher: str = "gloo",
                  hosts: Hosts | None = None,
                  environ: Mapping[str, str] | None = None) -> list[str]:
    """The full launcher command line for ``python -m mmarctl <argv>`` on ``nprocs`` workers.

    ``environ`` is the workers' environment (default ``os.environ``): mpirun forwards the
    variables of it that workers need with ``-x``.
    """
    if launcher not in LAUNCHERS:
        raise UsageError(f"--launcher must be one of {', '.join(LAUNCHERS)}; "
                         f"Received: {launcher!r}")
    env = os.environ if environ is None else environ
    return _runner_prefix(launcher, nprocs, hosts, env) + [sys.executable, "-m", "mmarctl",
                                                           *argv]


def worker_environment(nprocs: int, cpu: bool, local_procs: int,
                       base: Mapping[str, str] | None = None,
                       launcher: str = "gloo") -> dict[str, str]:
    """The environment workers inherit: the worker flag, the job's size and launcher (each
    worker checks that Horovod sees that size), and for ``--cpu`` no GPU and a fair share of
    this machine's cores per process (TensorFlow would otherwise give every process all cores,
    and N processes would fight over them)."""
    env = dict(os.environ if base is None else base)
    env[WORKER_ENV] = "1"
    env[EXPECTED_SIZE_ENV] = str(nprocs)
    env[LAUNCHER_ENV] = launcher
    env.setdefault("PYTHONUNBUFFERED", "1")
    # TensorFlow's C++ start-up notices, once per worker, would bury the training log.
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if cpu:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
        share = str(max(1, (os.cpu_count() or 1) // max(1, local_procs)))
        env.setdefault("TF_NUM_INTRAOP_THREADS", share)
        env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return env


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask: a container's or
    ``taskset``'s limit), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def counted_items(count: int, noun: str = "training item") -> str:
    """``1 training item`` / ``3 training items`` (or another ``noun``)."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def require_items_per_worker(cases: tuple[int, str], gpus: int = 1, hosts: str | None = None,
                             hostfile: str | os.PathLike[str] | None = None, *,
                             verb: str = "train") -> None:
    """Refuse more workers than the list has items (``cases``: the count, and where the
    list is, as shown). The workers are those :func:`launch` would start for ``gpus`` /
    ``hosts`` / ``hostfile``.

    Every rank must have an item of its own. In training the list is padded so that every
    rank runs as many steps, and the workers beyond the item count would only repeat
    others' items, at their cost in memory and time; validate and infer (``verb``) split
    their cases exactly, and a worker without one would start for nothing.

    Raises:
        UsageError: the limit and why.
    """
    nprocs = gpus
    if gpus <= 1 and (hosts or hostfile):
        nprocs = (parse_hosts(hosts) if hosts else read_hostfile(hostfile)).slots
    if nprocs <= cases[0]:
        return
    if verb == "train":
        raise UsageError(f"{nprocs} workers for {counted_items(cases[0])} ({cases[1]}): "
                         "each worker needs an item of its own, more only repeat others'",
                         hint=(f"use at most --gpus {cases[0]}" if cases[0] > 1 else
                               "train in one process (no --gpus)") + ", or add training cases")
    raise UsageError(f"{nprocs} workers for {counted_items(cases[0], 'case')} ({cases[1]}): "
                     "each worker needs a case of its own",
                     hint=f"use at most --gpus {cases[0]}" if cases[0] > 1 else
                     f"{verb} in one process (no --gpus)")


def _check_cpu_workers(local_procs: int) -> None:
    """Refuse more ``--cpu`` workers on this machine than it has cores.

    Each worker is a TensorFlow process of its own (about half a gigabyte, its own threads);
    beyond one per core they only take turns, and hundreds of them (a typo: ``--gpus 999``)
    fill the memory before the first step. Two are always allowed: the least a multi-process
    run needs, for testing it on a one-core machine.

    Raises:
        UsageError: the limit and why.
    """
    cores = usable_cores()
    limit = max(2, cores)
    if local_procs > limit:
        raise UsageError(f"--cpu would start {local_procs} CPU workers on this machine, which "
                         f"has {cores} core(s): each worker is a TensorFlow process and needs "
                         "a core of its own",
                         hint=f"use at most --gpus {limit} --cpu here")


def _check_launcher_available(launcher: str) -> None:
    status = horovod_status()
    if not status["installed"] or not status["tensorflow"] or not status["runner"]:
        missing = "Horovod is not installed" if not status["installed"] else \
            "Horovod is installed without its TensorFlow extension"
        raise MissingDependency(f"multi-process training needs Horovod: {missing}",
                                hint=f"install it with: {INSTALL_COMMAND}")
    if launcher == "mpirun" and shutil.which("mpirun") is None:
        raise MissingDependency("--launcher mpirun needs an MPI installation (mpirun not found)",
                                hint="install Open MPI and rebuild Horovod with "
                                     f"`{INSTALL_COMMAND} --mpi`, or use --launcher gloo")
    if launcher == "mpirun" and status.get("mpi") is False:
        # Under mpirun a Gloo-only Horovod starts N independent runs of size 1, each writing
        # the same checkpoint: refuse before any worker starts.
        raise MissingDependency("--launcher mpirun needs Horovod built with MPI; this one has "
                                "only Gloo",
                                hint=f"rebuild it with `{INSTALL_COMMAND} --mpi`, or use "
                                     "--launcher gloo")


def _check_hosts_resolve(hosts: Hosts) -> None:
    """Stop before any launcher starts when a host name does not resolve to an address.

    Horovod's launcher would try ssh first and end with "could not connect to some hosts via
    ssh" (mpirun with a page of ORTE text), read as a failed worker; a name lookup takes
    milliseconds. Whether ssh to a resolvable host works is left to the launcher.

    Raises:
        UsageError: the first host that cannot be resolved, with the resolver's reason.
    """
    import socket

    for host, _ in hosts.entries:
        if host in ("localhost", "127.0.0.1"):
            continue
        try:
            socket.getaddrinfo(host.strip("[]"), None)
        except (socket.gaierror, UnicodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            where = "" if hosts.file else f"{hosts.source}: "  # a file is named before
            raise UsageError(f"{where}host {host!r} cannot be resolved ({reason}); no worker "
                             "was started", file=hosts.file,
                             hint="check the name or give its IP address; each host must also "
                                  "accept password-less ssh") from None


#: Seconds the ssh probe of :func:`_check_hosts_answer_ssh` waits for a host to answer.
SSH_PROBE_TIMEOUT_S = 5


def _remote_hosts(hosts: Hosts) -> list[str]:
    """The hosts Horovod's launcher would start over ssh: those whose address is not one of
    this machine's (it starts the others directly)."""
    import socket

    try:
        import psutil  # a dependency of Horovod, which decides the same way

        local = {info.address for infos in psutil.net_if_addrs().values() for info in infos
                 if info.family == socket.AF_INET}
    except ImportError:
        local = set()
    local.add("127.0.0.1")
    remote = []
    for host, _ in hosts.entries:
        if host in ("localhost", "127.0.0.1"):
            continue
        try:
            address = socket.gethostbyname(host.strip("[]"))
        except (OSError, UnicodeError):
            address = None
        if address not in local:
            remote.append(host)
    return remote


def _check_hosts_answer_ssh(hosts: Hosts, timeout: int = SSH_PROBE_TIMEOUT_S) -> None:
    """Stop before any launcher starts when a remote host does not accept ssh.

    Horovod's launcher tries ssh five times with a 10 s connect timeout each, so a host that
    resolves but does not answer (switched off, firewalled) took about 50 s to be reported;
    this tries every remote host once, at the same time, with a ``timeout`` s connect
    timeout, with the options Horovod uses (so it fails exactly where Horovod would). No
    ssh client: left to the launcher.

    Raises:
        RuntimeFailure: the first host that did not answer, with ssh's own reason.
    """
    remote = _remote_hosts(hosts)
    ssh = shutil.which("ssh")
    if not remote or ssh is None:
        return
    probes = {host: subprocess.Popen(
        [ssh, "-o", "PasswordAuthentication=no", "-o", "StrictHostKeyChecking=no",
         "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout}", host.strip("[]"), "true"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True) for host in remote}
    failed: list[tuple[str, str]] = []
    for host, probe in probes.items():
        try:
            _, errors = probe.communicate(timeout=timeout + 10)
        except subprocess.TimeoutExpired:  # connected, but the remote `true` hangs
            probe.kill()
            _, errors = probe.communicate()
            errors = f"no answer in {timeout + 10} s"
        if probe.returncode != 0:
            lines = [line.strip() for line in (errors or "").splitlines() if line.strip()]
            failed.append((host, lines[-1] if lines else f"ssh exit code {probe.returncode}"))
    if failed:
        host, reason = failed[0]
        more = f" (and {len(failed) - 1} more host(s))" if len(failed) > 1 else ""
        where = "" if hosts.file else f"{hosts.source}: "
        raise RuntimeFailure(f"{where}host {host!r} did not accept ssh ({reason}; "
                             f"waited {timeout} s at most){more}; no worker was started",
                             file=hosts.file,
                             hint=f"every host must accept password-less ssh from this "
                                  f"machine: try `ssh {host} true`")


def launch(argv: Sequence[str], *, gpus: int = 1, cpu: bool = False, hosts: str | None = None,
           hostfile: str | os.PathLike[str] | None = None, launcher: str = "gloo",
           grace: float = 30.0, locks: Sequence[FolderLock] = ()) -> int:
    """Run ``python -m mmarctl <argv>`` as data-parallel workers and wait for them.

    Args:
        argv: the verb and its arguments, without the launch options (``--gpus``, ``--cpu``,
            ``--hosts``, ``--hostfile``, ``--launcher``); any left in are removed.
        gpus: workers on this machine (one per GPU); with ``hosts``/``hostfile``, the total
            number of workers (default: every slot).
        cpu: run the workers on CPU (no GPU check, CUDA hidden, cores shared out).
        hosts: ``node1:4,node2:4``; passed to Horovod's/MPI's ``-H``.
        hostfile: a ``HOST slots=N`` file; passed as ``--hostfile``.
        launcher: ``gloo`` (Horovod's own launcher, the default) or ``mpirun``.
        grace: seconds the job may keep running after the launcher reports a failure or
            after Ctrl-C before its process group is killed.
        locks: folder locks this process holds for the job (:mod:`mmarctl.locks`): the
            launcher inherits them (they stay held while it runs) and the workers are told
            not to take them again.

    Returns:
        0 when every worker succeeded.

    Raises:
        UsageError: bad options (``--gpus N`` beyond this machine's GPUs without ``--cpu``,
            ``--cpu`` workers beyond its cores, both ``--hosts`` and ``--hostfile``, more
            workers than slots ...).
        MissingDependency: Horovod (or mpirun) is missing; the message gives the command.
        RuntimeFailure: a worker failed; the job's exit code is in the message.
    """
    if is_worker():
        raise UsageError("a worker cannot launch more workers",
                         hint=f"unset {WORKER_ENV} to start a new job")
    if launcher not in LAUNCHERS:
        raise UsageError(f"--launcher must be one of {', '.join(LAUNCHERS)}; "
                         f"Received: {launcher!r}")
    if gpus < 1:
        raise UsageError(f"--gpus must be at least 1; Received: gpus={gpus}")
    if hosts and hostfile:
        raise UsageError("give either --hosts or --hostfile, not both")
    host_set = parse_hosts(hosts) if hosts else read_hostfile(hostfile) if hostfile else None
    if host_set is not None:
        nprocs = gpus if gpus > 1 else host_set.slots
        if nprocs > host_set.slots:
            raise UsageError(f"--gpus {gpus} asks for more workers than the {host_set.slots} "
                             f"slot(s) in {host_set.source}",
                             hint="add slots (HOST:SLOTS) or lower --gpus")
        local_procs = sum(n for h, n in host_set.entries if h in ("localhost", "127.0.0.1")) \
            or max(n for _, n in host_set.entries)
        local_names = [h for h, _ in host_set.entries if h in ("localhost", "127.0.0.1")]
        if launcher == "mpirun" and len(local_names) > 1:
            # Open MPI maps both names to this one node and stops with a page of ORTE errors.
            raise UsageError(f"{host_set.source} names this machine twice "
                             f"({', '.join(local_names)}); Open MPI counts them as one node",
                             hint=f"give it once with all its slots, e.g. 127.0.0.1 slots="
                                  f"{local_procs}")
    else:
        nprocs = local_procs = gpus
    if not cpu and (host_set is None or host_set.is_local):
        available = count_gpus()
        if available < local_procs:
            asked = (f"--gpus {local_procs}" if host_set is None else
                     f"{host_set.source} ({local_procs} worker(s) on this machine)")
            raise UsageError(f"{asked} needs {local_procs} GPUs; this machine has {available}",
                             hint="add --cpu to run that many CPU processes instead")
    if cpu:
        _check_cpu_workers(nprocs if host_set is None else
                           min(nprocs, sum(n for h, n in host_set.entries
                                           if h in ("localhost", "127.0.0.1"))))
    if host_set is not None:
        _check_hosts_resolve(host_set)
    _check_launcher_available(launcher)
    if host_set is not None:
        _check_hosts_answer_ssh(host_set)
    from mmarctl.locks import HELD_ENV, inherit_fds

    env = worker_environment(nprocs, cpu, local_procs, launcher=launcher)
    # The launcher gives workers that were told to stop this long to save their resumable
    # state before it kills them (Horovod's own 5 s and Open MPI's 1 s cut a save short);
    # less than our own grace, so that the launcher's orderly stop comes first.
    env[STOP_GRACE_ENV] = str(max(1.0, grace - 5.0))
    held = [str(lock.path) for lock in locks if lock.held]
    if held:
        env[HELD_ENV] = os.pathsep.join(held)
    command = build_command(strip_launch_options(argv), nprocs=nprocs, launcher=launcher,
                            hosts=host_set, environ=env)
    # mpirun passes SIGUSR2 on to every rank at once; SIGINT it treats as an abort that
    # reaches the ranks a sigkill timeout later (mmarctl.worker_stop).
    first_stop = worker_stop.STOP_SIGNAL if launcher == "mpirun" else None
    code = _supervise(command, env, grace, pass_fds=inherit_fds(locks), first_stop=first_stop)
    if code != 0:
        raise RuntimeFailure(f"distributed run failed: the {launcher} launcher exited with "
                             f"code {code}",
                             hint="the launcher's own message (ssh, a host) or the first "
                                  "failing worker's error is printed above")
    return 0


#: Launch options and whether each takes a value; train/finetune should not forward them.
_LAUNCH_OPTIONS = {"--gpus": True, "--cpu": False, "--hosts": True, "--hostfile": True,
                   "--launcher": True}


def strip_launch_options(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--gpus/--cpu/--hosts/--hostfile/--launcher`` (``--x v`` or ``--x=v``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _LAUNCH_OPTIONS:
            skip = _LAUNCH_OPTIONS[name] and "=" not in arg
            continue
        out.append(arg)
    return out


def _supervise(command: list[str], env: dict[str, str], grace: float,
               pass_fds: Sequence[int] = (), first_stop: int | None = None) -> int:
    """Run the launcher in its own process group; make sure nothing of it outlives us.

    Horovod's launcher already stops all workers when one fails; if it has not exited
    ``grace`` seconds after we are interrupted, the whole group is killed.

    ``first_stop``: a signal the launcher passes on to every worker at once (mpirun's
    SIGUSR2, :mod:`mmarctl.worker_stop`), sent to it alone on the first Ctrl-C / SIGTERM /
    SIGHUP. A second one, or workers still running half-way through the grace, get the
    launcher's own stop (SIGINT or SIGTERM to its group: Open MPI's abort).
    """
    process: subprocess.Popen | None = None
    interrupted: list[int] = []
    escalated = False
    stopped_at = 0.0

    def as_sent(signum: int) -> int:
        return signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM

    def stop(signum: int) -> None:
        nonlocal escalated
        if first_stop is not None and len(interrupted) == 1:
            try:
                os.kill(process.pid, first_stop)
            except ProcessLookupError:
                pass
        else:
            escalated = True
            _signal_group(process, as_sent(signum))

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopped_at
        if not interrupted:
            stopped_at = time.monotonic()
        interrupted.append(signum)
        if process is not None:
            stop(signum)

    # Handlers go in before the launcher starts: exec resets a handled signal to its default
    # in the child but keeps an ignored one ignored, and a job started in the background of
    # a non-interactive shell ignores SIGINT; its workers would then ignore Ctrl-C too.
    # SIGHUP (the terminal or ssh session gone) reaches the workers as SIGTERM: they save a
    # resumable state, as they do for SIGTERM.
    # Under nohup SIGHUP is ignored: it stays so here and, inherited, in the workers.
    previous = {s: signal.signal(s, forward)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
                if not (s == signal.SIGHUP and signal.getsignal(s) == signal.SIG_IGN)}
    try:
        process = subprocess.Popen(command, env=env, start_new_session=True,
                                   pass_fds=tuple(pass_fds),
                                   preexec_fn=_stop_with_parent(os.getpid()))
        if interrupted:
            # A signal that came while the launcher was starting: it may not handle
            # first_stop yet (SIGUSR2 would kill mpirun and leave its ranks behind).
            escalated = True
            _signal_group(process, as_sent(interrupted[-1]))
        while True:
            try:
                code = process.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if not interrupted:
                    continue
                waited = time.monotonic() - stopped_at
                if not escalated and waited > grace / 2:
                    escalated = True  # workers deaf to first_stop (stuck, or not started)
                    _signal_group(process, signal.SIGTERM)
                if waited > grace:
                    _signal_group(process, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Workers the launcher forgot (it was killed) must not linger.
        if process is not None:
            _signal_group(process, signal.SIGKILL)
    if interrupted:
        # A stop the user asked for (Ctrl-C, SIGTERM, SIGHUP) ends as one: "interrupted",
        # 130, whatever exit code the stopped workers left (143, or 137 after a slow save).
        raise KeyboardInterrupt
    return code


def _stop_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the launcher get SIGTERM when ``parent`` (this mmarctl)
    dies, ``kill -9`` included (Linux ``PR_SET_PDEATHSIG``); None elsewhere.

    The launcher runs in its own session, so nothing else would stop it: its workers would
    train on, detached, holding the MMAR's lock under a dead pid. On SIGTERM it stops the
    workers the way it does for Ctrl-C (they save a resumable state).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def arm() -> None:  # runs in the child between fork and exec: no allocation, no locks
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(128 + int(signal.SIGTERM))

    return arm


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_FIRST_FAILURE = re.compile(r"Process name: (?P<rank>\S+)\s+Exit code: (?P<code>-?\d+)")


def horovodrun_main(args: Sequence[str]) -> int:
    """``python -m mmarctl.launcher ARGS``: Horovod's ``horovodrun ARGS``, minus its traceback.

    When a worker fails, horovodrun stops the others and raises a RuntimeError whose
    traceback would follow the worker's own error message; this prints one line instead.
    A job stopped on request (the Ctrl-C or SIGTERM that :func:`launch` forwards) is no
    failure, whatever exit codes its workers left: one line says so and the code is
    ``128 + signal``.
    """
    from horovod.runner.launch import run_commandline

    stops = _note_stop_signals()
    sys.argv = ["horovodrun", *args]
    try:
        run_commandline()
    except KeyboardInterrupt:
        return int(128 + signal.SIGINT)
    except Exception as error:  # horovodrun reports every failure as an exception
        text = str(error)
        match = _FIRST_FAILURE.search(text)
        if stops and match:
            how = "Ctrl-C" if stops[0] == signal.SIGINT else signal.Signals(stops[0]).name
            print(f"horovodrun: workers stopped by {how}", file=sys.stderr)
            return int(128 + stops[0])
        if match:
            code = int(match["code"])
            # 130/143 (or -2/-15): the worker was stopped by Ctrl-C/SIGTERM, it did not fail
            how = ("was stopped by a signal" if code in (130, 143, -2, -15)
                   else "was the first to fail")
            text = f"worker {match['rank']} {how} (exit code {code})"
        lines = text.strip().splitlines()
        print(f"horovodrun: {lines[0] if lines else type(error).__name__}", file=sys.stderr)
        return 1
    return 0


def _note_stop_signals() -> list[int]:
    """The list that receives the signals (SIGINT, SIGTERM) that told horovodrun to stop
    its workers; empty while none came.

    horovodrun installs its own handlers for them when it starts the workers
    (``gloo_run.register_shutdown_event``); they are wrapped so that the signal is noted
    before Horovod's handler runs. A Horovod without that function is left as it is.
    """
    received: list[int] = []
    try:
        from horovod.runner import gloo_run
    except ImportError:
        return received
    original = getattr(gloo_run, "register_shutdown_event", None)
    if original is None:
        return received

    def register() -> Any:
        event = original()
        for sig in (signal.SIGINT, signal.SIGTERM):
            horovods = signal.getsignal(sig)
            if callable(horovods):
                def note(signum: int, frame: Any, handler: Callable[..., Any] = horovods) -> None:
                    received.append(signum)
                    handler(signum, frame)

                signal.signal(sig, note)
        return event

    gloo_run.register_shutdown_event = register
    return received


def _lengthen_horovod_grace() -> None:
    """In Horovod's per-worker middleman: give a worker told to stop :data:`STOP_GRACE_ENV`
    seconds to exit before it is killed (Horovod's fixed 5 s ends a checkpoint save that a
    loaded machine or a large model makes slower, and the job then reads as failed, 137)."""
    try:
        value = float(os.environ.get(STOP_GRACE_ENV, ""))
        from horovod.runner.common.util import safe_shell_exec
    except (ValueError, ImportError):
        return
    safe_shell_exec.GRACEFUL_TERMINATION_TIME_S = max(value, 1.0)


if __name__ == "__mp_main__":
    # horovodrun starts one middleman per worker with multiprocessing's "spawn", which
    # imports this (the launcher's main) module under this name before it runs.
    _lengthen_horovod_grace()

if __name__ == "__main__":
    sys.exit(horovodrun_main(sys.argv[1:]))
