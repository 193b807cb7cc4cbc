"""validate's pre-flight holds the validation list's class labels to the network as check
does (a [2] with num_classes 1 used to be scored silently; a missing label stopped at the
metric with another line); infer reads no labels and is not refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.check.broken_mmars import (NO_TENSORFLOW, edit_json, problem_lines, run_verb,
                                      without_tensorflow)

from mmarctl.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def classification(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval_labels") / "c"
    assert runner.invoke(app, ["init", str(root), "--task", "classification"]).exit_code == 0
    done = runner.invoke(app, ["data", "synth", str(root), "--task", "classification",
                               "--cases", "4", "--size", "16"])
    assert done.exit_code == 0, done.output
    return root


@pytest.mark.parametrize("change, expected", [
    (lambda item: item.update(label=[2]), "Received: [2] (values outside 0..1)"),
    (lambda item: item.pop("label"), 'no "label"'),
])
def test_validate_refuses_what_check_reports(classification, tmp_path, change, expected):
    root = tmp_path / "c"
    shutil.copytree(classification, root)
    edit_json(root / "data" / "dataset_0.json", lambda d: change(d["validation"][0]))
    line, = problem_lines(runner.invoke(app, ["check", str(root)]).output)
    assert line.startswith("data/dataset_0.json: validation[0].label: ") and expected in line
    done = run_verb("validate", root, env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and line in done.stderr, done.stderr
    done = run_verb("infer", root, env=without_tensorflow(tmp_path / "no-tf"))
    assert "validation[0].label" not in done.stderr, done.stderr
    assert NO_TENSORFLOW in done.stderr or "model checkpoint" in done.stderr, done.stderr
