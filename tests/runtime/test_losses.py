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


# ---------------------------------------------------------------- Focal

from mmarctl.runtime.losses.binary_classification import BinaryClassificationLoss  # noqa: E402
from mmarctl.runtime.losses.focal import Focal  # noqa: E402


def test_focal_softmax_hand_computed():
    # voxels' target-class probabilities: 1-0=1 (clipped), .5, 1 (clipped), 1 (clipped)
    eps = 1e-7
    p_t = np.array([1 - eps, 0.5, 1 - eps, 1 - eps])
    expected = np.mean(-((1 - p_t) ** 2) * np.log(p_t))
    assert _value(Focal(), LABEL, PRED) == pytest.approx(expected, rel=1e-4)


def test_focal_gamma_zero_is_cross_entropy_and_alpha_weights():
    p = np.array([0.8, 0.3], np.float32)  # two voxels, class 1 targets
    y_pred = np.stack([1 - p, p], -1).reshape(1, 2, 1, 2)
    y_true = np.ones((1, 2, 1, 1), np.float32)
    ce = np.mean(-np.log(p))
    assert _value(Focal(gamma=0), y_true, y_pred) == pytest.approx(ce, rel=1e-5)
    assert _value(Focal(gamma=0, alpha=0.25), y_true, y_pred) == pytest.approx(0.25 * ce, rel=1e-5)
    assert _value(Focal(gamma=0, alpha=[1, 3]), y_true, y_pred) == pytest.approx(3 * ce, rel=1e-5)


def test_focal_sigmoid_single_channel():
    y_pred = np.array([0.9, 0.2], np.float32).reshape(1, 2, 1)
    y_true = np.array([1.0, 0.0], np.float32).reshape(1, 2, 1)
    expected = np.mean([-(0.1 ** 2) * np.log(0.9), -(0.2 ** 2) * np.log(0.8)])
    assert _value(Focal(), y_true, y_pred) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("args", [
    {"gamma": -1}, {"alpha": 1.5}, {"alpha": []}, {"alpha": [1, -1]}, {"alpha": "x"},
    {"is_onehot_targets": "no"}, {"data_format": "x"},
])
def test_focal_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        Focal(**args)


def test_focal_alpha_list_must_match_channels():
    with pytest.raises(ConfigError, match="Received: alpha="):
        Focal(alpha=[1, 2, 3])(tf.constant(LABEL), tf.constant(PRED))


# ---------------------------------------------------------------- BinaryClassificationLoss

def test_binary_classification_hand_computed():
    y_true = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    y_pred = np.array([[0.9, 0.2, 0.6], [0.3, 0.1, 0.99]], np.float32)
    terms = y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred)
    assert _value(BinaryClassificationLoss(), y_true, y_pred) == pytest.approx(
        -terms.mean(), rel=1e-5)
    weighted = 2 * y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred)
    assert _value(BinaryClassificationLoss(pos_weight=2), y_true, y_pred) == pytest.approx(
        -weighted.mean(), rel=1e-5)


def test_binary_classification_saturated_is_finite():
    value = _value(BinaryClassificationLoss(), np.array([[1.0, 0.0]], np.float32),
                   np.array([[0.0, 1.0]], np.float32))
    # clipped to [1e-7, 1 - 1e-7] in float32
    upper = np.float32(1 - 1e-7)
    expected = (-np.log(np.float32(1e-7)) - np.log(np.float32(1) - upper)) / 2
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("args", [{"pos_weight": 0}, {"pos_weight": [1, "a"]},
                                  {"pos_weight": None}])
def test_binary_classification_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        BinaryClassificationLoss(**args)


def test_binary_classification_refuses_a_segmentation_class_map():
    # (B, *S, 1) class map against a 2-channel softmax mask: was broadcast, now refused
    with pytest.raises(ConfigError, match="labels of shape .* do not match.*Dice"):
        BinaryClassificationLoss()(tf.constant(LABEL), tf.constant(PRED))


def test_binary_classification_pos_weight_per_class_must_match():
    with pytest.raises(ConfigError, match="Received: pos_weight="):
        BinaryClassificationLoss(pos_weight=[1, 2])(tf.zeros((1, 3)), tf.zeros((1, 3)))


@pytest.mark.parametrize("loss", [Focal(gamma=1, alpha=[0.5, 2]),
                                  BinaryClassificationLoss(pos_weight=[1, 2])],
                         ids=lambda l: type(l).__name__)
def test_loss_config_round_trip(loss):
    assert type(loss)(**loss.get_config()).get_config() == loss.get_config()


def test_label_map_without_channel_axis_is_accepted():
    assert _value(Dice(), LABEL[..., 0], PRED) == pytest.approx(_value(Dice(), LABEL, PRED))


def test_label_channels_must_match():
    from mmarctl.errors import DataError

    # A class map under is_onehot_targets: the config's mistake (every case), not a bad case
    with pytest.raises(ConfigError, match="is_onehot_targets is true, but the labels have 1 "
                       "channel") as refused:
        Dice(is_onehot_targets=True)(tf.constant(LABEL), tf.constant(PRED))
    assert "skip_bad_cases" not in str(refused.value)
    with pytest.raises(DataError, match="one-hot targets have 3 channels"):
        Dice(is_onehot_targets=True)(tf.constant(np.concatenate([LABEL] * 3, -1)),
                                     tf.constant(PRED))
    with pytest.raises(DataError, match="class-index label needs one channel"):
        Focal()(tf.constant(np.concatenate([LABEL] * 3, -1)), tf.constant(PRED))
