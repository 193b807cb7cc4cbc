"""Random spatial augmentation: flips, rotations, zoom (image and label stay aligned)."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.augment_spatial import (RandomAxisFlip, RandomRotate2D,
                                                        RandomRotate3D, RandomSpatialFlip,
                                                        RandomZoom)


def pair(shape=(1, 6, 6, 6), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random(shape).astype(np.float32)
    label = (image > 0.5).astype(np.float32)
    meta = {"image": {"channel_axis": 0}, "label": {"channel_axis": 0}}
    return {"image": image, "label": label, "meta": meta}


def aligned(sample):
    return np.array_equal(sample["label"], (sample["image"] > 0.5).astype(np.float32))


TRANSFORMS = [
    (RandomSpatialFlip, {"fields": ["image", "label"]}),
    (RandomAxisFlip, {"fields": ["image", "label"], "probability": 1.0}),
    (RandomRotate3D, {"fields": ["image", "label"], "probability": 1.0}),
]


@pytest.mark.parametrize("cls, args", TRANSFORMS)
def test_exact_spatial_augmentations_keep_image_and_label_aligned(cls, args):
    for seed in range(6):
        sample = cls(**args)(pair(), np.random.default_rng(seed))
        assert aligned(sample) and sample["image"].shape == (1, 6, 6, 6)


@pytest.mark.parametrize("cls, args", TRANSFORMS + [
    (RandomZoom, {"image_field": "image", "label_field": "label",
                  "lower_limits": [0.8] * 3, "upper_limits": [1.2] * 3}),
    (RandomRotate2D, {"fields": ["image"], "angle": 30}),
])
def test_seeded_generator_gives_the_same_result(cls, args):
    shape = (1, 8, 8) if cls is RandomRotate2D else (1, 6, 6, 6)
    first = cls(**args)(pair(shape), np.random.default_rng(11))
    again = cls(**args)(pair(shape), np.random.default_rng(11))
    np.testing.assert_array_equal(first["image"], again["image"])
    assert cls(**args).is_random


def test_spatial_flip_probability_one_flips_every_axis():
    sample = pair()
    original = sample["image"].copy()
    RandomSpatialFlip(["image", "label"], probability=1.0)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(sample["image"], original[:, ::-1, ::-1, ::-1])


def test_axis_flip_probability_zero_is_identity():
    sample = pair()
    original = sample["image"].copy()
    RandomAxisFlip(["image", "label"], probability=0.0)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(sample["image"], original)


def test_axis_flip_flips_exactly_one_axis():
    sample = pair()
    original = sample["image"].copy()
    RandomAxisFlip(["image", "label"], probability=1.0)(sample, np.random.default_rng(3))
    matches = [np.array_equal(sample["image"], np.flip(original, axis=a)) for a in (1, 2, 3)]
    assert sum(matches) == 1


def test_rotate3d_only_uses_planes_of_equal_size():
    sample = pair((1, 4, 6, 8))
    RandomRotate3D(["image", "label"], probability=1.0)(sample, np.random.default_rng(0))
    assert sample["image"].shape == (1, 4, 6, 8)  # no equal pair: untouched
    sample = pair((1, 4, 6, 6))
    original = sample["image"].copy()
    RandomRotate3D(["image", "label"], probability=1.0)(sample, np.random.default_rng(0))
    assert sample["image"].shape == (1, 4, 6, 6)
    assert any(np.array_equal(sample["image"], np.rot90(original, k, axes=(2, 3))) for k in (1, 2, 3))


def test_rotate2d_fixed_angle_is_deterministic_and_exact_for_90_degrees():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    t = RandomRotate2D("image", angle=90, is_random=False)
    assert t.is_random is False
    sample = {"image": image.copy(), "meta": {"image": {"channel_axis": 0}}}
    out = t(sample, np.random.default_rng(0))["image"]
    np.testing.assert_allclose(out[0], np.rot90(image[0]), atol=1e-4)


def test_rotate2d_label_uses_nearest_and_dtype_casts():
    label = np.zeros((1, 9, 9), np.float32)
    label[0, 2:7, 3:6] = 2
    sample = {"label": label, "meta": {"label": {"channel_axis": 0}}}
    out = RandomRotate2D("label", angle=20, dtype="uint8")(sample, np.random.default_rng(1))["label"]
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 2}


def test_rotate2d_rejects_volumes():
    with pytest.raises(DataError, match="must be 2-D"):
        RandomRotate2D("image", angle=10)(pair(), np.random.default_rng(0))


def test_zoom_keeps_shape_and_label_values():
    sample = pair((1, 10, 10, 10))
    sample["label"] *= 3
    RandomZoom("image", "label", [1.3] * 3, [1.3] * 3)(sample, np.random.default_rng(0))
    assert sample["image"].shape == (1, 10, 10, 10)
    assert set(np.unique(sample["label"])) <= {0.0, 3.0}


def test_zoom_magnifies_about_the_centre():
    image = np.zeros((1, 11, 11), np.float32)
    image[0, 4:7, 4:7] = 1
    sample = {"image": image, "meta": {"image": {"channel_axis": 0}}}
    RandomZoom("image", None, [2.0, 2.0], [2.0, 2.0])(sample, np.random.default_rng(0))
    out = sample["image"][0]
    assert out[5, 5] == 1 and out[2, 5] > 0 and out[0, 5] == 0
    assert out.sum() > image.sum() * 3


def test_zoom_rank_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="lower_limits has 2 values"):
        RandomZoom("image", "label", [1, 1], [1, 1])(pair(), np.random.default_rng(0))


def test_label_and_image_on_different_grids_is_a_data_error_naming_the_case():
    sample = pair()
    sample["label"] = sample["label"][:, :5]
    sample["meta"]["image"]["filename"] = "/data/spleen_9.nii.gz"
    with pytest.raises(DataError, match="differ in spatial shape .* in case /data/spleen_9.nii.gz"):
        RandomSpatialFlip(["image", "label"])(sample, np.random.default_rng(0))


@pytest.mark.parametrize("cls, args, message", [
    (RandomAxisFlip, {"fields": "image", "probability": 2}, "Received: probability=2"),
    (RandomRotate3D, {"fields": "image", "probability": -0.1}, "Received: probability=-0.1"),
    (RandomRotate2D, {"fields": "image", "angle": "15"}, "Received: angle='15'"),
    (RandomRotate2D, {"fields": "image", "dtype": "pixel"}, "Received: dtype='pixel'"),
    (RandomRotate2D, {"fields": "image", "is_random": "yes"}, "Received: is_random='yes'"),
    (RandomZoom, {"lower_limits": [1.2, 1, 1], "upper_limits": [1.1, 1, 1]}, "lower <= upper"),
    (RandomZoom, {"lower_limits": [0, 1, 1]}, "Received: lower_limits"),
])
def test_bad_arguments_are_config_errors(cls, args, message):
    with pytest.raises(ConfigError, match=message):
        cls(**args)


@pytest.mark.parametrize("cls", [RandomSpatialFlip, RandomAxisFlip, RandomRotate3D])
def test_missing_field_names_field_and_component(cls):
    with pytest.raises(DataError, match=f"{cls.__name__}: field 'label' is missing"):
        cls(["image", "label"])({"image": np.zeros((1, 2, 2, 2))}, np.random.default_rng(0))


@pytest.mark.parametrize("cls, args", TRANSFORMS + [
    (RandomRotate2D, {"fields": "image", "angle": 7, "is_random": True, "dtype": "uint8"}),
    (RandomZoom, {"image_field": "image", "label_field": "label", "lower_limits": [0.9, 0.9],
                  "upper_limits": [1.1, 1.1]}),
])
def test_get_config_round_trip(cls, args):
    t = cls(**args)
    assert cls(**t.get_config()).get_config() == t.get_config()
