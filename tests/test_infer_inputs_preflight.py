"""infer with several --input files, one of which cannot go through the network (a 2-D image
for a 3-D network, another channel count, a text file): refused from the headers before any
compute, naming the file, with nothing written. It used to stop after writing the cases
before it."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402

runner = CliRunner()


def _nifti(path: Path, shape) -> str:
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), np.eye(4)), path)
    return str(path)


def _infer(root: Path, out: Path, *inputs: str):
    args = ["infer", str(root), "-o", str(out)]
    for given in inputs:
        args += ["-i", given]
    return runner.invoke(app, args)


def test_a_2d_image_among_3d_ones_is_refused_before_compute(tmp_path):
    root = make_mmar(tmp_path / "m")
    good = _nifti(tmp_path / "good.nii.gz", (8, 8, 8))
    flat = _nifti(tmp_path / "flat.nii.gz", (8, 8))
    result = _infer(root, tmp_path / "out", good, flat)
    assert result.exit_code == 1
    assert "flat.nii.gz: a 2-D image (shape (8, 8)), but the network takes 3-D input " \
           "(config/config_train.json)" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_another_channel_count_is_refused_before_compute(tmp_path):
    root = make_mmar(tmp_path / "m")
    good = _nifti(tmp_path / "good.nii.gz", (8, 8, 8))
    two = _nifti(tmp_path / "two.nii.gz", (8, 8, 8, 2))
    result = _infer(root, tmp_path / "out", good, two)
    assert result.exit_code == 1
    assert "two.nii.gz: an image with 2 channel(s) but the network takes 1 (output_image_channels in " \
           "config/config_train.json)" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_a_text_file_is_refused_before_compute(tmp_path):
    root = make_mmar(tmp_path / "m")
    listing = tmp_path / "list.txt"
    listing.write_text("good.nii.gz\n")
    result = _infer(root, tmp_path / "out", str(listing))
    assert result.exit_code == 1
    assert "list.txt: not a NIfTI image: its name ends in .txt and it looks like text" \
        in result.output, result.output


def test_a_case_whose_files_are_on_other_grids_is_refused_before_compute(tmp_path):
    # -i A,B stacks the files voxel by voxel: B stored LPS against A's RAS would be mirrored.
    root = make_mmar(tmp_path / "m")
    first = _nifti(tmp_path / "t1.nii.gz", (8, 8, 8))
    flipped = np.diag([-1.0, -1.0, 1.0, 1.0])
    flipped[:2, 3] = 7
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), flipped), tmp_path / "t2.nii.gz")
    result = _infer(root, tmp_path / "out", f"{first},{tmp_path / 't2.nii.gz'}")
    assert result.exit_code == 1
    assert "t2.nii.gz: differs in orientation from the case's first file" in result.output, \
        result.output
    assert not (tmp_path / "out").exists()


def test_an_rgb_nifti_is_refused_before_compute(tmp_path):
    root = make_mmar(tmp_path / "m")
    rgb = np.zeros((8, 8, 8), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), tmp_path / "rgb.nii.gz")
    result = _infer(root, tmp_path / "out", str(tmp_path / "rgb.nii.gz"))
    assert result.exit_code == 1
    assert "rgb.nii.gz: RGB NIfTI (datatype RGB24" in result.output, result.output
    assert "corrupt" not in result.output


def test_a_png_of_another_bit_depth_than_training_gets_a_warning(tmp_path):
    import json

    from mmarctl.check.infer_inputs import png_depth_warnings
    from mmarctl.synth_files import png_bytes
    from mmarctl.workspace import Workspace

    root = make_mmar(tmp_path / "m")
    (root / "data" / "train_0.png").write_bytes(png_bytes(np.zeros((8, 8), np.uint8)))
    listed = root / "data" / "dataset.json"
    lists = json.loads(listed.read_text())
    lists["training"][0]["image"] = "train_0.png"
    listed.write_text(json.dumps(lists))
    deep = tmp_path / "deep.png"
    deep.write_bytes(png_bytes(np.full((8, 8), 4000, np.uint16)))
    same = tmp_path / "same.png"
    same.write_bytes(png_bytes(np.zeros((8, 8), np.uint8)))
    workspace = Workspace(root)
    warnings = png_depth_warnings(workspace, [str(deep), str(same)], {},
                                  config_train="config_train.json")
    assert warnings == [
        f"{deep} is a 16-bit PNG, but the model was trained on 8-bit PNGs (e.g. "
        "data/train_0.png); LoadPng keeps the stored values, so the network sees another "
        "intensity range: save it at 8 bits"]
    # NIfTI training data, or no PNG given: nothing to compare.
    lists["training"][0]["image"] = "training_0_img.npy"
    listed.write_text(json.dumps(lists))
    assert png_depth_warnings(workspace, [str(deep)], {},
                              config_train="config_train.json") == []
