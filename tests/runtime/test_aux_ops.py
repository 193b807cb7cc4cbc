"""Aux ops: values against hand-computed numbers, inside tf.function, bad args."""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.errors import ConfigError  # noqa: E402
from mmarctl.runtime import registry  # noqa: E402
from mmarctl.runtime.aux_ops.accuracy import ComputeAccuracy  # noqa: E402
from mmarctl.runtime.aux_ops.binary_preds import ComputeBinaryPreds  # noqa: E402
from mmarctl.runtime.aux_ops.compute_dice import ComputeDice  # noqa: E402
from mmarctl.runtime.aux_ops.dice_masked_output import DiceMaskedOutput  # noqa: E402
from mmarctl.runtime.aux_ops.neg_loss import NegLoss  # noqa: E402

LOSS = tf.constant(0.25)


def _run(op, y_true, y_pred, loss=LOSS):
    """The op inside a tf.function, as the trainer calls it; values as NumPy."""
    out = tf.function(lambda t, p, l: op(t, p, l))(tf.constant(y_true), tf.constant(y_pred),
                                                   loss)
    return {tag: value.numpy() for tag, value in out.items()}


def _softmax_probs(classes, k):
    classes = np.asarray(classes)
    return np.where(np.eye(k, dtype=bool)[classes], 0.8, 0.2 / (k - 1)).astype(np.float32)


# Three sigmoid channels over 4 voxels (BraTS-like, overlapping one-hot targets).
BRATS_TRUE = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], np.float32)[None]
BRATS_PRED = np.array([[0.9, 0.9, 0.1], [0.2, 0.8, 0.1], [0.1, 0.6, 0.2], [0.1, 0.7, 0.3]],
                      np.float32)[None]
# channel 0: P={0} T={0,1} -> 2/3 ; channel 1: P={0,1,2,3} T={0,1,2} -> 6/7 ; channel 2 empty


def test_dice_masked_output_mean_first_then_channels():
    op = DiceMaskedOutput(is_onehot_targets=True, is_independent_predictions=True,
                          tags=["dice", "dice_tc", "dice_wt", "dice_et"])
    out = _run(op, BRATS_TRUE, BRATS_PRED)
    assert out["dice_tc"] == pytest.approx(2 / 3) and out["dice_wt"] == pytest.approx(6 / 7)
    assert math.isnan(out["dice_et"])  # empty in both: masked
    assert out["dice"] == pytest.approx((2 / 3 + 6 / 7) / 2)


def test_dice_masked_output_softmax_skip_background():
    label = np.array([0, 1, 1, 2])[None, :, None].astype(np.float32)  # (1, 4, 1)
    pred = _softmax_probs([0, 1, 2, 2], 3)[None]
    op = DiceMaskedOutput(skip_background=True, tags=["d1", "d2"])
    out = _run(op, label, pred)
    # class 1: P={1} T={1,2} -> 2/3 ; class 2: P={2,3} T={3} -> 2/3
    assert out["d1"] == pytest.approx(2 / 3) and out["d2"] == pytest.approx(2 / 3)


def test_dice_masked_output_one_tag_is_the_mean():
    # The default tags ["dice"] on a 2-class softmax network (a bare {"name": ...} entry).
    label = np.array([0, 1, 1, 0])[None, :, None].astype(np.float32)
    pred = _softmax_probs([0, 1, 0, 0], 2)[None]
    op = DiceMaskedOutput()
    op.check_channels(op.scored_channels(2))
    # background: P={0,2,3} T={0,3} -> 4/5 ; class 1: P={1} T={1,2} -> 2/3
    assert _run(op, label, pred) == {"dice": pytest.approx((4 / 5 + 2 / 3) / 2)}


def test_dice_masked_output_tag_count_must_fit():
    with pytest.raises(ConfigError, match="Received: tags="):
        DiceMaskedOutput(is_onehot_targets=True, tags=["a", "b"])(
            tf.constant(BRATS_TRUE), tf.constant(BRATS_PRED), LOSS)


def test_compute_dice_softmax_excludes_background():
    label = np.array([[0, 1, 1, 0]], np.float32)[..., None]
    pred = _softmax_probs([[0, 1, 0, 0]], 2)
    assert _run(ComputeDice(), label, pred)["dice"] == pytest.approx(2 / 3)


def test_compute_dice_independent_and_all_empty():
    out = _run(ComputeDice(is_onehot_targets=True, is_independent_predictions=True,
                           tag="d"), BRATS_TRUE, BRATS_PRED)
    assert out["d"] == pytest.approx((2 / 3 + 6 / 7) / 2)
    empty = np.zeros((1, 4, 1), np.float32)
    assert math.isnan(_run(ComputeDice(), empty, _softmax_probs([[0, 0, 0, 0]], 2))["dice"])


def test_neg_loss():
    assert _run(NegLoss(tag="nl"), np.zeros((1, 2)), np.zeros((1, 2)))["nl"] == -0.25


def test_compute_accuracy_sigmoid_and_softmax():
    y_true = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    y_pred = np.array([[0.9, 0.6, 0.7], [0.2, 0.1, 0.3]], np.float32)
    # correct: [T, F, T], [T, T, F] -> 4/6
    assert _run(ComputeAccuracy(use_sigmoid=True), y_true, y_pred)["accuracy"] == \
        pytest.approx(4 / 6)
    # exclusive classes: argmax [0, 2] vs argmax of one-hot [0, 2]... and class indices
    onehot = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    assert _run(ComputeAccuracy(), onehot, y_pred)["accuracy"] == pytest.approx(0.5)
    indices = np.array([[0], [2]], np.float32)
    assert _run(ComputeAccuracy(tag="acc"), indices, y_pred)["acc"] == pytest.approx(1.0)


def test_compute_binary_preds():
    y_true = np.array([[1, 0, 1]], np.float32)
    y_pred = np.array([[0.9, 0.6, 0.2]], np.float32)
    out = _run(ComputeBinaryPreds(), y_true, y_pred)
    np.testing.assert_allclose(out["binary_preds"], y_pred)
    np.testing.assert_array_equal(out["binary_labels"], y_true)


@pytest.mark.parametrize("cls,args", [
    (DiceMaskedOutput, {"tags": []}), (DiceMaskedOutput, {"tags": ["a", "a"]}),
    (DiceMaskedOutput, {"tags": [1]}), (DiceMaskedOutput, {"skip_background": "x"}),
    (ComputeDice, {"tag": ""}), (ComputeDice, {"data_format": "NHWC"}),
    (ComputeDice, {"is_independent_predictions": 2}),
    (NegLoss, {"tag": None}), (ComputeAccuracy, {"use_sigmoid": "y"}),
    (ComputeBinaryPreds, {"binary_preds_name": "x", "binary_labels_name": "x"}),
    (ComputeBinaryPreds, {"binary_labels_name": 3}),
])
def test_aux_op_bad_args(cls, args):
    with pytest.raises(ConfigError, match="Received:"):
        cls(**args)


@pytest.mark.parametrize("op", [
    DiceMaskedOutput(is_onehot_targets=True, tags=["a", "b"]), ComputeDice(tag="x"),
    NegLoss(), ComputeAccuracy(use_sigmoid=True), ComputeBinaryPreds(binary_preds_name="p"),
], ids=lambda o: type(o).__name__)
def test_aux_op_config_round_trip_and_registry(op):
    assert type(op)(**op.get_config()).get_config() == op.get_config()
    assert registry.lookup("aux_ops", op.clara_name) is type(op)
