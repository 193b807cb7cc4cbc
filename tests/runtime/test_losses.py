"""Losses: values against hand-computed numbers, shapes, config round-trips, bad args."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.errors import ConfigError  # noqa: E402
from mmarctl.runtime.losses.dice import Dice  # noqa: E402

# One case, 4 voxels (2x2 in 2D), two classes.
LABEL = np.array([[[[0.], [1.]], [[1.], [0.]]]], np.float32)  # (1, 2, 2, 1)
FG = np.array([0.0, 0.5, 1.0, 0.0], np.float32)  # foreground probability per voxel
PRED = np.stack([1 - FG, FG], axis=-1).reshape(1, 2, 2, 2)


def _value(loss, y_true, y_pred):
    return float(loss(tf.constant(y_true), tf.constant(y_pred)))


def test_dice_hand_computed():
    # background: t=[1,0,0,1], p=[1,.5,0,1] -> 2*2/(2+2.5) ; foreground: 2*1.5/(2+1.5)
    smooth = 1e-5
    bg = (2 * 2 + smooth) / (2 + 2.5 + smooth)
    fg = (2 * 1.5 + smooth) / (2 + 1.5 + smooth)
    assert _value(Dice(), LABEL, PRED) == pytest.approx(1 - (bg + fg) / 2, rel=1e-6)


def test_dice_skip_background_and_squared():
    smooth = 1e-5
    fg = (2 * 1.5 + smooth) / (2 + 1.25 + smooth)  # sum p^2 = .25 + 1
    loss = Dice(skip_background=True, squared_pred=True)
    assert _value(loss, LABEL, PRED) == pytest.approx(1 - fg, rel=1e-6)


def test_dice_onehot_targets_equal_label_map():
    onehot = np.eye(2, dtype=np.float32)[LABEL[..., 0].astype(int)]
    assert _value(Dice(is_onehot_targets=True), onehot, PRED) == pytest.approx(
        _value(Dice(), LABEL, PRED), rel=1e-6)


def test_dice_perfect_prediction_is_zero_and_batch_mean():
    perfect = np.eye(2, dtype=np.float32)[LABEL[..., 0].astype(int)]
    assert _value(Dice(), LABEL, perfect) == pytest.approx(0.0, abs=1e-6)
    # batch of (perfect, PRED): the mean over cases and classes
    both = _value(Dice(), np.concatenate([LABEL, LABEL]), np.concatenate([perfect, PRED]))
    assert both == pytest.approx(_value(Dice(), LABEL, PRED) / 2, rel=1e-6)


def test_dice_single_channel_sigmoid_3d():
    label = np.zeros((1, 2, 2, 2, 1), np.float32)
    label[0, 0, 0, 0, 0] = 1
    pred = np.full((1, 2, 2, 2, 1), 0.5, np.float32)
    expected = 1 - (2 * 0.5 + 1e-5) / (1 + 4 + 1e-5)
    assert _value(Dice(), label, pred) == pytest.approx(expected, rel=1e-6)


def test_dice_inside_tf_function_and_gradient():
    y_pred = tf.Variable(PRED)
    loss = Dice()

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss(tf.constant(LABEL), y_pred)
        return value, tape.gradient(value, y_pred)

    value, grad = step()
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize("args", [
    {"smooth": 0}, {"smooth": "a"}, {"skip_background": "yes please"},
    {"data_format": "NCDHW"}, {"squared_pred": 1},
])
def test_dice_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        Dice(**args)


def test_dice_skip_background_needs_two_channels():
    with pytest.raises(ConfigError, match="Received: skip_background"):
        Dice(skip_background=True)(tf.constant(LABEL), tf.constant(PRED[..., 1:]))


def test_dice_config_round_trip():
    loss = Dice(skip_background=True, smooth=1e-3)
    assert Dice(**loss.get_config()).get_config() == loss.get_config()
