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
