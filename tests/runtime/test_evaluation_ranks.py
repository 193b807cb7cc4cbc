"""validate/infer over several processes, merged: every rank's share gives what one process
gives (metric values, per-case order, report rows and pictures, classification CSVs).

The ranks are simulated here: each "rank" is a metric or collector fed its share of the
cases; the real gather (Horovod's allgather of the same objects) is run by
tests/test_distributed_evaluation.py.
"""

from __future__ import annotations

import csv
import logging
import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmarctl.errors import DataError
from mmarctl.report.collector import ReportCollector
from mmarctl.runtime.distributed import SingleProcess
from mmarctl.runtime.evaluation_ranks import (RankResults, combine, job_metric_values,
                                              metric_state)
from mmarctl.runtime.metrics.auc import ComputeAUC
from mmarctl.runtime.metrics.average import ComputeAverage
from mmarctl.runtime.metrics.average_dice import ComputeAverageDice
from mmarctl.runtime.writers.case_names import CASE_KEY, case_names
from mmarctl.runtime.writers.classification import WriteClassificationResult, write_table


class _Ranks(SingleProcess):
    """Rank ``rank`` of ``size``, for :meth:`Backend.share` (the base class's)."""

    def __init__(self, rank: int, size: int) -> None:
        self._rank, self._size = rank, size

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def size(self) -> int:
        return self._size


@given(n=st.integers(0, 40), size=st.integers(1, 8))
def test_shares_hold_every_case_once(n, size):
    items = list(range(n))
    shares = [_Ranks(rank, size).share(items) for rank in range(size)]
    assert sorted(sum(shares, [])) == items                    # each case, none twice
    assert max(map(len, shares)) - min(map(len, shares)) <= 1  # as even as can be


def _segmentation_cases() -> list[dict]:
    rng = np.random.default_rng(4)
    cases = []
    for index in range(7):
        label = (rng.random((6, 6)) > 0.5).astype(np.float32)
        predicted = (rng.random((6, 6)) > 0.4).astype(np.int64)
        probabilities = np.stack([1.0 - predicted, predicted]).astype(np.float32)
        if index == 3:  # empty label and prediction: NaN, left out of the mean
            label[:], probabilities[0], probabilities[1] = 0, 1, 0
        cases.append({"model": probabilities, "label": label[None], "score": float(index),
                      "meta": {"label": {"filename": f"/d/case_{index}.nii.gz"}}})
    return cases


def _classification_cases() -> list[dict]:
    rng = np.random.default_rng(5)
    return [{"model": rng.random(3), "label": np.eye(3)[index % 3],
             "meta": {"label": {"filename": f"/d/img_{index}.png"}}} for index in range(9)]


def _metrics():
    return [ComputeAverageDice(name="dice"), ComputeAverage(name="score", field="score")]


def _value(metric) -> float:
    return metric.value()


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("make, cases", [(_metrics, _segmentation_cases),
                                         (lambda: [ComputeAUC(name="auc")],
                                          _classification_cases)])
def test_metrics_over_shares_equal_one_process(size, make, cases):
    cases = cases()
    order = {f"/d/{name}": place for place, name in enumerate(
        sample["meta"]["label"]["filename"].rsplit("/", 1)[1] for sample in cases)}
    alone = make()
    for sample in cases:
        for metric in alone:
            metric.update(sample)

    rank_states = []
    for rank in range(size):
        metrics = make()
        for sample in _Ranks(rank, size).share(cases):
            for metric in metrics:
                metric.update(sample)
        # what travels between ranks is pickled
        rank_states.append(pickle.loads(pickle.dumps(
            [metric_state(metric, 0, _value) for metric in metrics])))
    job = make()
    values = job_metric_values(job, rank_states, order, _value)

    for one, merged in zip(alone, job):
        assert values[one.name] == pytest.approx(one.value(), abs=1e-12)
        assert math.isfinite(values[one.name])
        assert list(merged.per_case()) == list(one.per_case())        # datalist order
        assert merged.per_case() == pytest.approx(one.per_case(), nan_ok=True)


