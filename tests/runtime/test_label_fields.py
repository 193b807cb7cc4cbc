"""Fields that post transforms turn into class maps are labels: resampled nearest, never linear."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.runtime.transforms.augment_spatial import RandomRotate2D
from mmarctl.runtime.transforms.base import is_label_field
from mmarctl.runtime.transforms.labels import (ArgmaxAcrossChannels, SplitAcrossChannels,
                                               SplitBasedOnLabel, ThresholdValues)
from mmarctl.runtime.transforms.resample import ScaleByFactor, ScaleToShape


def _softmax_classes_0_and_2() -> dict:
    """A 3-class softmax: left half class 0, right half class 2, class 1 nowhere."""
    probs = np.zeros((3, 4, 4), np.float32)
    probs[0, :, :2] = 1
    probs[2, :, 2:] = 1
    return {"model": probs, "meta": {}}


@pytest.mark.parametrize("resampler", [
    lambda: ScaleToShape("model", [4, 7]),
    lambda: ScaleByFactor("model", 1.75),
    lambda: RandomRotate2D("model", angle=30, is_random=False),
])
def test_argmax_output_is_resampled_without_inventing_a_class(resampler):
    sample = ArgmaxAcrossChannels("model")(_softmax_classes_0_and_2(), np.random.default_rng(0))
    assert is_label_field(sample, "model")
    sample = resampler()(sample, np.random.default_rng(0))
    assert set(np.unique(sample["model"]).tolist()) <= {0.0, 2.0}


def test_threshold_output_is_a_label_and_split_channels_inherit_it():
    sample = {"model": np.random.default_rng(1).random((2, 5, 5)).astype(np.float32), "meta": {}}
    sample = ThresholdValues("model", 0.5)(sample, None)
    assert is_label_field(sample, "model")
    sample = SplitAcrossChannels("model", ["tc", "wt"])(sample, None)
    assert is_label_field(sample, "tc") and is_label_field(sample, "wt")
    sample = ScaleByFactor(["tc"], 1.5)(sample, np.random.default_rng(0))
    assert set(np.unique(sample["tc"]).tolist()) <= {0.0, 1.0}


def test_split_of_an_image_stays_an_image_and_split_by_label_gives_labels():
    sample = {"image": np.ones((2, 4, 4), np.float32), "meta": {"image": {"channel_axis": 0}}}
    sample = SplitAcrossChannels("image", ["t1", "t2"])(sample, None)
    assert not is_label_field(sample, "t1")
    sample = {"model": np.zeros((1, 4, 4), np.float32), "meta": {}}
    sample = SplitBasedOnLabel("model", ["bg", "spleen"])(sample, None)
    assert is_label_field(sample, "bg") and is_label_field(sample, "spleen")
