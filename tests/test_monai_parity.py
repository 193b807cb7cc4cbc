"""mmarctl against MONAI on the same inputs: ComputeAverageDice and TFScanWindowInferer.

Runs only where MONAI (and PyTorch) are installed: ``scripts/setup_bench.sh``. Settings
aligned with MONAI are explained in ``benchmarks/monai/row_dice.py`` (Dice:
``include_background=False``, ``ignore_empty=False`` with classes empty in label and
prediction left out) and ``benchmarks/monai/row_window.py`` (same ROI, overlap, blending and
windows per call; weights copied between a Keras and a torch twin network).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
pytest.importorskip("torch")
pytest.importorskip("tensorflow")

# The suite lives in benchmarks/ at the repository root (not part of the wheel).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.monai import row_dice, row_window  # noqa: E402
from benchmarks.monai.twin_nets import (copy_weights, keras_convnet,  # noqa: E402
                                        to_channels_first, to_channels_last, torch_convnet)

DICE_CASES = row_dice.dice_cases(seed=3)


@pytest.mark.parametrize("name,pred,label", DICE_CASES, ids=[c[0] for c in DICE_CASES])
def test_dice_case_equals_monai(name, pred, label):
    metric = row_dice.mmarctl_metric()
    ours = metric.update({"model": pred, "label": label})
    theirs = row_dice.monai_case_dice(pred, label)
    if math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-6)


def test_dice_mean_over_cases_equals_monai():
    result = row_dice.compare(DICE_CASES)
    assert result["per_case"] <= 1e-6
    assert result["mean"] <= 1e-6
    assert 0.0 < result["mean_value"] < 1.0


def test_dice_nonempty_labels_match_both_monai_settings():
    """Where every class is present in the label, ignore_empty makes no difference."""
    name, pred, label = DICE_CASES[1]
    assert name == "3d-3class"
    ours = row_dice.mmarctl_metric().update({"model": pred, "label": label})
    for ignore_empty in (True, False):
        per_class = row_dice.monai_class_dice(pred, label, ignore_empty=ignore_empty)
        assert ours == pytest.approx(float(np.mean(per_class)), abs=1e-6)


def test_dice_empty_label_rule_sits_between_monai_settings():
    """False positives on an absent class score 0 (as ignore_empty=False); an all-background
    case is left out (as ignore_empty=True)."""
    cases = {name: (pred, label) for name, pred, label in DICE_CASES}
    pred, label = cases["absent-class-label-only"]
    assert np.isnan(row_dice.monai_class_dice(pred, label, ignore_empty=True)[1])
    assert row_dice.monai_class_dice(pred, label, ignore_empty=False)[1] == 0.0
    pred, label = cases["all-background"]
    assert math.isnan(row_dice.mmarctl_metric().update({"model": pred, "label": label}))
    assert row_dice.monai_class_dice(pred, label, ignore_empty=False)[0] == 1.0


def test_twin_networks_agree():
    import torch

    model = keras_convnet((4, 4), 2, 3, seed=1)
    net = torch_convnet((4, 4), 2, 3)
    assert copy_weights(model, net) == 3
    x = np.random.default_rng(0).normal(size=(1, 9, 7, 5, 2)).astype(np.float32)
    ours = model(x, training=False).numpy()
    with torch.no_grad():
        theirs = to_channels_last(net(torch.from_numpy(to_channels_first(x))).numpy())
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_copy_weights_refuses_different_depths():
    with pytest.raises(ValueError, match="layer count differs"):
        copy_weights(keras_convnet((4,), 1, 2), torch_convnet((4, 4), 1, 2))


@pytest.mark.parametrize("case", row_window.PARITY_CASES,
                         ids=[f"{c[1][0]}-ov{c[2]}-{c[3]}-b{c[4]}" for c in row_window.PARITY_CASES])
def test_sliding_window_equals_monai(case):
    shape, roi, overlap, blending, batch = case
    _, predict, net = row_window.make_twins(seed=2)
    image = np.random.default_rng(5).normal(size=(1, *shape, 1)).astype(np.float32)
    ours = row_window.mmarctl_infer(predict, image, roi, overlap, blending, batch)
    theirs = row_window.monai_infer(net, image, roi, overlap, blending, batch)
    assert ours.shape == theirs.shape == (1, *shape, 2)
    np.testing.assert_allclose(ours, theirs, atol=row_window.TOLERANCE)
