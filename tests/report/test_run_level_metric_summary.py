"""A run-level metric (an AUC over all cases, no per-case value) reports the cases it was
computed over, with "-" rather than nan for the per-case min/max/mean."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

from mmarctl.runtime.evaluation import write_metric_reports


def test_auc_counts_its_cases(tmp_path):
    nan = math.nan
    write_metric_reports(tmp_path, [SimpleNamespace(name="auc")],
                         [("p1", [nan]), ("p2", [nan])], {"auc": 0.75})
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]["auc"]
    assert summary == {"value": 0.75, "min": None, "max": None, "mean": None, "count": 2}
    line = (tmp_path / "metrics_summary.txt").read_text().splitlines()[1].split()
    assert line == ["auc", "0.7500", "-", "-", "-", "2"]


def test_a_metric_that_failed_everywhere_still_counts_zero(tmp_path):
    write_metric_reports(tmp_path, [SimpleNamespace(name="mean_dice")],
                         [("p1", [math.nan])], {"mean_dice": math.nan})
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]["mean_dice"]
    assert summary["count"] == 0 and summary["value"] is None
