"""validate / infer over several processes: each rank evaluates its own cases, rank 0 writes.

``mmarctl validate --gpus N`` (and ``infer``, and ``multi_gpu: true`` in the validation
config, as Clara's multi-GPU evaluation) launches N workers as training does. Evaluation
needs no collective per case, so the split is exact: rank r takes cases ``r, r+N, ...``
(:meth:`Backend.share`; none repeated, unlike a training epoch's padded shard), and the
ranks meet once, at the end, in one gather of what each has seen (:class:`RankResults`).
Every rank then holds the job's figures; rank 0 alone writes the tables, the report page
and the CSV files several ranks would share, with every case in the datalist's order, so
that the files are those one process would have written:

* mmarctl's own metrics hand over their per-case state (:meth:`Metric.state`), so a mean
  Dice or an AUC is over every case, exactly;
* a BYOC metric (Clara's ``update``/``result`` API, its state its own) reports each rank's
  ``result()``; the job's value is their mean weighted by the ranks' case counts, exact
  for a mean over cases, and said in one log line;
* the report page's rows and kept pictures (:meth:`ReportCollector.state`);
* classification CSV rows (``WriteClassificationResult``, ``classification_results.csv``),
  which ranks would otherwise write into one file together.

Writers with a file per case (WriteNifti, WritePng, previews) write on each rank as they go.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

log = logging.getLogger("mmarctl.evaluate")

#: BYOC metrics whose merge was said (the line is said once per process).
_SAID: set[str] = set()


@dataclass
class RankResults:
    """What one rank's cases produced (picklable: it travels to every other rank).

    Attributes:
        cases: cases evaluated (not skipped).
        rows: (case, metric values) per case, validate.
        predictions: (case, truth/prediction row) per case, validate of a classifier.
        skipped: case -> why ``skip_bad_cases`` left it out.
        files: files written (str paths).
        previews: ``infer --preview`` pictures written: (case, str path).
        metric_states: per metric, :meth:`Metric.state`, or for a BYOC metric
            ``{"result": its result(), "cases": cases}``.
        collector: :meth:`ReportCollector.state`, or None.
        tables: classification CSV path -> (case, scores) rows held for rank 0.
    """

    cases: int = 0
    rows: list[tuple[str, list[float]]] = field(default_factory=list)
    predictions: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    previews: list[tuple[str, str]] = field(default_factory=list)
    metric_states: list[dict[str, Any]] = field(default_factory=list)
    collector: dict[str, Any] | None = None
    tables: dict[str, list[tuple[str, list[float]]]] = field(default_factory=dict)


def metric_state(metric: Any, cases: int, result: Any) -> dict[str, Any]:
    """What ``metric`` hands to the other ranks: mmarctl's metrics their cases, a BYOC
    metric its ``result()`` over this rank's ``cases`` (``result`` calls it, only then)."""
    from mmarctl.runtime.metrics.base import Metric

    if isinstance(metric, Metric):
        return {"state": metric.state()}
    return {"result": float(result(metric)), "cases": cases}


def job_metric_values(metrics: Sequence[Any], rank_states: Sequence[Sequence[dict[str, Any]]],
                      order: Mapping[str, int] | None, result: Any) -> dict[str, float]:
    """Each metric's value over the whole job, from every rank's :func:`metric_state` of
    each metric (``rank_states[rank][metric]``).

    mmarctl's metrics absorb every rank's cases (per-case values sorted by ``order``, case
    -> place, when given) and give their value as one process would (``result`` computes
    it); a BYOC metric's is the case-weighted mean of the ranks' results (ranks without a
    finite result, e.g. no cases, are left out).
    """
    values: dict[str, float] = {}
    for index, metric in enumerate(metrics):
        states = [per_rank[index] for per_rank in rank_states]
        if "state" in states[0]:
            metric.absorb([state["state"] for state in states], order)
            values[metric.name] = float(result(metric))
            continue
        finite = [(s["result"], s["cases"]) for s in states
                  if s["cases"] and math.isfinite(s["result"])]
        total = sum(cases for _, cases in finite)
        values[metric.name] = (sum(value * cases for value, cases in finite) / total
                               if total else math.nan)
        if metric.name not in _SAID:  # once per process, not at every validation
            _SAID.add(metric.name)
            log.info("metric %s (its own code): the mean of %d processes' results, weighted "
                     "by their cases", metric.name, len(rank_states))
    return values


