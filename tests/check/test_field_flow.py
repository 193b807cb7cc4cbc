"""check follows the fields each step reads through pre_transforms -> network ->
post_transforms -> writers (and a training config's validate section), so a field no step
before it made is reported at its JSON path, before any verb starts TensorFlow."""

from __future__ import annotations

import inspect
from pathlib import Path

from tests.check.broken_mmars import (NO_TENSORFLOW, edit_json, problem_lines, run_verb,
                                      runner, without_tensorflow)
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check.case_fields import FIELD_MAKING_ARGS
from mmarctl.check.field_flow import READ_ATTRS
from mmarctl.cli import app

TRAIN = "config/config_train.json"
VALIDATION = "config/config_validation.json"
NO_IMAGE = ("no transform loads 'image' ({why}); add a loader first, e.g. "
            '{{"name": "LoadNifti", "args": {{"fields": "image"}}}}')


def _lines(root: Path) -> list[str]:
    return problem_lines(runner.invoke(app, ["check", str(root)]).output)


def _train(root: Path, change) -> None:
    edit_json(root / "config" / "config_train.json", change)


def _validation(root: Path, change) -> None:
    edit_json(root / "config" / "config_validation.json", change)


def test_a_typo_in_a_transform_field(mmar, tmp_path):
    _train(mmar, lambda c: c["train"]["pre_transforms"][4]["args"].update(fields="img"))
    line = (f"{TRAIN}: train.pre_transforms[4].args.fields: ScaleIntensityRange reads 'img', "
            "which no transform makes and no 'training' item has (a case holds image, "
            "label); did you mean 'image'?")
    lines = _lines(mmar)
    assert line in lines, lines
    # The validate section shares the entry ({"ref": "ScaleIntensityRange"}).
    assert any(x.startswith(f"{TRAIN}: validate.pre_transforms[4].args.fields") for x in lines)
    done = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and line.split(": ", 1)[1].split(";")[0] in done.stderr, \
        done.stderr


def test_a_label_field_and_an_extra_field(mmar):
    def change(config: dict) -> None:
        config["train"]["pre_transforms"][5]["args"].update(label_field="lbl")
        config["train"]["pre_transforms"][6]["args"].update(fields=["image", "mask"])
    _train(mmar, change)
    lines = _lines(mmar)
    assert any("train.pre_transforms[5].args.label_field: FastCropByPosNegRatio reads 'lbl'"
               in x and x.endswith("did you mean 'label'?") for x in lines), lines
    assert any("train.pre_transforms[6].args.fields: RandomSpatialFlip reads 'mask'" in x
               for x in lines), lines


def test_a_crop_before_the_loader(mmar):
    def change(config: dict) -> None:
        steps = config["train"]["pre_transforms"]
        steps.insert(0, steps.pop(5))
    _train(mmar, change)
    assert _lines(mmar)[0] == (
        f"{TRAIN}: train.pre_transforms[0].args.fields: FastCropByPosNegRatio reads 'image' "
        "before any transform loads it (it is a file name until train.pre_transforms[1] "
        "loads it); move FastCropByPosNegRatio after the loader")


def test_no_loader_in_a_validation_config(mmar, tmp_path):
    _validation(mmar, lambda c: c.update(pre_transforms=[]))
    line = f"{VALIDATION}: pre_transforms: " + NO_IMAGE.format(why="the network reads it")
    assert _lines(mmar) == [line]
    for verb in ("validate", "infer"):
        done = run_verb(verb, mmar, env=without_tensorflow(tmp_path / "no-tf"))
        assert done.returncode == 1 and line in done.stderr, done.stderr
        assert NO_TENSORFLOW not in done.stderr


def test_no_loader_in_a_training_config(mmar):
    def change(config: dict) -> None:
        config["train"]["pre_transforms"].pop(0)
        config["validate"]["pre_transforms"].pop(0)
    _train(mmar, change)
    lines = _lines(mmar)
    for section in ("train", "validate"):
        assert (f"{TRAIN}: {section}.pre_transforms: " + NO_IMAGE.format(
            why="ConvertToChannelsFirst reads it")) in lines, lines


def test_post_transforms_and_writers(mmar):
    _validation(mmar, lambda c: c["post_transforms"][1]["args"].update(src_field="img"))
    line, = _lines(mmar)
    assert line.startswith(f"{VALIDATION}: post_transforms[1].args.src_field: "
                           "RestoreOriginalShape reads 'img'"), line
    _validation(mmar, lambda c: (c["post_transforms"][1]["args"].update(src_field="image"),
                                 c["writers"][0]["args"].update(field="pred")))
    line, = _lines(mmar)
    assert line.startswith(f"{VALIDATION}: writers[0].args.field: WriteNifti reads 'pred'"), line


