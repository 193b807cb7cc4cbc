"""What a study leaves: ``results.json``/``results.csv``, the leaderboard, the kept MMARs.

``results.json`` holds a ``trials`` list, best first; each trial has ``number``, ``status``
(complete, pruned, failed or running), ``params`` (the values chosen, by arg), ``metric``
(the best key metric), ``epoch``, ``seconds``, ``mmar`` and, for a failure, ``error``.
Trials stopped by Ctrl-C and queued again are left out: their re-run is the trial.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmarctl.jsonio import write_json_atomic
from mmarctl.search.trials import trim_trial

_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


@dataclass
class TrialRecord:
    """One row of the results."""

    number: int
    status: str
    params: dict[str, Any]
    metric: float | None
    epoch: int | None
    seconds: float | None
    mmar: str | None
    key_metric: str | None = None
    error: str | None = None


def collect(study: Any) -> list[TrialRecord]:
    """The study's trials as records, best first (then by number); superseded ones left out."""
    from mmarctl.search.study import INTERRUPTED, SURPLUS

    records = []
    for trial in study.get_trials(deepcopy=False):
        status = _STATES.get(trial.state.name)
        attrs = trial.user_attrs
        if status is None or attrs.get(SURPLUS) or attrs.get(INTERRUPTED):
            continue
        metric = trial.value if status == "complete" else attrs.get("metric")
        records.append(TrialRecord(
            number=trial.number, status=status, params=attrs.get("values", {}),
            metric=None if metric is None else float(metric), epoch=attrs.get("epoch"),
            seconds=attrs.get("seconds"), mmar=attrs.get("mmar"),
            key_metric=attrs.get("key_metric"), error=attrs.get("error")))
    return sorted(records, key=lambda r: (r.status != "complete", -(r.metric or -1e300)
                                          if r.status == "complete" else 0, r.number))


def best(records: list[TrialRecord]) -> TrialRecord | None:
    """The best complete trial."""
    return next((r for r in records if r.status == "complete" and r.metric is not None), None)


def write_results(study_dir: Path, run_id: str, records: list[TrialRecord],
                  extra: dict[str, Any]) -> None:
    """``results.json`` and ``results.csv`` in the study folder (atomically)."""
    top = best(records)
    write_json_atomic(study_dir / "results.json", {
        "study": run_id, **extra, "best_trial": top.number if top else None,
        "best_mmar": top.mmar if top else None,
        "trials": [asdict(r) for r in records]})
    names = sorted({k for r in records for k in r.params})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["number", "status", *names, "metric", "epoch", "seconds", "mmar", "error"])
    for r in records:
        writer.writerow([r.number, r.status, *(_cell(r.params.get(n)) for n in names),
                         "" if r.metric is None else repr(r.metric), r.epoch or "",
                         r.seconds or "", r.mmar or "", r.error or ""])
    temporary = study_dir / "results.csv.tmp"
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    temporary.replace(study_dir / "results.csv")


def _cell(value: Any) -> str:
    """A parameter as a CSV cell: text as it is (an enum's "8,16,16,32" reads back as that),
    an absent one empty, numbers, booleans and lists in JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def keep_best(records: list[TrialRecord], keep: int, content_only: bool) -> list[int]:
    """Trim every trial MMAR but the best ``keep`` complete ones; returns the kept numbers."""
    complete = [r for r in records if r.status == "complete"]
    kept = [r.number for r in complete[:keep]]
    if content_only:
        for record in records:
            if record.number not in kept and record.mmar and Path(record.mmar).is_dir() \
                    and record.status != "running":
                trim_trial(Path(record.mmar))
    return kept


def leaderboard(records: list[TrialRecord], title: str) -> Any:
    """A rich table: trial, values chosen, best metric, epoch, seconds, status."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    names = list(dict.fromkeys(k for r in sorted(records, key=lambda r: r.number)
                               for k in r.params))
    table.add_column("trial", justify="right")
    for name in names:
        table.add_column(name, overflow="fold")
    key = next((r.key_metric for r in records if r.key_metric), "metric")
    table.add_column(key, justify="right")
    table.add_column("epoch", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("status", overflow="fold")
    for r in records:
        table.add_row(str(r.number), *(_short(r.params.get(n)) for n in names),
                      "" if r.metric is None else f"{r.metric:.4f}",
                      "" if r.epoch is None else str(r.epoch),
                      "" if r.seconds is None else f"{r.seconds:.0f}",
                      # whole: a cut error hid which file or disk failed; the column folds
                      r.status if not r.error else f"{r.status}: {r.error}")
    return table


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value
