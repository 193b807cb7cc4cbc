"""A class-index label with several channels (an RGB mask PNG, a one-hot label file) under a
one-channel (sigmoid) network used to broadcast against the prediction and train silently."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.errors import DataError  # noqa: E402
from mmarctl.runtime.losses.base import targets_like  # noqa: E402


def test_a_three_channel_label_under_one_output_channel_is_refused():
    pred = tf.zeros((1, 4, 4, 1))
    mask = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(DataError, match="class-index label needs one channel, got 3") as caught:
        targets_like(tf.constant(mask), pred, is_onehot=False)
    assert "RGB mask" in str(caught.value)
    assert targets_like(tf.constant(mask[..., :1]), pred, False).shape == (1, 4, 4, 1)
    # One-hot targets for a one-channel network are as given (checked against it elsewhere).
    assert targets_like(tf.constant(mask[..., :1]), pred, True).shape == (1, 4, 4, 1)


def test_a_label_of_one_value_per_class_under_class_indices_is_the_configs_mistake():
    # Clara's classification label_format [0, 1] under Focal/Dice with is_onehot_targets
    # false: every case has it, so no "skip_bad_cases" advice.
    from mmarctl.errors import ConfigError

    with pytest.raises(ConfigError, match="is_onehot_targets is false, but the labels have 2 "
                       "channels") as caught:
        targets_like(tf.constant([[0.0, 1.0]]), tf.zeros((1, 2)), is_onehot=False)
    assert "skip_bad_cases" not in str(caught.value)
    assert "is_onehot_targets to true" in str(caught.value)