class _OwnMetric:
    """A BYOC metric (Clara's update/result API): the mean of a field, its state its own."""

    def __init__(self) -> None:
        self.name, self.values = "own", []

    def update(self, sample) -> None:
        self.values.append(sample["score"])

    def result(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan


def test_a_byoc_metric_is_the_case_weighted_mean_of_the_ranks(caplog, monkeypatch):
    from mmarctl.runtime import evaluation_ranks

    monkeypatch.setattr(evaluation_ranks, "_SAID", set())
    shares = [[1.0, 2.0, 3.0], [10.0], []]  # uneven, and a rank without cases (NaN)
    rank_states = []
    for share in shares:
        metric = _OwnMetric()
        for score in share:
            metric.update({"score": score})
        rank_states.append([metric_state(metric, len(share), lambda m: m.result())])
    with caplog.at_level(logging.INFO, logger="mmarctl.evaluate"):
        values = job_metric_values([_OwnMetric()], rank_states, None, lambda m: m.result())
    assert values["own"] == pytest.approx(16.0 / 4)  # not the mean of 2.0 and 10.0
    assert "the mean of 3 processes' results, weighted by their cases" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mmarctl.evaluate"):
        job_metric_values([_OwnMetric()], rank_states, None, lambda m: m.result())
    assert not caplog.records  # said once (training validates every few epochs)


def test_combine_puts_every_rank_in_datalist_order():
    order = {"a": 0, "b": 1, "c": 2, "d": 3}
    parts = [RankResults(cases=1, rows=[("a", [1.0]), ("c", [3.0])], skipped={},
                         files=["out/a.nii.gz", "out/c.nii.gz"],
                         previews=[("a", "p/a.png"), ("c", "p/c.png")],
                         tables={"t.csv": [("a", [0.1, 0.9]), ("c", [0.3, 0.7])]}),
             RankResults(cases=1, rows=[("b", [2.0])], skipped={"d": "unreadable"},
                         files=["out/b.nii.gz"], previews=[("b", "p/b.png")],
                         tables={"t.csv": [("b", [0.2, 0.8])]})]
    job = combine(parts, order)
    assert job.cases == 2
    assert [case for case, _ in job.rows] == ["a", "b", "c"]
    assert job.skipped == {"d": "unreadable"}
    assert [path for _, path in job.previews] == ["p/a.png", "p/b.png", "p/c.png"]
    assert [case for case, _ in job.tables["t.csv"]] == ["a", "b", "c"]
    assert sorted(job.files) == ["out/a.nii.gz", "out/b.nii.gz", "out/c.nii.gz"]


def _picture_cases(count: int) -> list[tuple[str, dict, list[float]]]:
    rng = np.random.default_rng(6)
    cases = []
    for index in range(count):
        label = np.zeros((1, 12, 12), np.float32)
        label[0, 3:9, 3:9] = 1
        model = np.stack([1 - label[0], label[0]])
        cases.append((f"c{index}", {"image": rng.random((1, 12, 12)).astype(np.float32),
                                    "label": label, "model": model},
                      [float(rng.random())]))
    return cases


def test_report_rows_and_pictures_over_shares_are_one_collector_s():
    cases = _picture_cases(13)
    order = {name: place for place, (name, _, _) in enumerate(cases)}
    metrics = [ComputeAverageDice(name="dice")]
    alone = ReportCollector(metrics, classification=False, per_side=2)
    for name, sample, values in cases:
        alone.add(name, sample, values)
    states = []
    for rank in range(3):
        collector = ReportCollector(metrics, classification=False, per_side=2)
        for name, sample, values in _Ranks(rank, 3).share(cases):
            collector.add(name, sample, values)
        states.append(pickle.loads(pickle.dumps(collector.state())))
    merged = ReportCollector(metrics, classification=False, per_side=2)
    merged.absorb(states, order)
    assert merged.rows == alone.rows
    assert merged.chosen() == alone.chosen()  # the same worst and best cases drawn
    assert set(merged.views) == set(alone.views)


def test_a_held_classification_writer_writes_nothing_until_rank_0_writes_the_table(tmp_path):
    writer = WriteClassificationResult(field="model")
    writer.hold()
    items = [{"image": "/d/a.png"}, {"image": "/d/b.png"}]
    for item, named, scores in zip(items, case_names(items), ([0.2, 0.8], [0.6, 0.4])):
        writer.write({"model": np.array(scores), CASE_KEY: named,
                      "meta": {"image": {"filename": item["image"]}}}, tmp_path)
    assert not (tmp_path / "preds_model.csv").exists()
    held = writer.held()
    assert list(held) == [str(tmp_path / "preds_model.csv")]
    path = write_table(tmp_path / "preds_model.csv", held[str(tmp_path / "preds_model.csv")])
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["image", "class_0", "class_1"], ["/d/a.png", "0.2", "0.8"],
                    ["/d/b.png", "0.6", "0.4"]]


def test_a_table_of_mixed_class_counts_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"different numbers of classes \(\[2, 3\]\)"):
        write_table(tmp_path / "t.csv", [("a", [0.5, 0.5]), ("b", [0.2, 0.3, 0.5])])
    assert not (tmp_path / "t.csv").exists()
