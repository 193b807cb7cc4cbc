"""``output_crop_size`` against the training chain's crop: train only warns at its first
batch and export builds the model's input for ``output_crop_size``, so ``check`` notes a
disagreement before compute, naming both sizes."""

from __future__ import annotations

from tests.check.broken_mmars import edit_json, mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check.crop_size import crop_size_notes

TRAIN = "config/config_train.json"


def _config(*steps: dict) -> dict:
    return {"train": {"pre_transforms": [{"name": "LoadNifti", "args": {"fields": "image"}},
                                         *steps]}}


CROP = {"name": "FastCropByPosNegRatio", "args": {"size": [64, 64, 64]}}


def test_a_crop_of_another_size_is_a_note_naming_both():
    notes = crop_size_notes(_config(CROP, {"name": "RandomSpatialFlip"}), (48, 48, 48), TRAIN)
    assert [str(n) for n in notes] == [
        f"{TRAIN}: train.image_pipeline.args.output_crop_size: note: is [48, 48, 48] but "
        "train.pre_transforms[1] (FastCropByPosNegRatio) crops patches of [64, 64, 64]: the "
        "network's input, and the model export writes, are built for output_crop_size; make "
        "it [64, 64, 64]"]


def test_agreeing_any_size_and_resized_patches_say_nothing():
    assert crop_size_notes(_config(CROP), (64, 64, 64), TRAIN) == []
    assert crop_size_notes(_config(CROP), (None, 64, 64), TRAIN) == []  # -1: any size
    assert crop_size_notes(_config(CROP), None, TRAIN) == []
    # A resize after the crop decides the patch's size; an unknown step may too.
    resized = {"name": "ScaleToShape", "args": {"target_shape": [48, 48, 48]}}
    assert crop_size_notes(_config(CROP, resized), (48, 48, 48), TRAIN) == []
    # A crop of the image's own extent on one axis (-1) is not a fixed size.
    open_axis = {"name": "CropFixedSizeRandomCenter", "args": {"size": [64, 64, -1]}}
    assert crop_size_notes(_config(open_axis), (64, 64, 48), TRAIN) == []


def test_check_notes_it_and_still_passes(mmar):  # noqa: F811
    from mmarctl.check.mmar import check_mmar
    from mmarctl.workspace import Workspace

    edit_json(mmar / "config" / "config_train.json", lambda c: c["train"]["image_pipeline"][
        "args"].update(output_crop_size=[32, 32, 32]))
    report = check_mmar(Workspace(mmar))
    assert not report.problems, report.problems
    assert any(n.json_path == "train.image_pipeline.args.output_crop_size"
               and "crops patches of [48, 48, 48]" in n.message for n in report.notes)
