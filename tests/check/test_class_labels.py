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


def test_labels_all_longer_than_num_classes_blame_the_model_args_once(classification,
                                                                      tmp_path):
    """CheXpert: 15 labels per item and no num_classes in the model's args (1 by default):
    one line naming train.model.args.num_classes, not one per item."""
    import shutil

    root = tmp_path / "c"
    shutil.copytree(classification, root)
    edit_json(root / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].pop("num_classes", None))

    def fifteen(datalist: dict) -> None:
        for name in ("training", "validation"):
            for item in datalist[name]:
                item["label"] = [1] + [0] * 14
    edit_json(root / DATALIST, fifteen)
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 1, result.output
    assert problem_lines(result.output) == [
        "config/config_train.json: train.model.args.num_classes: the network has "
        "num_classes=1 (1 is the default when the model's args set no num_classes), but "
        f"every label of {DATALIST} has 15 values, one per class (Clara's label_format): "
        'set "num_classes": 15 in the model\'s args'], result.output
