"""A validation config's sliding window (``roi_size``) held to the training config's network:
one entry per spatial axis, each a multiple of the network's size divisor. validate and
infer used to fail on the first window with TensorFlow's text, naming no file or setting."""

from __future__ import annotations

import shutil
from pathlib import Path

from broken_mmars import edit_json, problem_lines, runner
from broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check import check_mmar
from mmarctl.check.preflight import evaluation_problems
from mmarctl.cli import app
from mmarctl.workspace import Workspace

ROI = "inferer.args.roi_size"


def _roi(root: Path, roi) -> None:
    edit_json(root / "config" / "config_validation.json",
              lambda c: c["inferer"]["args"].update(roi_size=roi))


def _problems(root: Path) -> list[str]:
    return [f"{p.json_path}: {p.message}" for p in check_mmar(Workspace(root)).problems]


def test_whole_axis_entries_are_left_to_the_image(mmar):
    """An entry <= 0 is the whole axis: its size is the image's, unknown before running."""
    _roi(mmar, [-1, 48, 0])
    assert _problems(mmar) == []
    _roi(mmar, [-1, 41, 0])
    assert _problems(mmar) == [f"{ROI}: every size must be a multiple of 16, the network's "
                               "size divisor; Received: [-1, 41, 0] (e.g. [-1, 48, 0])"]


def test_the_divisor_follows_the_network(mmar):
    """A Unet with two poolings divides by 4: 44 fits it, 42 does not."""
    _roi(mmar, [44, 44, 44])
    edit_json(mmar / "config" / "config_train.json", lambda c: c["train"]["model"][
        "args"].update(nf_enc="16,32", nf_dec="32,16,16"))
    edit_json(mmar / "config" / "config_train.json", lambda c: c["train"]["image_pipeline"][
        "args"].update(output_crop_size=[48, 48, 48]))
    assert _problems(mmar) == []
    _roi(mmar, [44, 42, 44])
    assert [p for p in _problems(mmar) if p.startswith(ROI)] == [
        f"{ROI}: every size must be a multiple of 4, the network's size divisor; "
        "Received: [44, 42, 44] (e.g. [44, 40, 44])"]


def test_a_broken_network_is_reported_once_not_against_the_window(mmar):
    _roi(mmar, [44, 44, 44])
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(nf_dec="64,32"))
    problems = _problems(mmar)
    assert len(problems) == 1 and problems[0].startswith("train.model.args.nf_dec:"), problems


def test_a_whole_image_inferer_has_no_window_to_check(mmar):
    edit_json(mmar / "config" / "config_validation.json",
              lambda c: c.update(inferer={"name": "TFSimpleInferer"}))
    assert _problems(mmar) == []


def test_without_a_training_config_there_is_no_network_to_hold_it_to(mmar):
    _roi(mmar, [44, 44, 44])
    done = runner.invoke(app, ["check", str(mmar), "--config-validation",
                               "config_validation.json"])
    assert ROI not in done.output, done.output


def test_the_preflight_holds_the_window_of_the_config_it_is_given(mmar):
    """validate -c names another validation config: its window is checked, against the
    training config --config-train names."""
    other = mmar / "config" / "config_validation_small.json"
    shutil.copy(mmar / "config" / "config_validation.json", other)
    edit_json(other, lambda c: c["inferer"]["args"].update(roi_size=[36, 40, 44]))
    untrained = ("models/model.ckpt", "")  # this MMAR has no checkpoint: said as well
    problems = evaluation_problems(Workspace(mmar), {}, config=other.name,
                                   train_config="config_train.json")
    assert [(p.file, p.json_path) for p in problems] == [
        ("config/config_validation_small.json", ROI), untrained]
    assert [(p.file, p.json_path) for p in evaluation_problems(
        Workspace(mmar), {}, config="config_validation.json",
        train_config="config_train.json")] == [untrained]
    done = runner.invoke(app, ["check", str(mmar)])
    assert problem_lines(done.output) == [
        f"config/config_validation_small.json: {ROI}: every size must be a multiple of 16, "
        "the network's size divisor; Received: [36, 40, 44] (e.g. [32, 32, 48])"]
