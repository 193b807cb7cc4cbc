"""A transform's spatial arguments (target_resolution, target_shape) held to the network's
input and to the number of spatial axes the images' headers give (a 2-D file in a 3-D
list): check and the verbs' pre-flight refuse at the argument's JSON path instead of train
or validate failing at the first case."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from tests.check.broken_mmars import (NO_TENSORFLOW, datalist_file, edit_json, problem_lines,
                                      run_verb, runner, without_tensorflow)
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.cli import app

TRAIN = "config/config_train.json"


def _lines(root: Path) -> list[str]:
    return problem_lines(runner.invoke(app, ["check", str(root)]).output)


def _flatten(path: Path) -> None:
    """The file saved as 2-D (its first slice)."""
    image = nib.load(str(path))
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:, :, 0], image.affine), str(path))


def test_a_resolution_with_too_few_values(mmar):
    edit_json(mmar / "config" / "config_train.json", lambda c: c["train"]["pre_transforms"][2][
        "args"].update(target_resolution=[2.5, 2.5]))
    lines = _lines(mmar)
    assert (f"{TRAIN}: train.pre_transforms[2].args.target_resolution: ScaleByResolution: "
            "target_resolution has 2 values, so it leaves field 'image' 2-D, but the network "
            "takes 3-D images (train.image_pipeline's output_crop_size / output_data_dims)"
            ) in lines, lines


def test_a_2d_file_in_a_3d_list(mmar, tmp_path):
    path = datalist_file(mmar, "training", 0)
    _flatten(path)
    name = path.relative_to(mmar / "data").as_posix()
    line = (f"{TRAIN}: train.pre_transforms[2].args.target_resolution: ScaleByResolution: "
            f"target_resolution has 3 values but 1 of 3 'image' files of 'training' has 2 "
            f"spatial axes: {name}")
    assert _lines(mmar) == [line]
    done = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and line in done.stderr and NO_TENSORFLOW not in done.stderr


def test_a_2d_validation_file(mmar, tmp_path):
    _flatten(datalist_file(mmar, "validation", 0))
    lines = _lines(mmar)
    assert any(x.startswith("config/config_validation.json: pre_transforms[2].args."
                            "target_resolution: ScaleByResolution: target_resolution has 3 "
                            "values but 1 of 1 'image' files") for x in lines), lines
    done = run_verb("validate", mmar, env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and "has 2 spatial axes" in done.stderr, done.stderr
    assert NO_TENSORFLOW not in done.stderr


def test_a_crop_size_with_too_few_values(mmar, tmp_path):
    edit_json(mmar / "config" / "config_train.json", lambda c: c["train"]["pre_transforms"][5][
        "args"].update(size=[48, 48]))
    line = (f"{TRAIN}: train.pre_transforms[5].args.size: FastCropByPosNegRatio: size has 2 "
            "values, so it crops 2-D fields, but the network takes 3-D images "
            "(train.image_pipeline's output_crop_size / output_data_dims)")
    assert _lines(mmar) == [line]
    done = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and line in done.stderr and NO_TENSORFLOW not in done.stderr


def test_a_2d_only_transform_for_a_3d_network(mmar):
    edit_json(mmar / "config" / "config_train.json", lambda c: c["train"]["pre_transforms"].insert(
        6, {"name": "RandomRotate2D", "args": {"fields": ["image", "label"], "angle": 30}}))
    assert _lines(mmar) == [
        f"{TRAIN}: train.pre_transforms[6].name: RandomRotate2D takes 2-D fields, but the "
        "network takes 3-D images (train.image_pipeline's output_crop_size / output_data_dims)"]


def test_3d_sizes_on_a_png_list_are_refused_from_the_png_headers(mmar):
    """A 2-D PNG data set under the spleen config with only the loader swapped: every PNG
    is 2-D (its IHDR says rows x cols), so the 3-value resolution is refused before compute
    (train stopped at its first case naming neither the config nor the file)."""
    import json

    from mmarctl.synth_files import png_bytes

    listed = mmar / "data" / "dataset_0.json"
    lists = json.loads(listed.read_text())
    for key, items in lists.items():
        for index, item in enumerate(items if isinstance(items, list) else []):
            for field in ("image", "label"):
                name = f"png/{key}_{index}_{field}.png"
                (mmar / "data" / "png").mkdir(exist_ok=True)
                (mmar / "data" / name).write_bytes(png_bytes(np.zeros((32, 24), np.uint8)))
                item[field] = name
    listed.write_text(json.dumps(lists))
    for config in ("config_train.json", "config_validation.json"):
        path = mmar / "config" / config
        path.write_text(path.read_text().replace('"LoadNifti"', '"LoadPng"'))
    lines = _lines(mmar)
    assert (f"{TRAIN}: train.pre_transforms[2].args.target_resolution: ScaleByResolution: "
            "target_resolution has 3 values but 3 of 3 'image' files of 'training' have 2 "
            "spatial axes: png/training_0_image.png, png/training_1_image.png, "
            "png/training_2_image.png") in lines, lines
