"""ComputeAverageDice: out-of-range label values are refused, padding keeps one-hot labels one-hot."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import DataError
from mmarctl.runtime.metrics.average_dice import ComputeAverageDice, class_masks


def _cube() -> np.ndarray:
    label = np.zeros((1, 8, 8, 8), np.float32)
    label[0, 2:5, 2:5, 2:5] = 1
    return label


def _softmax(classes: np.ndarray, channels: int = 2) -> np.ndarray:
    """A confident softmax whose argmax is ``classes`` (spatial)."""
    probs = np.full((channels,) + classes.shape, 0.1 / (channels - 1), np.float32)
    for c in range(channels):
        probs[c][classes == c] = 0.9
    return probs


def test_label_255_for_a_two_class_net_is_a_data_error_naming_the_label_file():
    label = _cube() * 255
    sample = {"model": _softmax(_cube()[0]), "label": label,
              "meta": {"label": {"filename": "/d/labelsTr/case_7.png"}}}
    with pytest.raises(DataError) as raised:
        ComputeAverageDice().case_value(sample)
    line = str(raised.value).splitlines()[0]
    assert line.startswith("/d/labelsTr/case_7.png: label values 0..255 are outside 0..1 "
                           "(num_classes=2)"), line


def test_labels_in_range_still_score():
    sample = {"model": _softmax(_cube()[0]), "label": _cube(), "meta": {}}
    assert ComputeAverageDice().case_value(sample) == pytest.approx(1.0)


def test_zero_padded_one_hot_label_does_not_score_background():
    cube = _cube()[0]
    one_hot = np.stack([1 - cube, cube])
    padded = np.pad(one_hot, ((0, 0), (0, 2), (0, 0), (0, 0)))  # two rows of sum-0 voxels
    classes = np.pad(cube, ((0, 2), (0, 0), (0, 0)))
    pred = _softmax(classes)  # the network saw the padded image: a softmax everywhere
    pred_masks, label_masks = class_masks(pred, padded)
    assert pred_masks.shape[0] == 1 and label_masks.shape[0] == 1  # foreground only
    # background is 97 % of the voxels: scoring it would push a half-wrong case far up
    half_wrong = classes.copy()
    half_wrong[2:5, 2:5, 2:3] = 0
    sample = {"model": _softmax(half_wrong), "label": padded, "meta": {}}
    assert ComputeAverageDice().case_value(sample) == pytest.approx(2 * 18 / (18 + 27))


def test_overlapping_channels_stay_overlapping():
    # BraTS-like (TC, WT, ET) case with oedema only: channels sum to 0 or 1, TC empty
    label = np.zeros((3, 6, 6, 6), np.float32)
    label[1, 1:4, 1:4, 1:4] = 1
    sigmoid = np.where(label > 0, 0.8, 0.2).astype(np.float32)
    pred_masks, _ = class_masks(sigmoid, label)
    assert pred_masks.shape[0] == 3  # every channel is its own task


def test_label_beyond_the_classes_argmax_saw_is_refused_after_argmax():
    from mmarctl.runtime.transforms.labels import ArgmaxAcrossChannels

    sample = {"model": _softmax(_cube()[0]), "label": _cube() * 255,
              "meta": {"label": {"filename": "/d/labelsTr/case_2.nii.gz"}}}
    sample = ArgmaxAcrossChannels("model")(sample, None)
    with pytest.raises(DataError, match=r"case_2.nii.gz: label values 0..255 are outside 0..1 "
                                        r"\(num_classes=2\)"):
        ComputeAverageDice().case_value(sample)
    sample["label"] = _cube()
    assert ComputeAverageDice().case_value(sample) == pytest.approx(1.0)
