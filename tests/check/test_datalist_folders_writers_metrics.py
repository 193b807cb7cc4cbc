"""Three findings check used to miss: a data list entry naming a folder (train said "image
file not found"), a validation config without writers (infer refused, naming no file) and a
segmentation metric scoring a classification network (refused after a whole epoch)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.check.broken_mmars import (NO_TENSORFLOW, edit_json, problem_lines, run_verb,
                                      without_tensorflow)
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.cli import app

runner = CliRunner()


def test_an_entry_naming_a_folder(mmar, tmp_path):
    edit_json(mmar / "data" / "dataset_0.json",
              lambda d: d["training"][0].update(image="imagesTr"))
    line, = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    assert line.startswith("data/dataset_0.json: training[0].image: imagesTr is a folder, "
                           "not a file"), line
    done = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and line in done.stderr and NO_TENSORFLOW not in done.stderr


def test_no_writers_is_a_note_for_check_and_infers_refusal(mmar, tmp_path):
    edit_json(mmar / "config" / "config_validation.json", lambda c: c.pop("writers"))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    note = [x for x in result.output.splitlines() if "writers: note: no writers" in x]
    assert note and note[0].startswith("config/config_validation.json: writers: note: "), \
        result.output
    done = run_verb("infer", mmar, env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and NO_TENSORFLOW not in done.stderr, done.stderr
    assert ("config/config_validation.json: writers: no writers: validate runs, but infer "
            "refuses") in done.stderr


@pytest.fixture(scope="module")
def classification(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("metric_task") / "c"
    assert runner.invoke(app, ["init", str(root), "--task", "classification"]).exit_code == 0
    done = runner.invoke(app, ["data", "synth", str(root), "--task", "classification",
                               "--cases", "4", "--size", "16"])
    assert done.exit_code == 0, done.output
    return root


def test_a_segmentation_metric_in_a_classification_config(classification, tmp_path):
    root = tmp_path / "c"
    shutil.copytree(classification, root)
    dice = {"name": "ComputeAverageDice", "args": {"name": "md", "field": "model",
                                                    "label_field": "label"}}
    edit_json(root / "config" / "config_train.json",
              lambda c: c["validate"]["metrics"].__setitem__(0, {**dice, "args": {
                  **dice["args"], "is_key_metric": True}}))
    edit_json(root / "config" / "config_validation.json",
              lambda c: c["val_metrics"].__setitem__(0, dice))
    lines = problem_lines(runner.invoke(app, ["check", str(root)]).output)
    assert lines == [
        "config/config_train.json: validate.metrics[0].name: ComputeAverageDice scores "
        "segmentation masks, but the network of config/config_train.json is a "
        "classification one (one score per class); use ComputeAUC",
        "config/config_validation.json: val_metrics[0].name: ComputeAverageDice scores "
        "segmentation masks, but the network of config/config_train.json is a "
        "classification one (one score per class); use ComputeAUC"], lines
