"""Resampling: ScaleByResolution, ScaleByFactor, ScaleToShape, RestoreOriginalShape."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.resample import (RestoreOriginalShape, ScaleByFactor,
                                                 ScaleByResolution, ScaleToShape,
                                                 rescaled_affine)

RNG = np.random.default_rng(0)


def volume_sample(shape=(10, 8, 6), pixdim=(0.5, 1.0, 2.0), channels_first=True):
    affine = np.diag(list(pixdim) + [1.0])
    affine[:3, 3] = [10.0, -5.0, 3.0]
    image = np.random.default_rng(1).random(shape).astype(np.float32)
    label = np.zeros(shape, np.float32)
    label[2:6, 2:5, 1:4] = 1
    label[6:8, 5:7, 3:5] = 2
    meta = {}
    for field in ("image", "label"):
        meta[field] = {"affine": affine.copy(), "original_affine": affine.copy(),
                       "pixdim": list(pixdim), "original_pixdim": list(pixdim),
                       "original_shape": shape, "filename": "/data/case_7.nii.gz",
                       "channel_axis": 0 if channels_first else None}
    if channels_first:
        image, label = image[None], label[None]
    return {"image": image, "label": label, "meta": meta}


def world(affine, index):
    return (np.asarray(affine) @ np.append(np.asarray(index, float), 1))[:3]


def test_scale_by_resolution_shape_spacing_and_affine():
    sample = volume_sample()
    ScaleByResolution("image", target_resolution=[1.0, 1.0, 1.0])(sample, RNG)
    assert sample["image"].shape == (1, 5, 8, 12)
    meta = sample["meta"]["image"]
    np.testing.assert_allclose(meta["pixdim"], [1.0, 1.0, 1.0])
    # The field of view is unchanged: the outer voxel corners stay where they were.
    old_affine = np.diag([0.5, 1.0, 2.0, 1.0])
    old_affine[:3, 3] = [10.0, -5.0, 3.0]
    np.testing.assert_allclose(world(meta["affine"], [-0.5] * 3), world(old_affine, [-0.5] * 3))
    np.testing.assert_allclose(world(meta["affine"], [4.5, 7.5, 11.5]), world(old_affine, [9.5, 7.5, 5.5]))


def test_scale_by_resolution_label_uses_nearest_neighbour():
    sample = volume_sample()
    ScaleByResolution(["label"], target_resolution=[0.25, 0.5, 1.0], is_label=True)(sample, RNG)
    assert sample["label"].shape == (1, 20, 16, 12)
    assert set(np.unique(sample["label"])) == {0.0, 1.0, 2.0}
    assert sample["meta"]["label"]["is_label"] is True
    # Exact 2x up-sampling with nearest neighbour repeats every voxel.
    original = volume_sample()["label"][0]
    np.testing.assert_array_equal(sample["label"][0, ::2, ::2, ::2], original)


def test_scale_by_resolution_image_is_linear():
    sample = volume_sample((4, 1, 1), (1.0, 1.0, 1.0), channels_first=False)
    sample["image"] = np.array([0, 1, 2, 3], np.float32).reshape(4, 1, 1)
    ScaleByResolution("image", target_resolution=[2.0, 1.0, 1.0])(sample, RNG)
    np.testing.assert_allclose(sample["image"].reshape(-1), [0.5, 2.5], atol=1e-5)


def test_scale_by_resolution_wrong_rank_is_a_data_error():
    with pytest.raises(DataError, match="target_resolution has 2 values but field 'image' has 3"):
        ScaleByResolution("image", target_resolution=[1, 1])(volume_sample(), RNG)


def test_scale_by_resolution_without_pixdim_asks_for_a_loader():
    sample = {"image": np.zeros((1, 4, 4, 4), np.float32), "meta": {}}
    with pytest.raises(DataError, match="no voxel size") as info:
        ScaleByResolution("image", target_resolution=[1, 1, 1])(sample, RNG)
    assert "LoadNifti" in info.value.hint


@pytest.mark.parametrize("args, message", [
    ({"target_resolution": [1, 0, 1]}, "Received: target_resolution=\\[1, 0, 1\\]"),
    ({"target_resolution": "1mm"}, "Received: target_resolution='1mm'"),
    ({"target_resolution": [1, 1, 1], "is_label": 1}, "Received: is_label=1"),
])
def test_scale_by_resolution_rejects_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        ScaleByResolution("image", **args)


@pytest.mark.parametrize("factor, expected", [(2, (1, 20, 16, 12)), (0.5, (1, 5, 4, 3)),
                                              ([1, 0.5, 2], (1, 10, 4, 12))])
def test_scale_by_factor_table(factor, expected):
    sample = ScaleByFactor(["image", "label"], factor=factor)(volume_sample(), RNG)
    assert sample["image"].shape == expected and sample["label"].shape == expected
    assert set(np.unique(sample["label"])) <= {0.0, 1.0, 2.0}  # label: nearest neighbour


def test_scale_by_factor_rejects_bad_factor():
    with pytest.raises(ConfigError, match="Received: factor=\\[-1\\]"):
        ScaleByFactor("image", factor=-1)


def test_scale_to_shape_2d_png_layout():
    sample = {"image": np.random.default_rng(0).random((30, 40)).astype(np.float32),
              "meta": {"image": {"channel_axis": None, "pixdim": [1.0, 1.0], "affine": np.eye(4)}}}
    ScaleToShape(["image"], target_shape=[16, 16])(sample, RNG)
    assert sample["image"].shape == (16, 16)
    np.testing.assert_allclose(sample["meta"]["image"]["pixdim"], [30 / 16, 40 / 16])


def test_scale_to_shape_rank_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="target_shape has 2 values"):
        ScaleToShape("image", target_shape=[4, 4])(volume_sample(), RNG)


def test_restore_original_shape_inverts_resampling_and_takes_source_geometry():
    sample = volume_sample()
    original_label = sample["label"].copy()
    ScaleByResolution("image", target_resolution=[1, 1, 1])(sample, RNG)
    ScaleByResolution("label", target_resolution=[1, 1, 1], is_label=True)(sample, RNG)
    sample["model"] = sample["label"].copy()
    RestoreOriginalShape(field="model", src_field="image", is_label=True)(sample, RNG)
    assert sample["model"].shape == original_label.shape
    np.testing.assert_allclose(sample["meta"]["model"]["affine"], sample["meta"]["image"]["original_affine"])
    agreement = (sample["model"] == original_label).mean()
    assert agreement > 0.9


def test_restore_original_shape_removes_recorded_padding():
    sample = volume_sample()
    sample["meta"]["image"]["padding"] = [[1, 1], [0, 2], [0, 0]]
    sample["model"] = np.pad(sample["label"], [(0, 0), (1, 1), (0, 2), (0, 0)])
    RestoreOriginalShape("model", "image", is_label=True)(sample, RNG)
    np.testing.assert_array_equal(sample["model"], volume_sample()["label"])


def test_restore_original_shape_needs_a_loaded_source():
    sample = {"image": np.zeros((4, 4)), "model": np.zeros((1, 4, 4)), "meta": {"image": {}}}
    with pytest.raises(DataError, match="no original_shape"):
        RestoreOriginalShape("model", "image")(sample, RNG)


def test_restore_original_shape_missing_field():
    with pytest.raises(DataError, match="RestoreOriginalShape: field 'model' is missing"):
        RestoreOriginalShape("model", "image")(volume_sample(), RNG)


def test_rescaled_affine_identity_when_shape_unchanged():
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    np.testing.assert_allclose(rescaled_affine(affine, (4, 5, 6), (4, 5, 6)), affine)


@pytest.mark.parametrize("cls, args", [
    (ScaleByResolution, {"fields": ["image"], "target_resolution": [1, 1, 1], "is_label": False}),
    (ScaleByFactor, {"fields": "image", "factor": [1, 2, 3]}),
    (ScaleToShape, {"fields": "image", "target_shape": [8, 8]}),
    (RestoreOriginalShape, {"field": "model", "src_field": "image", "is_label": True}),
])
def test_get_config_round_trip(cls, args):
    t = cls(**args)
    assert t.get_config() == args
    assert cls(**t.get_config()).get_config() == args


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("new_shape", [(14, 10, 6), (3, 2, 1), (5, 9, 4), (7, 5, 3)])
def test_resize_equals_scipy_zoom_in_grid_mode(order, new_shape):
    from scipy import ndimage

    from mmarctl.runtime.transforms.resample import resize

    volume = np.random.default_rng(3).random((7, 5, 3)).astype(np.float32)
    factors = [n / o for n, o in zip(new_shape, volume.shape)]
    expected = ndimage.zoom(volume, factors, order=order, mode="nearest", grid_mode=True)
    out = resize(volume[None], 0, new_shape, order)
    assert out.shape == (1,) + new_shape
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
