"""benchmarks/nifti_io.py end to end on a small case (its figures are not checked)."""

from __future__ import annotations

import re

import pytest

from tests import benchmark_scripts


@pytest.fixture(scope="module")
def bench():
    return benchmark_scripts.load("nifti_io")


def test_prints_both_tools_reads_and_writes(bench, capsys):
    assert bench.main(["--shape", "40,36,20", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "40x36x20" in out and "arrays equal" in out
    rows = re.findall(r"^\| (image|label|mask write) \([\d.]+ MiB\) \| ([\d.]+) / ([\d.]+) \| ([\d.]+) / "
                      r"([\d.]+) \| ([\d.]+)x \|$", out, re.M)
    assert [row[0] for row in rows] == ["image", "label", "mask write"]
    assert all(float(value) >= 0 for row in rows for value in row[1:5])
    assert all(float(row[5]) > 0 for row in rows)


def test_a_bad_shape_is_refused(bench):
    with pytest.raises(SystemExit):
        bench.main(["--shape", "512,512"])
