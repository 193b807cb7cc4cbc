"""check holds the components of a config to one another before any compute: the network's
task (mask or class scores) against the pipeline, loss, metrics, writers and inferer; loss
and metric arguments against the network's classes and output activation; crop sizes and
2-D-only transforms against the network's spatial axes; a constructor's refusal at the
argument it names. train refuses the same line before TensorFlow starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mmarctl.cli import app
from tests.check.broken_mmars import (NO_TENSORFLOW, edit_json, problem_lines, run_verb,
                                      runner, without_tensorflow)
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def classification_scaffold(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("agreement") / "c"
    assert runner.invoke(app, ["init", str(root), "--task", "classification"]).exit_code == 0
    done = runner.invoke(app, ["data", "synth", str(root), "--task", "classification",
                               "--cases", "4", "--size", "16"])
    assert done.exit_code == 0, done.output
    return root


@pytest.fixture
def classifier(classification_scaffold: Path, tmp_path: Path) -> Path:
    root = tmp_path / "c"
    shutil.copytree(classification_scaffold, root)
    return root


def _train(root: Path, change) -> None:
    edit_json(root / "config" / "config_train.json", change)


def _check(root: Path) -> tuple[int, list[str], str]:
    done = runner.invoke(app, ["check", str(root)])
    return done.exit_code, problem_lines(done.output), done.output


def test_a_classification_network_in_a_segmentation_config(mmar, tmp_path):
    _train(mmar, lambda c: c["train"].update(
        model={"name": "DenseNet121", "args": {"num_classes": 2}}))
    code, lines, _ = _check(mmar)
    assert code == 1 and lines == [
        "config/config_train.json: train.model.name: DenseNet121 is a classification "
        "network (one score per class), but train.image_pipeline "
        "(SegmentationImagePipelineWithCache) is a segmentation one, as are the loss and "
        "metrics that go with it; use a segmentation network such as Unet, or a "
        "classification pipeline, loss and metrics"], lines
    done = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and lines[0] in done.stderr, done.stderr
    assert NO_TENSORFLOW not in done.stderr


def test_a_classification_loss_on_a_segmentation_network(mmar):
    _train(mmar, lambda c: c["train"].update(loss={"name": "BinaryClassificationLoss"}))
    code, lines, _ = _check(mmar)
    assert code == 1 and lines == [
        "config/config_train.json: train.loss.name: BinaryClassificationLoss is a "
        "classification loss, but Unet is a segmentation network (a mask): its targets would "
        "not match the prediction; use Dice"], lines


def test_binary_cross_entropy_on_one_sigmoid_channel_is_fine(mmar):
    # Voxel-wise BCE: the label (B, *S, 1) has the one-channel prediction's shape.
    _train(mmar, lambda c: (c["train"].update(loss={"name": "BinaryClassificationLoss"}),
                            c["train"]["model"]["args"].update(
                                num_classes=1, final_activation="sigmoid")))
    edit_json(mmar / "config" / "config_validation.json", lambda c: c.update(post_transforms=[
        {"name": "ThresholdValues", "args": {"fields": "model", "threshold": 0.5}}]))
    code, lines, output = _check(mmar)
    assert (code, lines) == (0, []), output


def test_a_writer_of_the_image_in_a_classification_mmar_is_fine(classifier):
    # WriteNifti / WritePng of the preprocessed image writes an image, not the scores.
    edit_json(classifier / "config" / "config_validation.json", lambda c: c["writers"].extend([
        {"name": "WriteNifti", "args": {"field": "image", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}},
        {"name": "WritePng", "args": {"field": "image", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}]))
    code, lines, output = _check(classifier)
    assert (code, lines) == (0, []), output


def test_one_value_per_class_labels_under_class_index_focal(classifier):
    # Labels [1, 0] / [0, 1] under Focal with is_onehot_targets false: the loss refused
    # every case at its first step, after TensorFlow start-up.
    _train(classifier, lambda c: (c["train"]["model"]["args"].update(
        num_classes=2, final_activation="softmax"), c["train"].update(loss={"name": "Focal"})))

    def one_hot(datalist: dict) -> None:
        for key in ("training", "validation"):
            for item in datalist[key]:
                item["label"] = [1 - item["label"][0], item["label"][0]]
    edit_json(classifier / "data" / "dataset_0.json", one_hot)
    code, lines, _ = _check(classifier)
    assert code == 1 and lines == [
        "config/config_train.json: train.loss.args.is_onehot_targets: Focal takes one class "
        "index per case (is_onehot_targets false), but every label of data/dataset_0.json: "
        "training has 2 values, one per class (the network's num_classes): set "
        "\"is_onehot_targets\": true in the loss's args"], lines
    _train(classifier, lambda c: c["train"]["loss"].update(args={"is_onehot_targets": True}))
    assert _check(classifier)[:2] == (0, [])


def test_a_nifti_writer_and_a_window_for_a_classification_network(classifier):
    def change(config: dict) -> None:
        config["writers"] = [{"name": "WriteNifti", "args": {
            "field": "model", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}]
        config["inferer"] = {"name": "TFScanWindowInferer", "args": {"roi_size": [16, 16]}}
    edit_json(classifier / "config" / "config_validation.json", change)
    code, lines, output = _check(classifier)
    assert code == 1 and lines == [
        "config/config_validation.json: writers[0].name: WriteNifti writes a mask, but the "
        "network of config/config_train.json gives one score per class; use "
        "WriteClassificationResult"], lines
    assert ("config/config_validation.json: inferer.name: note: a classification network is "
            "run once on the whole image: TFScanWindowInferer and its roi_size are not used"
            in output), output


def test_a_png_writer_for_a_classification_network(classifier):
    edit_json(classifier / "config" / "config_validation.json",
              lambda config: config.update(writers=[{"name": "WritePng", "args": {
                  "field": "model", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}]))
    code, lines, _ = _check(classifier)
    assert code == 1 and lines == [
        "config/config_validation.json: writers[0].name: WritePng writes a mask, but the "
        "network of config/config_train.json gives one score per class; use "
        "WriteClassificationResult"], lines


def test_the_scaffolds_agree(classifier, mmar):
    assert _check(classifier)[:2] == (0, [])
    assert _check(mmar)[:2] == (0, [])


def test_write_nifti_refuses_scores_without_image_axes(tmp_path):
    from mmarctl.errors import ConfigError
    from mmarctl.runtime.writers.nifti import WriteNifti

    with pytest.raises(ConfigError, match="no image axes.*WriteClassificationResult"):
        WriteNifti(write_path=str(tmp_path)).write({"model": np.array([0.49]), "meta": {}})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("change, line", [
    (lambda c: c["train"].update(loss={"name": "Focal", "args": {"alpha": [0.2, 0.3, 0.5]}}),
     "config/config_train.json: train.loss.args.alpha: Focal: alpha must be 2 weights (one "
     "per class: train.model.args.num_classes is 2); Received: alpha=[0.2, 0.3, 0.5]"),
    (lambda c: c["train"]["model"]["args"].update(final_activation="linear"),
     "config/config_train.json: train.model.args.final_activation: Dice takes probabilities, "
     "but the network's final_activation 'linear' gives unbounded values; use 'softmax'; "
     "Received: final_activation='linear'"),
], ids=["focal-alpha", "linear-dice"])
def test_loss_args_held_to_the_network(mmar, change, line):
    _train(mmar, change)
    assert _check(mmar)[:2] == (1, [line])


def test_focal_alpha_of_the_right_length_is_fine(mmar):
    _train(mmar, lambda c: c["train"].update(loss={"name": "Focal", "args": {"alpha": [.2, .8]}}))
    assert _check(mmar)[:2] == (0, [])


def test_auc_class_index_and_pos_weight_held_to_the_classes(classifier, tmp_path):
    def change(config: dict) -> None:
        config["validate"]["metrics"][0]["args"]["class_index"] = 5
        config["train"]["loss"] = {"name": "BinaryClassificationLoss",
                                   "args": {"pos_weight": [1, 2]}}
    _train(classifier, change)
    edit_json(classifier / "config" / "config_validation.json",
              lambda c: c["val_metrics"][0]["args"].update(class_index=1))
    code, lines, _ = _check(classifier)
    assert code == 1 and lines == [
        "config/config_train.json: train.loss.args.pos_weight: BinaryClassificationLoss: "
        "pos_weight must be 1 weight (one per class: train.model.args.num_classes is 1); "
        "Received: pos_weight=[1.0, 2.0]",
        "config/config_train.json: validate.metrics[0].args.class_index: ComputeAUC: "
        "class_index must be below the number of classes, 1 (train.model.args.num_classes in "
        "config/config_train.json; class_index counts from 0); Received: class_index=5",
        "config/config_validation.json: val_metrics[0].args.class_index: ComputeAUC: "
        "class_index must be below the number of classes, 1 (train.model.args.num_classes in "
        "config/config_train.json; class_index counts from 0); Received: class_index=1"], lines
    done = run_verb("train", classifier, "--epochs", "1",
                    env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and lines[0] in done.stderr, done.stderr
    assert NO_TENSORFLOW not in done.stderr


def test_auc_class_index_of_aux_op_columns_against_the_default_classes(classifier):
    # CheXpert's per-class AUCs on ComputeBinaryPreds' columns, num_classes not written
    # (default 1) and one-value labels: train stopped after the first epoch.
    def change(config: dict) -> None:
        config["train"]["model"]["args"].pop("num_classes", None)
        config["train"]["aux_ops"] = [{"name": "ComputeBinaryPreds"}]
        config["validate"]["metrics"] = [
            {"name": "ComputeAUC", "args": {"name": f"auc{i}", "field": "binary_preds",
                                            "label_field": "binary_labels", "class_index": i}}
            for i in range(6)]
    _train(classifier, change)
    code, lines, _ = _check(classifier)
    assert code == 1 and lines == [
        f"config/config_train.json: validate.metrics[{i}].args.class_index: ComputeAUC: "
        "class_index must be below the number of classes, 1 (1 is the default of "
        "train.model.args.num_classes, which config/config_train.json does not set; "
        f"class_index counts from 0); Received: class_index={i}" for i in (1, 2, 3)] + [
        "config/config_train.json: validate.metrics: and 2 more metrics whose class_index is "
        "not below 1: validate.metrics[4]..[5]"], lines


def test_a_constructor_refusal_points_at_the_argument(mmar):
    def change(config: dict) -> None:
        config["train"]["model"]["args"]["num_classes"] = 0
        config["train"]["loss"]["args"]["smooth"] = -1
        config["train"]["pre_transforms"][6]["args"]["probability"] = -0.5
    _train(mmar, change)
    assert _check(mmar)[1] == [
        "config/config_train.json: train.loss.args.smooth: Dice: smooth must be a number > 0; "
        "Received: smooth=-1",
        "config/config_train.json: train.model.args.num_classes: Unet: num_classes must be an "
        "integer >= 1; Received: num_classes=0",
        "config/config_train.json: train.pre_transforms[6].args.probability: RandomSpatialFlip: "
        "probability must be a number in [0, 1]; Received: probability=-0.5"]


def test_a_refused_default_stays_at_the_component():
    # A refusal naming an argument the config does not write (a default): no args.<arg>.
    from mmarctl.check.constructors import _refused_arg

    message = "SegResnet: blocks_up must be a list of 2 integers; Received: blocks_up='1,1,1'"
    assert _refused_arg(message, {"blocks_down": "1,2,2"}) is None
    assert _refused_arg(message, {"blocks_up": "1,1,1"}) == "blocks_up"


def test_validation_preprocessing_unlike_training_is_a_note(mmar):
    def change(config: dict) -> None:
        config["pre_transforms"][2]["args"]["target_resolution"] = [1.0, 1.0, 1.0]
        config["pre_transforms"][3]["args"]["a_max"] = 1000
    edit_json(mmar / "config" / "config_validation.json", change)
    code, lines, output = _check(mmar)
    assert (code, lines) == (0, []), output
    assert ("config/config_validation.json: pre_transforms[2].args.target_resolution: note: "
            "ScaleByResolution: target_resolution is [1.0, 1.0, 1.0] here but [2.5, 2.5, 3.0] "
            "in config/config_train.json's validate.pre_transforms: the network is trained and "
            "validated on images prepared the other way") in output, output
    assert "pre_transforms[3].args.a_max: note: ScaleIntensityRange: a_max is 1000" in output


def test_the_scaffold_preprocessing_agrees(mmar):
    assert " here but " not in _check(mmar)[2]


def test_a_surplus_class_against_the_labels_table_is_a_note(mmar):
    _train(mmar, lambda c: c["train"]["model"]["args"].update(num_classes=3))
    code, lines, output = _check(mmar)
    assert (code, lines) == (0, []), output
    assert ("config/config_train.json: train.model.args.num_classes: note: num_classes is 3 "
            "but the labels table of data/dataset_0.json names label values up to 1 "
            "(0 background, 1 spleen): class 2 never appears in a label (a channel trained to "
            "be always empty); set num_classes to 2 unless that is meant") in output, output
    assert "labels table" not in _check_fresh_spleen(mmar)


@pytest.mark.parametrize("labels, classes", [
    ({"0": "background", "1": "necrotic", "2": "edema", "4": "enhancing"}, 5),  # BraTS gap
    ({"1": "spleen"}, 2),                        # a table naming only the foreground
    ({"background": 0, "spleen": 1}, 7),         # name -> value: nothing to tell
])
def test_the_labels_table_is_read_by_its_label_values(labels, classes):
    from mmarctl.check.label_table import label_table_notes
    assert label_table_notes({"labels": labels}, "d.json", classes, "c.json") == []
    assert "set num_classes to 5" in label_table_notes(
        {"labels": {"0": "a", "1": "b", "2": "c", "4": "d"}}, "d.json", 7, "c.json")[0].message


def _check_fresh_spleen(root: Path) -> str:
    _train(root, lambda c: c["train"]["model"]["args"].update(num_classes=2))
    return _check(root)[2]