def test_a_byoc_transform_may_make_any_field(mmar):
    (mmar / "custom").mkdir()
    (mmar / "custom" / "maker.py").write_text(
        "class Maker:\n    def __init__(self, field):\n        self.field = field\n")
    def change(config: dict) -> None:
        config["post_transforms"].insert(0, {"path": "maker.Maker", "args": {"field": "model"}})
        config["writers"][0]["args"].update(field="made_by_user_code")
    _validation(mmar, change)
    assert not [x for x in _lines(mmar) if "made_by_user_code" in x]


def test_the_validate_section_of_a_training_config(mmar):
    """Its metrics' fields and its sliding window, as config_validation.json's."""
    _train(mmar, lambda c: c["validate"]["metrics"][0]["args"].update(label_field="lbl"))
    line, = _lines(mmar)
    assert line.startswith(f"{TRAIN}: validate.metrics[0].args.label_field: "
                           "ComputeAverageDice 'mean_dice' reads 'lbl'"), line
    _train(mmar, lambda c: (c["validate"]["metrics"][0]["args"].update(label_field="label"),
                            c["validate"]["inferer"]["args"].update(roi_size=[48, 48])))
    assert _lines(mmar) == [
        f"{TRAIN}: validate.inferer.args.roi_size: TFScanWindowInferer: roi_size has 2 axes "
        f"but the network of {TRAIN} takes 3-D images; Received: roi_size=[48, 48]"]
    _train(mmar, lambda c: c["validate"]["inferer"]["args"].update(roi_size=[40, 40, 40]))
    line, = _lines(mmar)
    assert line.startswith(f"{TRAIN}: validate.inferer.args.roi_size: every size must be a "
                           "multiple of 16"), line


def test_train_aux_ops_may_make_the_fields_validate_metrics_read(mmar):
    """Clara's BraTS config: ComputeAverage reads 'dice', a tag of DiceMaskedOutput."""
    def change(config: dict) -> None:
        # The mean first, then one tag per channel of the 2-class network.
        config["train"]["aux_ops"] = [{"name": "DiceMaskedOutput",
                                       "args": {"tags": ["dice", "dice_bg", "dice_spleen"]}}]
        config["validate"]["metrics"].append(
            {"name": "ComputeAverage", "args": {"name": "mean_aux_dice", "field": "dice"}})
    _train(mmar, change)
    assert not [x for x in _lines(mmar) if "'dice'" in x]


def test_a_byoc_pipeline_may_load_the_images_itself(mmar):
    (mmar / "custom").mkdir()
    (mmar / "custom" / "pipe.py").write_text(
        "class Pipe:\n    def __init__(self, **kwargs):\n        self.kwargs = kwargs\n")
    def change(config: dict) -> None:
        config["train"]["pre_transforms"].pop(0)
        config["train"]["image_pipeline"] = {"path": "pipe.Pipe",
                                             "args": config["train"]["image_pipeline"]["args"]}
    _train(mmar, change)
    assert not [x for x in _lines(mmar) if "train.pre_transforms" in x]


def test_every_field_argument_of_a_runtime_component_is_known():
    """READ_ATTRS (what a step reads) and FIELD_MAKING_ARGS (what it makes) must cover every
    argument naming a field of every transform and writer mmarctl implements."""
    from mmarctl.runtime import registry

    unknown = []
    for family in ("transforms", "writers"):
        for name in registry.names(family):
            for arg in inspect.signature(registry.lookup(family, name).__init__).parameters:
                if ("field" in arg or arg.endswith("_names")) and arg not in (
                        *READ_ATTRS, *FIELD_MAKING_ARGS, "class_names"):
                    unknown.append(f"{name}.{arg}")
    assert not unknown


def test_the_loaded_image_is_checked_at_runtime_too():
    """evaluation's own guard, reached only when the pre-flight was bypassed: a one-line
    ConfigError naming the config, not NumPy's ValueError on a file name."""
    import pytest

    from mmarctl.errors import ConfigError
    from mmarctl.runtime.evaluation import _loaded_image

    with pytest.raises(ConfigError) as caught:
        _loaded_image({"image": "/data/a.nii.gz", "meta": {}}, "config/config_validation.json")
    assert "no transform loads 'image'" in str(caught.value)
    assert "config/config_validation.json" in str(caught.value)


def test_a_label_loaded_twice_in_a_validation_config(mmar):
    """'label' loaded in pre_transforms and again in label_transforms: validate stopped at
    every case (the second LoadNifti got an array); check names the second loader."""
    def both(c):
        for step in c["pre_transforms"][:2]:
            step["args"]["fields"] = ["image", "label"]
    _validation(mmar, both)
    assert (f"{VALIDATION}: label_transforms[0].args.fields: LoadNifti loads 'label', which "
            "pre_transforms[0] already loads; load each field once (drop 'label' from one "
            "loader's fields)") in _lines(mmar)
