"""check holds the training list's label files to the loss: a one-hot label file (several
channels on the 4th axis) under a Dice loss that takes class indices stopped train in its
first step with a line naming no file; check now names the file, before any compute."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from typer.testing import CliRunner

from mmarctl.cli import app

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401 - fixtures

runner = CliRunner()


def _one_hot_first_training_label(root: Path) -> str:
    listed = json.loads((root / "data" / "dataset_0.json").read_text())
    name = listed["training"][0]["label"]
    image = nib.load(str(root / "data" / name))
    labels = np.asarray(image.dataobj)
    nib.save(nib.Nifti1Image(np.stack([labels == 0, labels == 1], -1).astype(np.uint8),
                             image.affine), str(root / "data" / name))
    return name


def test_a_one_hot_label_under_a_class_index_loss_is_named(mmar: Path) -> None:
    name = _one_hot_first_training_label(mmar)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    [line] = problem_lines(result.output)
    assert line.startswith("data/dataset_0.json: training: 1 label file has several "
                           "channels"), line
    assert f"{name} (2)" in line and "is_onehot_targets" in line


def test_the_same_label_under_one_hot_targets_passes(mmar: Path) -> None:
    _one_hot_first_training_label(mmar)
    config = mmar / "config" / "config_train.json"
    data = json.loads(config.read_text())
    data["train"]["loss"].setdefault("args", {})["is_onehot_targets"] = True
    config.write_text(json.dumps(data))
    result = runner.invoke(app, ["check", str(mmar)])
    assert not any("several channels" in line for line in problem_lines(result.output)), \
        result.output


def _one_hot_targets(root: Path) -> None:
    config = root / "config" / "config_train.json"
    data = json.loads(config.read_text())
    data["train"]["loss"].setdefault("args", {})["is_onehot_targets"] = True
    config.write_text(json.dumps(data))


def test_class_index_labels_under_one_hot_targets_are_named(mmar: Path) -> None:
    # The loss refused them at its first step (after TensorFlow start-up); check names them.
    _one_hot_targets(mmar)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    [line] = problem_lines(result.output)
    assert line.startswith("data/dataset_0.json: training: 3 label files have another channel "
                           "count than the 2 one-hot channels the loss takes "
                           "(is_onehot_targets true, num_classes=2): "), line
    assert "(1)" in line and "set the loss's is_onehot_targets to false" in line


def test_one_hot_label_files_of_num_classes_channels_pass(mmar: Path) -> None:
    listed = json.loads((mmar / "data" / "dataset_0.json").read_text())
    for item in listed["training"]:
        path = mmar / "data" / item["label"]
        image = nib.load(str(path))
        labels = np.asarray(image.dataobj)
        nib.save(nib.Nifti1Image(np.stack([labels == 0, labels == 1], -1).astype(np.uint8),
                                 image.affine), str(path))
    _one_hot_targets(mmar)
    result = runner.invoke(app, ["check", str(mmar)])
    assert not any("label file" in line for line in problem_lines(result.output)), result.output
