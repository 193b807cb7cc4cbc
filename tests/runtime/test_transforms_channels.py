"""Channel layout: ConvertToChannelsFirst/Last and RepeatChannel, as (args, input, expected) tables."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.channels import (ConvertToChannelsFirst, ConvertToChannelsLast,
                                                 RepeatChannel)

RNG = np.random.default_rng(0)


def sample_with(shape, channel_axis="absent"):
    sample = {"image": np.arange(np.prod(shape), dtype=np.float32).reshape(shape), "meta": {}}
    if channel_axis != "absent":
        sample["meta"]["image"] = {"channel_axis": channel_axis}
    return sample


@pytest.mark.parametrize("cls, shape, axis, expected_shape, expected_axis", [
    (ConvertToChannelsFirst, (4, 5, 6), None, (1, 4, 5, 6), 0),
    (ConvertToChannelsFirst, (4, 5, 6, 2), -1, (2, 4, 5, 6), 0),
    (ConvertToChannelsFirst, (2, 4, 5, 6), 0, (2, 4, 5, 6), 0),
    (ConvertToChannelsFirst, (4, 5), "absent", (1, 4, 5), 0),
    (ConvertToChannelsLast, (4, 5), None, (4, 5, 1), -1),
    (ConvertToChannelsLast, (3, 4, 5), 0, (4, 5, 3), -1),
    (ConvertToChannelsLast, (4, 5, 3), -1, (4, 5, 3), -1),
])
def test_channel_conversion_table(cls, shape, axis, expected_shape, expected_axis):
    sample = sample_with(shape, axis)
    out = cls(fields="image")(sample, RNG)
    assert out["image"].shape == expected_shape
    assert out["meta"]["image"]["channel_axis"] == expected_axis


def test_channels_first_moves_data_not_just_shape():
    sample = sample_with((2, 3, 4), -1)
    original = sample["image"].copy()
    out = ConvertToChannelsFirst(["image"])(sample, RNG)
    np.testing.assert_array_equal(out["image"][1], original[..., 1])


def test_first_then_last_is_identity():
    sample = sample_with((3, 4, 2), -1)
    original = sample["image"].copy()
    ConvertToChannelsFirst("image")(sample, RNG)
    ConvertToChannelsLast("image")(sample, RNG)
    np.testing.assert_array_equal(sample["image"], original)


@pytest.mark.parametrize("shape, axis, times, expected_shape", [
    ((4, 5, 1), -1, 3, (4, 5, 3)),
    ((1, 4, 5), 0, 2, (2, 4, 5)),
    ((4, 5), None, 3, (4, 5, 3)),
])
def test_repeat_channel_table(shape, axis, times, expected_shape):
    out = RepeatChannel("image", repeat_times=times)(sample_with(shape, axis), RNG)
    assert out["image"].shape == expected_shape
    moved = np.moveaxis(out["image"], -1 if axis in (-1, None) else 0, 0)
    np.testing.assert_array_equal(moved[0], moved[-1])


@pytest.mark.parametrize("times", [0, -1, 1.5, True, "3"])
def test_repeat_channel_rejects_bad_counts(times):
    with pytest.raises(ConfigError, match=f"Received: repeat_times={times!r}"):
        RepeatChannel("image", repeat_times=times)


@pytest.mark.parametrize("cls", [ConvertToChannelsFirst, ConvertToChannelsLast, RepeatChannel])
def test_missing_field_names_field_and_component(cls):
    with pytest.raises(DataError, match=f"{cls.__name__}: field 'label' is missing"):
        cls(fields="label")({"image": np.zeros((2, 2))}, RNG)


@pytest.mark.parametrize("cls", [ConvertToChannelsFirst, ConvertToChannelsLast])
def test_get_config_round_trip(cls):
    t = cls(fields=["image", "label"])
    assert cls(**t.get_config()).get_config() == {"fields": ["image", "label"]}
