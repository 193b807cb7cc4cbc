"""The figures a benchmark row produces, the timers that measure them and the table.

Every figure carries both tools' values and knows which direction is better, so the table
can print one *advantage* column where ``>= 1.0`` always means "mmarctl at or ahead":

* a rate (patches/s, volumes/s): ``mmarctl / MONAI``;
* a cost (seconds, MiB): ``MONAI / mmarctl`` (the same speed-up read the other way);
* a correctness figure (max |difference|): pass when it is within its tolerance.

Measurements on a shared 2-core machine are noisy, so :func:`best_of` interleaves the two
tools' repeats (neither gets the quiet minute alone) and keeps each one's best.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

RATE, COST, CHECK = "rate", "cost", "check"
#: The memory high-water marks a worker reports (MiB): the whole RSS and its private part.
PEAKS = ("peak_rss_mib", "peak_private_mib")


@dataclass
class Figure:
    """One line of the table: a quantity measured for mmarctl and for MONAI.

    Args:
        row: the row it belongs to, e.g. ``"2 sliding window"``.
        what: the quantity, e.g. ``"throughput 1x192x192x96"``.
        unit: printed after the values (``"patches/s"``, ``"s"``, ``"MiB"``).
        kind: ``RATE`` (higher is better), ``COST`` (lower is better) or ``CHECK``
            (``mmarctl`` holds the measured difference, ``tolerance`` its bound).
        mmarctl: mmarctl's value (None when that half could not run, see ``note``).
        monai: MONAI's value (None for a CHECK figure or when that half could not run).
        tolerance: the bound a CHECK figure must stay within.
        note: settings or the reason a half is missing.
        extra: ``{"monai_at_least": True}`` marks a COST whose MONAI value is a lower bound
            (MONAI was stopped at a time cap before reaching the goal); ``"mmarctl_at_least"``
            likewise for mmarctl.
    """

    row: str
    what: str
    unit: str
    kind: str
    mmarctl: float | None
    monai: float | None = None
    tolerance: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def advantage(self) -> float | None:
        """``>= 1.0`` when mmarctl is at or ahead (rates and costs); None otherwise."""
        if self.kind == CHECK or self.mmarctl is None or self.monai is None:
            return None
        if self.kind == RATE:
            return self.mmarctl / self.monai if self.monai else math.inf
        return self.monai / self.mmarctl if self.mmarctl else math.inf

    def verdict(self) -> str:
        """``ahead`` / ``behind`` / ``pass`` / ``FAIL`` / ``n/a``.

        With a lower-bound value (a run stopped at its cap) the verdict is only given when
        it follows from the bound: MONAI capped and mmarctl faster than the cap is
        ``ahead``; mmarctl capped and MONAI faster is ``behind``; both capped is ``n/a``.
        """
        if self.kind == CHECK:
            if self.mmarctl is None or self.tolerance is None:
                return "n/a"
            return "pass" if self.mmarctl <= self.tolerance else "FAIL"
        ratio = self.advantage()
        if ratio is None:
            return "n/a"
        ours_bound = self.extra.get("mmarctl_at_least", False)
        theirs_bound = self.extra.get("monai_at_least", False)
        if ours_bound and theirs_bound:
            return "n/a"
        if theirs_bound:
            return "ahead" if ratio >= 1.0 else "n/a"
        if ours_bound:
            return "behind" if ratio < 1.0 else "n/a"
        return "ahead" if ratio >= 1.0 else "behind"


def best_of(repeats: int, **runs: Callable[[], float]) -> dict[str, float]:
    """Run each named callable ``repeats`` times, interleaved; each one's smallest result.

    The callables return a duration in seconds (or any cost where smaller is the better
    reading). Interleaving spreads other processes' load evenly over the tools compared.
    """
    best = {name: math.inf for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = min(best[name], run())
    return best


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    Read from ``VmHWM`` in /proc/self/status, which belongs to the current program image.
    ``getrusage``'s ``ru_maxrss`` would not do in a worker: Linux carries the high-water
    mark across fork and exec, so a child of a large parent reports the parent's peak.
    """
    peak = _status_mib("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _status_mib(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status in MiB; None where it is unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def private_rss_mib() -> float:
    """This process's current anonymous (private) resident memory, in MiB (``RssAnon``).

    Resident memory has two parts: anonymous pages (heap, tensors, Python objects), which
    only this process can use and which must stay in RAM, and file-backed pages (the
    framework's shared libraries), which are clean, shared by every process that maps the
    same library and dropped by the kernel under pressure. ``import tensorflow`` maps about
    300 MiB of library pages against about 100 MiB for torch plus MONAI, so the two parts
    are reported separately.
    """
    private = _status_mib("RssAnon")
    return private if private is not None else rss_now_mib()


class PrivatePeakSampler:
    """Track the peak of :func:`private_rss_mib` from a daemon thread.

    The kernel keeps a high-water mark for the whole RSS (``VmHWM``) but not for its
    anonymous part, so it is sampled; every ``interval`` seconds (2 ms by default) is far
    shorter than a training step, during which activations stay allocated.
    """

    def __init__(self, interval: float = 0.002) -> None:
        import threading

        self.interval = interval
        self.peak = private_rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="private-peak", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, private_rss_mib())

    def __enter__(self) -> "PrivatePeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, private_rss_mib())


