"""A 2-D image saved as an (H, W, 1) NIfTI (dcm2niix, ITK, SimpleITK write X-rays so) fed to
a 2-D pipeline: the singleton third axis is dropped instead of refusing the case, and what
is written back onto the input's grid gets the input's (H, W, 1) shape again."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mmarctl.errors import DataError
from mmarctl.runtime.transforms.loaders import LoadNifti
from mmarctl.runtime.transforms.resample import ScaleToShape
from mmarctl.runtime.writers.nifti import save_nifti


def _image(tmp_path, shape):
    path = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random(shape, dtype=np.float32),
                             np.diag([0.5, 0.5, 2.0, 1.0])), path)
    return path


def test_a_2d_image_with_a_singleton_third_axis_scales_to_a_2d_shape(tmp_path):
    sample = LoadNifti("image")({"image": str(_image(tmp_path, (12, 10, 1)))}, None)
    out = ScaleToShape("image", [8, 8])(sample, None)
    assert out["image"].shape == (8, 8)
    assert out["meta"]["image"]["original_shape"] == (12, 10)
    assert len(out["meta"]["image"]["pixdim"]) == 2


def test_a_real_third_axis_is_still_refused(tmp_path):
    sample = LoadNifti("image")({"image": str(_image(tmp_path, (12, 10, 2)))}, None)
    with pytest.raises(DataError, match="target_shape has 2 values but field 'image' has 3"):
        ScaleToShape("image", [8, 8])(sample, None)


def test_the_written_mask_has_the_input_s_singleton_axis(tmp_path):
    header = nib.load(_image(tmp_path, (12, 10, 1))).header
    path = save_nifti(np.ones((12, 10), np.uint8), None, np.eye(4), header,
                      tmp_path / "out.nii.gz", "uint8")
    assert nib.load(path).shape == (12, 10, 1)


def test_a_label_loaded_without_resampling_drops_its_singleton_axis(tmp_path):
    """validate's label_transforms (LoadNifti + ConvertToChannelsFirst) read a 2-D label
    saved as (H, W, 1): it is made 2-D for a 2-D network, as the resamplers make the image,
    so the metric compares it with a (1, H, W) prediction."""
    from mmarctl.runtime.transforms.channels import ConvertToChannelsFirst
    from mmarctl.runtime.transforms.resample import drop_singleton_axis

    sample = LoadNifti("label")({"label": str(_image(tmp_path, (12, 10, 1)))}, None)
    sample = ConvertToChannelsFirst("label")(sample, None)
    assert sample["label"].shape == (1, 12, 10, 1)
    drop_singleton_axis(sample, "label", 2)
    assert sample["label"].shape == (1, 12, 10)
    drop_singleton_axis(sample, "label", 3)  # a 3-D network: nothing to drop
    assert sample["label"].shape == (1, 12, 10)
