"""LoadNifti and ScaleByResolution against headers that used to mislead them: a case's
modalities on different grids were stacked voxel by voxel (mirrored channels), spacing came
from pixdim while the affine is the sform's, a file in metres was shrunk to a few voxels
and its mask came back empty, and an RGB file was called corrupt."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mmarctl.errors import DataError
from mmarctl.runtime.transforms.loaders import LoadNifti, load_nifti
from mmarctl.runtime.transforms.resample import ScaleByResolution

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
SHAPE = (20, 18, 16)


def _save(path: Path, affine: np.ndarray = AFFINE, data: np.ndarray | None = None,
          units: str | None = None) -> str:
    image = nib.Nifti1Image(np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
                            if data is None else data, affine)
    if units:
        image.header.set_xyzt_units(units, "sec")
    nib.save(image, str(path))
    return str(path)


def _flipped(path: str) -> None:
    """The same scan stored with its first axis reversed and a right header."""
    image = nib.load(path)
    nib.save(image.as_reoriented(np.array([[0, -1], [1, 1], [2, 1]])), path)


def test_modalities_in_another_orientation_are_refused_naming_the_odd_file(tmp_path):
    paths = [_save(tmp_path / f"m{i}.nii.gz") for i in range(3)]
    _flipped(paths[2])
    with pytest.raises(DataError) as caught:
        LoadNifti("image")({"image": paths}, np.random.default_rng(0))
    text = str(caught.value)
    assert paths[2] in text and "differ in orientation" in text and "as_closest_canonical" in text
    # Reoriented one by one, they are one grid again, and the channels agree.
    sample = LoadNifti("image", as_closest_canonical=True)({"image": paths},
                                                           np.random.default_rng(0))
    assert np.array_equal(sample["image"][..., 0], sample["image"][..., 2])


def test_modalities_of_another_shape_name_the_odd_file(tmp_path):
    paths = [_save(tmp_path / f"m{i}.nii.gz") for i in range(2)]
    _save(tmp_path / "m1.nii.gz", data=np.zeros((19, 18, 16), np.float32))
    with pytest.raises(DataError) as caught:
        LoadNifti("image")({"image": paths}, np.random.default_rng(0))
    assert str(caught.value).startswith(paths[1]) and "19x18x16 against 20x18x16" in str(caught.value)


def test_spacing_comes_from_the_affine_in_mm(tmp_path):
    image = nib.Nifti1Image(np.zeros(SHAPE, np.float32), AFFINE)
    image.header.set_sform(AFFINE, 1)
    image.header.set_qform(np.eye(4), 1)  # pixdim 1 mm beside an sform of 0.8 mm
    nib.save(image, str(tmp_path / "sform.nii.gz"))
    assert np.allclose(load_nifti(str(tmp_path / "sform.nii.gz"))[2], [0.8, 0.8, 2.5])
    metres = AFFINE.copy()
    metres[:3, :] /= 1000
    path = _save(tmp_path / "metres.nii.gz", metres, units="meter")
    assert np.allclose(load_nifti(path)[2], [0.8, 0.8, 2.5], rtol=1e-5)


def test_resampling_to_a_few_voxels_is_refused(tmp_path):
    sample = {"image": np.zeros(SHAPE, np.float32),
              "meta": {"image": {"pixdim": [0.0008, 0.0008, 0.0025], "filename": "x.nii.gz",
                                 "affine": np.eye(4), "channel_axis": None}}}
    with pytest.raises(DataError) as caught:
        ScaleByResolution("image", [1.0, 1.0, 1.0])(sample, np.random.default_rng(0))
    assert "x.nii.gz" in str(caught.value) and "20x18x16 to 1x1x1 voxels" in str(caught.value)


def test_an_rgb_nifti_is_not_called_corrupt(tmp_path):
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, AFFINE), str(tmp_path / "rgb.nii.gz"))
    with pytest.raises(DataError) as caught:
        load_nifti(str(tmp_path / "rgb.nii.gz"))
    assert "RGB NIfTI (datatype RGB24" in str(caught.value)
    assert "corrupt" not in str(caught.value)