def rss_now_mib() -> float:
    """This process's current resident set size, in MiB (from /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_isolated(module: str, args: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run ``python -m <module>`` with JSON ``args`` on stdin; its JSON stdout line back.

    Used where a figure must not see the other framework's memory (peak RSS) or state. The
    child's last stdout line is the JSON answer; its stderr is passed through on failure.
    """
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run([sys.executable, "-m", module], input=json.dumps(args),
                          capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=os.getcwd())
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{module} exited {proc.returncode}:\n{tail}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{module} printed no JSON result")
    return json.loads(lines[-1])


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        return f"{value:.2e}"
    return f"{value:.4g}"


def table(figures: Iterable[Figure]) -> str:
    """The figures as a Markdown table (readable in a terminal and pasteable in docs)."""
    head = ("| row | figure | mmarctl | MONAI | unit | advantage | verdict | note |\n"
            "|---|---|---:|---:|---|---:|---|---|")
    lines = [head]
    for f in figures:
        if f.kind == CHECK:
            ours, theirs = f"diff {_fmt(f.mmarctl)}", f"tol {_fmt(f.tolerance)}"
        else:
            ours = (">" if f.extra.get("mmarctl_at_least") else "") + _fmt(f.mmarctl)
            theirs = (">" if f.extra.get("monai_at_least") else "") + _fmt(f.monai)
        ratio = f.advantage()
        shown = "-" if ratio is None else f"{ratio:.2f}x"
        if ratio is not None and (f.extra.get("monai_at_least") or f.extra.get("mmarctl_at_least")):
            shown = (">" if f.extra.get("monai_at_least") else "<") + shown
        lines.append(f"| {f.row} | {f.what} | {ours} | {theirs} | {f.unit} | "
                     f"{shown} | {f.verdict()} | {f.note} |")
    return "\n".join(lines)


def to_json(figures: Iterable[Figure], machine: dict[str, Any]) -> str:
    """The figures and the machine description as JSON (for docs and comparisons)."""
    return json.dumps({"machine": machine,
                       "figures": [dict(asdict(f), advantage=f.advantage(),
                                        verdict=f.verdict()) for f in figures]}, indent=2)


def machine() -> dict[str, Any]:
    """CPU model, core count and library versions, for the record next to the figures."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": model, "cores": os.cpu_count()}
    for name in ("tensorflow", "keras", "torch", "monai", "numpy"):
        try:
            info[name] = __import__(name).__version__
        except Exception:  # a missing library is recorded, not fatal
            info[name] = None
    return info


def isolated_pair(row_module: str, args: dict[str, Any], rounds: int = 1,
                  per_tool: dict[str, dict[str, Any]] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Run ``<row_module>:speed_mmarctl`` and ``:speed_monai`` each in its own process.

    With ``rounds > 1`` the two alternate (mmarctl, MONAI, mmarctl, ...) and each tool keeps
    the result with the smallest ``seconds``; the memory peaks are the largest seen.
    ``per_tool`` adds arguments for one tool only (``{"monai": {"net": "replica"}}``).
    """
    best: dict[str, dict[str, Any]] = {}
    for _ in range(max(rounds, 1)):
        for tool in ("mmarctl", "monai"):
            result = run_isolated("benchmarks.monai.worker",
                                  dict(args, **(per_tool or {}).get(tool, {}),
                                       task=f"{row_module}:speed_{tool}"))
            kept = best.get(tool)
            if kept is None or result["seconds"] < kept["seconds"]:
                peaks = {key: max(result[key], kept[key] if kept else 0.0) for key in PEAKS}
                best[tool] = dict(result, **peaks)
            else:
                for key in PEAKS:
                    kept[key] = max(kept[key], result[key])
    return best
