"""A validation config whose pre_transforms change the image channels otherwise than the
training config's train.pre_transforms (AddExtremePointsChannel in config_train.json only):
validate and infer refuse at config_validation.json: pre_transforms, not blaming the
validation list's image files (which hold the training files' channels)."""

from __future__ import annotations

from tests.check.broken_mmars import edit_json
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check.field_flow import validation_channel_problems
from mmarctl.check.preflight import evaluation_problems
from mmarctl.workspace import Workspace

TRAIN = "config/config_train.json"
VALIDATION = "config/config_validation.json"
POINTS = {"name": "AddExtremePointsChannel",
          "args": {"image_field": "image", "label_field": "label", "sigma": 3}}
LINE = (f"{VALIDATION}: pre_transforms: the images get 1 channel(s) but the network takes 2 "
        f"({TRAIN}: train.pre_transforms[5] AddExtremePointsChannel is not in "
        f"pre_transforms); change the channels as {TRAIN}'s train.pre_transforms does")


def _points_in_training(config: dict) -> None:
    config["train"]["pre_transforms"].insert(5, POINTS)
    config["validate"]["pre_transforms"].append({"ref": "AddExtremePointsChannel"})
    for flow in ("train", "validate"):
        config[flow]["image_pipeline"]["args"]["output_image_channels"] = 2


def test_the_chain_is_blamed_not_the_image_files(mmar):  # noqa: F811
    edit_json(mmar / "config" / "config_train.json", _points_in_training)
    problems = evaluation_problems(Workspace(mmar), {}, config="config_validation.json",
                                   train_config="config_train.json")
    lines = [str(p) for p in problems]
    assert LINE in lines, lines
    assert not any("channel count other than" in line for line in lines), lines


def test_the_same_channels_in_both_chains_pass():
    train = {"train": {"pre_transforms": [POINTS]}}
    validation = {"pre_transforms": [{"name": "LoadNifti", "args": {"fields": "image"}}, POINTS]}
    assert validation_channel_problems(train, TRAIN, validation, VALIDATION, 2) == []
    assert validation_channel_problems({"train": {}}, TRAIN, {"pre_transforms": []},
                                       VALIDATION, 1) == []
    # RepeatChannel x3 of a grey image in the training chain only: 1 channel, not 3.
    train = {"train": {"pre_transforms": [{"name": "RepeatChannel",
                                           "args": {"fields": "image", "repeat_times": 3}}]}}
    [problem] = validation_channel_problems(train, TRAIN, {"pre_transforms": []}, VALIDATION, 3)
    assert problem.message.startswith("the images get 1 channel(s) but the network takes 3")
