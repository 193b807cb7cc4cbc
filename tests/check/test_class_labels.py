"""Class labels written in a classification datalist: `check` and `train` refuse an item
whose "label" is not a list of values in 0..1, one per class, naming the datalist, the
item's JSON path and what is expected (before, [7] trained to a negative loss and a
missing or string label stopped mid-epoch naming no item)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from broken_mmars import edit_json, problem_lines, run_verb
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.errors import DataError
from mmarctl.runtime.pipelines.classification import ClassificationImagePipeline
from mmarctl.runtime.transforms.loaders import LoadNifti

runner = CliRunner()
DATALIST = "data/dataset_0.json"


@pytest.fixture(scope="module")
def classification(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class_labels") / "c"
    assert runner.invoke(app, ["init", str(root), "--task", "classification"]).exit_code == 0
    done = runner.invoke(app, ["data", "synth", str(root), "--task", "classification",
                               "--cases", "4", "--size", "16"])
    assert done.exit_code == 0, done.output
    return root


def _with_label(root: Path, tmp_path: Path, label) -> Path:
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(root, copy)

    def change(datalist: dict) -> None:
        if label is None:
            datalist["training"][0].pop("label")
        else:
            datalist["training"][0]["label"] = label

    edit_json(copy / "data" / "dataset_0.json", change)
    return copy


@pytest.mark.parametrize("label, expected", [
    ([7], "Received: [7] (values outside 0..1)"),
    (None, 'no "label" (a classification pipeline reads it from the datalist)'),
    ("1", 'Received: "1"'),
])
def test_check_names_the_item_whose_label_is_not_a_class_label(classification, tmp_path,
                                                                 label, expected):
    root = _with_label(classification, tmp_path, label)
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 1, result.output
    [line] = problem_lines(result.output)
    assert line.startswith(f"{DATALIST}: training[0].label: "), line
    assert "one value in 0..1 (num_classes=1)" in line and expected in line, line


def test_check_holds_label_vectors_to_the_networks_num_classes(classification, tmp_path):
    root = _with_label(classification, tmp_path, [1, 0, 1])
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 1, result.output
    [line] = problem_lines(result.output)
    assert line.startswith(f"{DATALIST}: training[0].label: "), line
    assert "3 value(s) [1, 0, 1]" in line and "num_classes=1" in line, line


def test_train_refuses_it_with_checks_line_before_any_step(classification, tmp_path):
    root = _with_label(classification, tmp_path, [7])
    done = run_verb("train", root, "--epochs", "1")
    assert done.returncode == 1, done.stderr
    assert f"{DATALIST}: training[0].label: expected" in done.stderr
    assert "Traceback" not in done.stderr and not (root / "models").exists()


def test_the_pipeline_holds_labels_to_num_classes(classification):
    """What check cannot see without the network: a label vector of the wrong length is
    refused when the pipeline reads its list, naming the datalist and the item."""
    datalist = classification / "data" / "dataset_0.json"
    lists = json.loads(datalist.read_text())
    lists["training"][1]["label"] = [1, 0, 1]
    wrong = classification.parent / "wrong_length.json"
    wrong.write_text(json.dumps(lists))
    pipeline = ClassificationImagePipeline(
        data_list_file_path=str(wrong), data_file_base_dir=str(classification / "data"),
        output_crop_size=[64, 64])
    pipeline.setup([LoadNifti(fields="image")], num_classes=1)
    with pytest.raises(DataError) as raised:
        pipeline.items()
    error = raised.value
    assert error.file == str(wrong) and error.json_path == "training[1].label"
    assert "one value in 0..1 (num_classes=1)" in error.message
    assert "3 value(s) [1, 0, 1]" in error.message
