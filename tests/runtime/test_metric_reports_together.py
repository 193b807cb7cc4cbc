"""validate's eval/ reports are renamed into place together: one that cannot be written
leaves the previous run's set whole (eval/ was left half old, half new, with a traceback)."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from mmarctl.errors import RuntimeFailure
from mmarctl.runtime.evaluation import write_metric_reports

NAMES = ("metrics.json", "metrics_per_case.csv", "metrics_summary.txt")


def write(folder, value):
    metric = SimpleNamespace(name="mean_dice")
    return write_metric_reports(folder, [metric], [("case1", [value])], {"mean_dice": value})


def test_a_report_that_cannot_be_written_leaves_the_old_set_whole(tmp_path, monkeypatch):
    written = write(tmp_path, 0.25)
    assert sorted(p.name for p in written) == sorted(NAMES)
    before = {name: (tmp_path / name).read_bytes() for name in NAMES}
    real = os.replace

    def refused(src, dst, *args, **kwargs):  # an immutable metrics_summary.txt (chattr +i)
        if str(dst).endswith("metrics_summary.txt"):
            raise PermissionError(1, "Operation not permitted", str(src), None, str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(RuntimeFailure, match="cannot write: Operation not permitted") as info:
        write(tmp_path, 0.75)
    assert info.value.file.endswith("metrics_summary.txt")
    monkeypatch.setattr(os, "replace", real)
    assert {name: (tmp_path / name).read_bytes() for name in NAMES} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_folder_in_a_reports_place_is_refused_before_any_is_replaced(tmp_path):
    write(tmp_path, 0.25)
    before = (tmp_path / "metrics.json").read_bytes()
    (tmp_path / "metrics_summary.txt").unlink()
    (tmp_path / "metrics_summary.txt").mkdir()
    with pytest.raises(RuntimeFailure, match="is a folder, expected a file"):
        write(tmp_path, 0.75)
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert json.loads(before)["summary"]["mean_dice"]["value"] == 0.25
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_metrics_own_report_file_is_one_of_the_set(tmp_path, monkeypatch):
    """A metric's ``report_path`` CSV (Clara's ``<name>_per_case.csv``) is written with the
    other three and put back with them: it used to be written by ``result()`` before them."""
    from mmarctl.runtime.metrics.average import ComputeAverage

    def run(value):
        metric = ComputeAverage(name="acc", field="model", report_path=str(tmp_path))
        metric.update({"model": value, "meta": {"model": {"filename": "case1.nii.gz"}}})
        return write_metric_reports(tmp_path, [metric], [("case1", [value])], {"acc": value})

    written = run(0.25)
    assert sorted(p.name for p in written) == sorted((*NAMES, "acc_per_case.csv"))
    before = (tmp_path / "acc_per_case.csv").read_text()
    assert before.splitlines()[1] == "case1.nii.gz,0.250000"
    real = os.replace

    def refused(src, dst, *args, **kwargs):  # an immutable metrics.json
        if str(dst).endswith("metrics.json"):
            raise PermissionError(1, "Operation not permitted", str(src), None, str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(RuntimeFailure, match="cannot write"):
        run(0.75)
    monkeypatch.setattr(os, "replace", real)
    assert (tmp_path / "acc_per_case.csv").read_text() == before


def test_the_previous_runs_own_reports_that_this_run_does_not_write_are_removed(tmp_path):
    """Another metric set (or a segmentation run after a classification one): the earlier
    run's ``<metric>_per_case.csv`` and ``predictions.csv`` would be read as this run's.
    Only files the earlier metrics.json lists as written are removed."""
    from mmarctl.runtime.evaluation import PREDICTIONS_NAME
    from mmarctl.runtime.metrics.average import ComputeAverage

    def run(name, predictions=None):
        metric = ComputeAverage(name=name, field="model", report_path=str(tmp_path))
        metric.update({"model": 0.5, "meta": {"model": {"filename": "case1.nii.gz"}}})
        return write_metric_reports(tmp_path, [metric], [("case1", [0.5])], {name: 0.5},
                                    predictions=predictions)

    run("acc", predictions=[("case1", {"truth": 1, "predicted": 0, "class_0": 0.25})])
    assert (tmp_path / PREDICTIONS_NAME).read_text().splitlines() == [
        "case,truth,predicted,class_0", "case1,1,0,0.25"]
    (tmp_path / "mine_per_case.csv").write_text("not validate's\n")
    written = run("dice")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        (*NAMES, "dice_per_case.csv", "mine_per_case.csv"))
    assert json.loads((tmp_path / "metrics.json").read_text())["files"] == [
        p.name for p in written]
    # a metrics.json without the list (an older mmarctl's): nothing is removed
    document = json.loads((tmp_path / "metrics.json").read_text())
    del document["files"]
    (tmp_path / "metrics.json").write_text(json.dumps(document))
    run("acc")
    assert (tmp_path / "dice_per_case.csv").is_file()
