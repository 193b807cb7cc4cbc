"""Intensity transforms: windowing, normalisation and the random intensity augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.augment_intensity import (AddGaussianNoise, AdjustContrast,
                                                          RandomGaussianSmooth, RandomSharpen,
                                                          ScaleIntensityOscillation,
                                                          ScaleShiftIntensity)
from mmarctl.runtime.transforms.intensity import (CenterData, NormalizeNonzeroIntensities,
                                                  ScaleIntensityRange)

HU = np.array([-1000.0, -57.0, 53.5, 164.0, 3000.0], np.float32)


def run(transform, array, seed=0, meta=None):
    sample = {"image": np.array(array, np.float32), "meta": {"image": meta or {}}}
    return transform(sample, np.random.default_rng(seed))["image"]


@pytest.mark.parametrize("args, expected", [
    ({"a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True}, [0, 0, 0.5, 1, 1]),
    ({"a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": False},
     [(-1000 + 57) / 221, 0, 0.5, 1, (3000 + 57) / 221]),
    ({"a_min": -57, "a_offset": 221, "b_min": 0.0, "b_max": 1.0, "clip": True}, [0, 0, 0.5, 1, 1]),
    ({"a_min": -57, "a_max": 164, "b_min": -1.0, "b_max": 1.0, "clip": True}, [-1, -1, 0, 1, 1]),
    ({"a_min": -57, "a_max": 164, "b_min": 1.0, "b_max": 0.0, "clip": True}, [1, 1, 0.5, 0, 0]),
])
def test_scale_intensity_range_table(args, expected):
    out = run(ScaleIntensityRange(fields="image", **args), HU)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args, message", [
    ({"a_min": 10, "a_max": 10}, "a_max must be greater than a_min"),
    ({"a_min": 10, "a_max": 0}, "Received: a_min=10, a_max=0"),
    ({"a_min": 0}, "a_max \\(or a_offset\\) is required"),
    ({"a_min": 0, "a_max": 100, "a_offset": 50}, "disagree"),
    ({"a_min": 0, "a_offset": 0}, "Received: a_offset=0"),
    ({"a_min": "low", "a_max": 1}, "Received: a_min='low'"),
    ({"a_min": 0, "a_max": 1, "clip": "true"}, "Received: clip='true'"),
    ({"a_min": 0, "a_max": 1, "b_min": None}, "Received: b_min=None"),
])
def test_scale_intensity_range_rejects_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        ScaleIntensityRange(fields="image", **args)


def test_scale_intensity_range_a_offset_round_trip():
    t = ScaleIntensityRange(fields="image", a_min=-57, a_offset=200, clip=True)
    assert t.a_max == 143
    assert ScaleIntensityRange(**t.get_config()).get_config() == t.get_config()
    assert "a_max" not in t.get_config()


def test_normalize_nonzero_keeps_background_zero_per_channel():
    image = np.zeros((2, 4, 4), np.float32)
    image[0, 1:3, 1:3] = [[1, 2], [3, 4]]
    image[1, 0, 0] = 7  # a single non-zero value: std 0, mean shift only
    out = run(NormalizeNonzeroIntensities("image"), image, meta={"channel_axis": 0})
    nonzero = out[0][image[0] != 0]
    assert abs(nonzero.mean()) < 1e-6 and abs(nonzero.std() - 1) < 1e-5
    assert (out[0][image[0] == 0] == 0).all()
    assert out[1, 0, 0] == 0 and (out[1] == 0).all()


def test_normalize_nonzero_all_zero_is_unchanged():
    np.testing.assert_array_equal(run(NormalizeNonzeroIntensities("image"), np.zeros((3, 3))), 0)


def test_center_data_table():
    out = run(CenterData("image"), [[1, 2], [3, 4]])
    np.testing.assert_allclose(out, (np.array([[1, 2], [3, 4]]) - 2.5) / np.std([1, 2, 3, 4]), rtol=1e-6)
    np.testing.assert_array_equal(run(CenterData("image"), np.full((3, 3), 5.0)), 0)


RANDOM = [
    (ScaleIntensityOscillation, {"magnitude": 0.1}),
    (ScaleShiftIntensity, {"scale": 0.1, "shift": 0.1}),
    (AddGaussianNoise, {"probability": 1.0, "variance": 0.01}),
    (AdjustContrast, {"probability": 1.0}),
    (RandomGaussianSmooth, {"probability": 1.0}),
    (RandomSharpen, {"probability": 1.0}),
]


@pytest.mark.parametrize("cls, args", RANDOM)
def test_random_intensity_is_deterministic_for_a_seed_and_changes_the_image(cls, args):
    image = np.random.default_rng(5).random((1, 8, 8, 8)).astype(np.float32)
    transform = cls(fields="image", **args)
    assert transform.is_random
    first = run(transform, image, seed=3, meta={"channel_axis": 0})
    again = run(transform, image, seed=3, meta={"channel_axis": 0})
    other = run(transform, image, seed=4, meta={"channel_axis": 0})
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, image) and not np.allclose(first, other)
    assert first.shape == image.shape and first.dtype == np.float32


@pytest.mark.parametrize("cls, args", [
    (ScaleIntensityOscillation, {"magnitude": 0.5, "probability": 0.0}),
    (AddGaussianNoise, {"probability": 0.0}),
    (AdjustContrast, {"probability": 0.0}),
    (RandomGaussianSmooth, {"probability": 0.0}),
    (RandomSharpen, {"probability": 0.0}),
])
def test_probability_zero_leaves_the_image_alone(cls, args):
    image = np.random.default_rng(5).random((6, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(cls(fields="image", **args), image), image)


def test_oscillation_factor_stays_within_magnitude():
    ones = np.ones((4, 4), np.float32)
    for seed in range(20):
        value = run(ScaleIntensityOscillation("image", magnitude=0.1), ones, seed=seed)[0, 0]
        assert 0.9 <= value <= 1.1


def test_adjust_contrast_keeps_the_intensity_range():
    image = np.linspace(-1, 3, 50, dtype=np.float32)
    out = run(AdjustContrast("image", probability=1.0, gamma=[2.0, 2.0]), image)
    assert out.min() == pytest.approx(-1) and out.max() == pytest.approx(3)
    np.testing.assert_allclose(out, ((image + 1) / 4) ** 2 * 4 - 1, rtol=1e-5, atol=1e-6)


def test_gaussian_noise_has_the_requested_variance():
    out = run(AddGaussianNoise("image", probability=1.0, variance=0.04), np.zeros((100, 100)))
    assert out.std() == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize("cls, args, message", [
    (ScaleIntensityOscillation, {"magnitude": -0.1}, "Received: magnitude=-0.1"),
    (ScaleIntensityOscillation, {"probability": 1.5}, "Received: probability=1.5"),
    (ScaleShiftIntensity, {"scale": "big"}, "Received: scale='big'"),
    (AddGaussianNoise, {"variance": -1}, "Received: variance=-1"),
    (AdjustContrast, {"gamma": [2, 1]}, "Received: gamma=\\[2, 1\\]"),
    (RandomGaussianSmooth, {"sigma_range": [1]}, "Received: sigma_range=\\[1\\]"),
    (RandomSharpen, {"sigma": 0}, "Received: sigma=0"),
    (RandomSharpen, {"probability": True}, "Received: probability=True"),
])
def test_random_intensity_rejects_bad_arguments(cls, args, message):
    with pytest.raises(ConfigError, match=message):
        cls(fields="image", **args)


@pytest.mark.parametrize("cls", [ScaleIntensityRange, NormalizeNonzeroIntensities, CenterData]
                         + [cls for cls, _ in RANDOM])
def test_missing_field_names_field_and_component(cls):
    args = {"a_min": 0, "a_max": 1} if cls is ScaleIntensityRange else {}
    if cls in (AddGaussianNoise, AdjustContrast, RandomGaussianSmooth, RandomSharpen):
        args = {"probability": 1.0}
    with pytest.raises(DataError, match=f"{cls.__name__}: field 'ct' is missing"):
        cls(fields="ct", **args)({"image": np.zeros(3), "meta": {}}, np.random.default_rng(0))


@pytest.mark.parametrize("cls, args", RANDOM + [(CenterData, {}), (NormalizeNonzeroIntensities, {})])
def test_get_config_round_trip(cls, args):
    t = cls(fields=["image"], **args)
    assert cls(**t.get_config()).get_config() == t.get_config()


def test_suspicious_but_usable_values_warn():
    with pytest.warns(UserWarning, match="b_min equals b_max"):
        ScaleIntensityRange("image", a_min=0, a_max=1, b_min=0.5, b_max=0.5)
    with pytest.warns(UserWarning, match="Received: magnitude=1.5"):
        ScaleIntensityOscillation("image", magnitude=1.5)