def combine(parts: Sequence[RankResults], order: Mapping[str, int]) -> RankResults:
    """The job's results: every rank's cases, rows and tables in the datalist's ``order``
    (case -> place); metric states and the collector are left to their own merge."""
    last = len(order)

    def place(row: tuple[Any, ...]) -> int:
        return order.get(row[0], last)

    job = RankResults()
    for part in parts:
        job.cases += part.cases
        job.rows += part.rows
        job.predictions += part.predictions
        job.skipped.update(part.skipped)
        job.files += part.files
        job.previews += part.previews
        for path, rows in part.tables.items():
            job.tables.setdefault(path, []).extend(rows)
    job.files = list(dict.fromkeys(job.files))  # a file written by every rank, once
    job.rows.sort(key=place)
    job.predictions.sort(key=place)
    job.previews.sort(key=place)
    job.skipped = dict(sorted(job.skipped.items(), key=place))
    for rows in job.tables.values():
        rows.sort(key=place)
    return job


def write_tables(tables: Mapping[str, list[tuple[str, list[float]]]]) -> list[Path]:
    """Write each classification CSV whole: rank 0 with every rank's rows, or the one
    process of a run that is not shared out."""
    from mmarctl.runtime.writers.classification import write_table

    return [write_table(Path(path), rows) for path, rows in tables.items()]


def gather_job(backend: Any, report: Any, *, rows: list[tuple[str, list[float]]],
               predictions: list[tuple[str, dict[str, object]]], metrics: Sequence[Any],
               collector: Any, writers: Sequence[Any], preview_cases: Sequence[str],
               tables: dict[str, list[tuple[str, list[float]]]], order: Mapping[str, int],
               result: Any) -> tuple[dict[str, float], list[tuple[str, list[float]]],
                                     list[tuple[str, dict[str, object]]]]:
    """Meet the other ranks once: gather what each evaluated, and make ``report`` (an
    ``EvalReport``) and ``collector`` the job's; rank 0 writes the held CSV tables.

    Every rank must call it, after its last case. ``tables`` are this rank's held
    classification rows (path -> rows); a writer's own (``hold``) are added here.
    ``preview_cases`` are the cases of ``report.previews``.

    Returns:
        The job's metric values (:func:`job_metric_values`), its per-case rows and its
        classification predictions, in datalist ``order``.
    """
    for writer in writers:
        held = getattr(writer, "held", None)
        for path, kept in (held() if callable(held) else {}).items():
            tables.setdefault(path, []).extend(kept)
    mine = RankResults(cases=report.cases, rows=rows, predictions=predictions,
                       skipped=dict(report.skipped),
                       files=[str(path) for path in report.files if str(path) not in tables],
                       previews=[(case, str(path)) for case, path
                                 in zip(preview_cases, report.previews)],
                       metric_states=[metric_state(m, report.cases, result) for m in metrics],
                       collector=collector.state() if collector is not None else None,
                       tables=tables)
    parts = backend.gather_objects(mine)
    job = combine(parts, order)
    values = job_metric_values(metrics, [part.metric_states for part in parts], order, result)
    if collector is not None:
        collector.absorb([part.collector for part in parts], order)
    report.cases, report.skipped = job.cases, job.skipped
    report.files = [Path(name) for name in job.files]
    report.previews = [Path(name) for _, name in job.previews]
    if backend.is_chief:
        report.files += write_tables(job.tables)
    return values, job.rows, job.predictions
