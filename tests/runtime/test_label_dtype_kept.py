"""Warping augmentations keep the label's dtype; RandomRotate2D's dtype rounds, never truncates."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.runtime.transforms.augment_spatial import RandomRotate2D, RandomZoom
from mmarctl.runtime.transforms.base import cast_as
from mmarctl.runtime.transforms.posneg import FastPosNegRatioCropROI


def _case(spatial=(12, 12, 8), dtype=np.uint8) -> dict:
    image = np.random.default_rng(0).random((1,) + spatial).astype(np.float32)
    label = np.zeros((1,) + spatial, dtype)
    label[(0,) + tuple(slice(3, 8) for _ in spatial)] = 1
    return {"image": image, "label": label,
            "meta": {"image": {"channel_axis": 0}, "label": {"channel_axis": 0}}}


@pytest.mark.parametrize("transform, spatial", [
    (lambda: FastPosNegRatioCropROI([6, 6, 4], rotation=True, scale=True, deform=True),
     (12, 12, 8)),
    (lambda: RandomZoom(lower_limits=[0.8, 0.8, 0.8], upper_limits=[1.2, 1.2, 1.2]),
     (12, 12, 8)),
    (lambda: RandomRotate2D(["image", "label"], angle=30), (12, 12)),
])
def test_warped_label_keeps_its_dtype(transform, spatial):
    out = transform()(_case(spatial), np.random.default_rng(2))
    out = out[0] if isinstance(out, list) else out
    assert out["label"].dtype == np.uint8
    assert set(np.unique(out["label"]).tolist()) <= {0, 1}
    assert out["image"].dtype == np.float32


def test_rotate2d_dtype_rounds_interpolated_values():
    image = np.zeros((1, 9, 9), np.float32)
    image[0, 2:7, 2:7] = 1
    sample = {"image": image, "meta": {"image": {"channel_axis": 0}}}
    out = RandomRotate2D("image", angle=45, is_random=False, dtype="uint8")(
        sample, np.random.default_rng(0))["image"]
    linear = RandomRotate2D("image", angle=45, is_random=False)(
        {"image": image.copy(), "meta": {"image": {"channel_axis": 0}}},
        np.random.default_rng(0))["image"]
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rint(linear).astype(np.uint8))
    assert (linear[(linear > 0.5) & (linear < 1)]).size  # there was something to round up


def test_cast_as_rounds_and_clips_integers():
    values = np.array([-3.0, 0.4, 0.99, 1.5, 300.0], np.float32)
    np.testing.assert_array_equal(cast_as(values, "uint8"), [0, 0, 1, 2, 255])
    assert cast_as(values, "float32") is values
