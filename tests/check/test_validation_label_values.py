"""0/255 masks that config_train.json maps with ThresholdValues but config_validation.json's
label_transforms do not: validate refused every case after loading the model; its pre-flight
now says so at config_validation.json: label_transforms, naming the training config's
mapping step, before compute."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.check.broken_mmars import edit_json, mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check.label_values import validation_label_values
from mmarctl.check.preflight import evaluation_problems
from mmarctl.workspace import Workspace

THRESHOLD = {"name": "ThresholdValues", "args": {"fields": "label", "threshold": 127}}


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test remembers label ranges in a cache of its own."""
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path / "cache"))


def _masks_of_255(root: Path) -> None:
    data = json.loads((root / "data" / "dataset_0.json").read_text())
    for item in data["training"] + data["validation"]:
        path = root / "data" / item["label"]
        image = nib.load(str(path))
        nib.save(nib.Nifti1Image(np.asarray(image.dataobj).astype(np.int16) * 255,
                                 image.affine), str(path))


def _mapped_in_training(config: dict) -> None:
    for flow in ("train", "validate"):
        config[flow]["pre_transforms"].insert(2, dict(THRESHOLD))


def _problems(root: Path) -> list[str]:
    return [str(p) for p in evaluation_problems(
        Workspace(root), {}, config="config_validation.json", train_config="config_train.json")]


def test_labels_mapped_in_training_only_are_refused_at_label_transforms(mmar):  # noqa: F811
    _masks_of_255(mmar)
    edit_json(mmar / "config" / "config_train.json", _mapped_in_training)
    lines = [line for line in _problems(mmar) if "label files hold values" in line]
    assert lines == [
        "config/config_validation.json: label_transforms: data/dataset_0.json 'validation': "
        "1 of 1 label files hold values 0..255, outside 0..1 (num_classes=2): "
        "labelsTr/spleen_4.nii.gz (0..255) (validate refuses them; config/config_train.json "
        "maps the labels (train.pre_transforms[2] ThresholdValues, validate.pre_transforms[2] "
        "ThresholdValues) and this config's label_transforms do not; add the same mapping "
        "there)"], lines
    # The same mapping in label_transforms: validate maps them as training does.
    edit_json(mmar / "config" / "config_validation.json",
              lambda c: c["label_transforms"].insert(1, dict(THRESHOLD)))
    assert not any("label files hold values" in line for line in _problems(mmar))


def test_labels_are_not_held_for_a_classification_network_or_a_mapping_chain():
    validation = {"label_transforms": [{"name": "LoadNifti", "args": {"fields": "label"}}]}
    assert validation_label_values(validation, "v", {}, "t", 2, "classification") is None
    assert validation_label_values(validation, "v", {}, "t", None, "segmentation") is None
    mapped = {"label_transforms": [*validation["label_transforms"], THRESHOLD]}
    assert validation_label_values(mapped, "v", {}, "t", 2, "segmentation") is None
    assert validation_label_values(validation, "v", {}, "t", 2, "segmentation") == {
        "label_value_classes": 2, "label_value_origin": ("v", "label_transforms"),
        "label_value_fix": ""}
