"""Validation metrics: exact Dice cases, averages, AUC against hand-computed values."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime import registry
from mmarctl.runtime.metrics.average import ComputeAverage
from mmarctl.runtime.metrics.average_dice import ComputeAverageDice


def _onehot_probs(classes: np.ndarray, k: int) -> np.ndarray:
    """Channels-first probabilities whose argmax is ``classes``."""
    probs = np.full((k,) + classes.shape, 0.1 / max(k - 1, 1), np.float32)
    for c in range(k):
        probs[c][classes == c] = 0.9
    return probs


def _case(pred_classes, label_classes, k=2, name=None):
    sample = {"model": _onehot_probs(np.asarray(pred_classes), k),
              "label": np.asarray(label_classes, np.float32)[None]}
    if name:
        sample["meta"] = {"label": {"filename": name}}
    return sample


# ---------------------------------------------------------------- ComputeAverageDice

def test_dice_perfect_disjoint_half():
    metric = ComputeAverageDice()
    label = [[0, 1, 1, 0]]
    assert metric.update(_case(label, label)) == 1.0
    assert metric.update(_case([[1, 0, 0, 1]], label)) == 0.0
    # prediction {1} vs label {1,2}: 2*1/(1+2)
    assert metric.update(_case([[0, 1, 0, 0]], label)) == pytest.approx(2 / 3)
    assert metric.result() == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_dice_multiclass_averages_foreground_classes():
    label = np.array([[0, 1, 1, 2, 2, 2]])
    pred = np.array([[0, 1, 2, 2, 2, 0]])
    # class 1: |P|=1 |L|=2 inter 1 -> 2/3 ; class 2: |P|=3 |L|=3 inter 2 -> 2/3
    metric = ComputeAverageDice(name="md")
    assert metric.update(_case(pred, label, k=3)) == pytest.approx(2 / 3)


def test_dice_class_absent_from_both_is_skipped():
    label = np.array([[0, 1, 1, 0]])
    # class 2 is in neither prediction nor label: only class 1 counts
    assert ComputeAverageDice().update(_case(label, label, k=3)) == 1.0


def test_dice_empty_label_rules():
    metric = ComputeAverageDice()
    empty = [[0, 0, 0, 0]]
    assert math.isnan(metric.update(_case(empty, empty, name="both_empty.nii")))
    # empty label, non-empty prediction: false positives score 0
    assert metric.update(_case([[0, 1, 0, 0]], empty, name="fp.nii")) == 0.0
    # empty prediction, non-empty label: 0
    assert metric.update(_case(empty, [[1, 0, 0, 0]], name="fn.nii")) == 0.0
    assert metric.update(_case([[1, 0, 0, 0]], [[1, 0, 0, 0]], name="ok.nii")) == 1.0
    assert metric.result() == pytest.approx(1 / 3)  # the NaN case is left out
    assert list(metric.per_case()) == ["both_empty.nii", "fp.nii", "fn.nii", "ok.nii"]


def test_dice_all_cases_empty_gives_nan():
    metric = ComputeAverageDice()
    metric.update(_case([[0, 0]], [[0, 0]]))
    assert math.isnan(metric.result())


def test_dice_single_channel_threshold_3d():
    pred = np.array([0.2, 0.6, 0.51, 0.9, 0.0, 0.4, 0.7, 0.1], np.float32).reshape(1, 2, 2, 2)
    label = np.array([0, 1, 0, 1, 0, 1, 0, 0], np.float32).reshape(2, 2, 2)  # no channel axis
    # P = {1,2,3,6}, L = {1,3,5}: inter 2 -> 4/7
    value = ComputeAverageDice().update({"model": pred, "label": label})
    assert value == pytest.approx(4 / 7)


def test_dice_multichannel_label_scores_each_channel():
    # overlapping channels (voxel 1 is in both), as BraTS TC/WT/ET labels
    pred = np.array([[0.9, 0.9, 0.1], [0.2, 0.8, 0.3]], np.float32)  # (2, 3)
    label = np.array([[1, 1, 0], [0, 1, 1]], np.float32)
    # channel 0: 1.0 ; channel 1: P={1} L={1,2} -> 2/3
    assert ComputeAverageDice().update({"model": pred, "label": label}) == pytest.approx(5 / 6)


def test_dice_report_written(tmp_path):
    metric = ComputeAverageDice(name="mean_dice", report_path=str(tmp_path / "eval"))
    metric.update(_case([[1, 1]], [[1, 0]], name="a.nii"))
    metric.result()
    rows = list(csv.reader((tmp_path / "eval" / "mean_dice_per_case.csv").open()))
    assert rows[0] == ["case", "mean_dice"] and rows[1][0] == "a.nii"
    assert float(rows[1][1]) == pytest.approx(2 / 3)


def test_dice_reset():
    metric = ComputeAverageDice()
    metric.update(_case([[1]], [[1]]))
    metric.reset()
    assert metric.per_case() == {} and math.isnan(metric.result())


def test_dice_missing_field_and_shape_mismatch():
    metric = ComputeAverageDice(label_field="seg")
    with pytest.raises(DataError, match="'seg' is missing"):
        metric.update(_case([[1]], [[1]]))
    with pytest.raises(DataError, match="does not match"):
        ComputeAverageDice().update({"model": np.zeros((2, 4, 4)), "label": np.zeros((1, 4, 5))})


@pytest.mark.parametrize("args", [
    {"name": ""}, {"field": 3}, {"label_field": None}, {"is_key_metric": "often"},
    {"is_2d": 2}, {"report_path": 5},
])
def test_dice_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        ComputeAverageDice(**args)


def test_metric_config_round_trips():
    for metric in (ComputeAverageDice(name="d", is_key_metric=True, is_2d=True),
                   ComputeAverage(name="neg", field="negloss")):
        assert type(metric)(**metric.get_config()).get_config() == metric.get_config()
    assert registry.lookup("metrics", "ComputeAverageDice") is ComputeAverageDice


# ---------------------------------------------------------------- ComputeAverage

def test_average_of_scalar_field():
    metric = ComputeAverage(name="negloss", field="negloss", is_key_metric=True)
    for value in (-0.5, np.float32(-0.25), np.array([math.nan]), np.array([-1.0, -2.0])):
        metric.update({"negloss": value})
    assert metric.result() == pytest.approx((-0.5 - 0.25 - 1.5) / 3)
    assert metric.is_key_metric


def test_average_rejects_non_numeric_field():
    with pytest.raises(DataError, match="numbers"):
        ComputeAverage(field="x").update({"x": "abc"})


# ---------------------------------------------------------------- ComputeAUC

from mmarctl.runtime.metrics.auc import ComputeAUC, roc_auc  # noqa: E402

CASES = [([0.1, 0.9], [0, 1]), ([0.4, 0.3], [0, 0]), ([0.35, 0.6], [1, 0]),
         ([0.8, 0.2], [1, 1])]


def _fill(metric):
    for i, (scores, labels) in enumerate(CASES):
        metric.update({"model": np.array(scores, np.float32), "label": np.array(labels),
                       "meta": {"image": {"filename": f"c{i}.png"}}})
    return metric


def test_roc_auc_hand_computed_and_ties():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    # positives {0.5, 0.9} vs negatives {0.5, 0.2}: 0.5 (tie) + 1 + 1 + 1 over 4 pairs
    assert roc_auc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]) == 0.875
    assert roc_auc([0.3, 0.3, 0.3], [1, 0, 1]) == 0.5  # all tied
    assert roc_auc([0.1, 0.2], [0, 1]) == 1.0 and roc_auc([0.1, 0.2], [1, 0]) == 0.0
    assert math.isnan(roc_auc([0.1, 0.2], [1, 1]))


def test_auc_macro_micro_and_class_index():
    # class 0: 0.75 ; class 1: positives {0.9, 0.2} vs negatives {0.3, 0.6} -> 2/4
    assert _fill(ComputeAUC()).result() == pytest.approx(0.625)
    # pooled: 11 of 16 positive/negative pairs ordered correctly
    assert _fill(ComputeAUC(auc_average="micro")).result() == pytest.approx(11 / 16)
    assert _fill(ComputeAUC(class_index=1)).result() == pytest.approx(0.5)
    metric = _fill(ComputeAUC())
    assert metric.per_class() == [0.75, 0.5] and metric.per_case() == {}


def test_auc_class_label_index_and_undefined_class():
    metric = ComputeAUC()
    # labels given as class indices; class 2 never appears -> NaN, left out of the mean
    for scores, label in (([0.7, 0.2, 0.1], 0), ([0.2, 0.7, 0.1], 1), ([0.6, 0.3, 0.1], 1)):
        metric.update({"model": np.array(scores), "label": np.array([label])})
    per_class = metric.per_class()
    assert per_class[0] == 1.0 and per_class[1] == 1.0 and math.isnan(per_class[2])
    assert metric.result() == 1.0
    metric.reset()
    assert math.isnan(metric.result())


def test_auc_report(tmp_path):
    metric = _fill(ComputeAUC(name="auc", report_path=str(tmp_path)))
    metric.result()
    rows = list(csv.reader((tmp_path / "auc_per_class.csv").open()))
    assert rows == [["class", "auc"], ["0", "0.75"], ["1", "0.5"]]


def test_auc_bad_inputs():
    with pytest.raises(DataError, match="2 scores but 3 labels"):
        ComputeAUC().update({"model": np.zeros(2), "label": np.zeros(3)})
    with pytest.raises(DataError, match="not a class"):
        ComputeAUC().update({"model": np.zeros(2), "label": np.array([5])})
    with pytest.raises(DataError, match="must hold numbers"):
        ComputeAUC().update({"model": np.array(["a", "b"]), "label": np.zeros(2)})
    metric = ComputeAUC()
    metric.update({"model": np.zeros(2), "label": np.zeros(2)})
    with pytest.raises(DataError, match="earlier cases 2"):
        metric.update({"model": np.zeros(3), "label": np.zeros(3)})
    with pytest.raises(ConfigError, match="Received: class_index=4"):
        ComputeAUC(class_index=4).update({"model": np.zeros(2), "label": np.zeros(2)})
    # Named by the metric's name: CheXpert's config has 15 ComputeAUCs.
    with pytest.raises(ConfigError, match="^ComputeAUC 'Edema': class_index must be below"):
        ComputeAUC(name="Edema", class_index=4).update({"model": np.zeros(2),
                                                        "label": np.zeros(2)})


@pytest.mark.parametrize("args", [{"auc_average": "weighted"}, {"class_index": -1},
                                  {"class_index": "0"}, {"label_field": ""}])
def test_auc_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        ComputeAUC(**args)


def test_auc_config_round_trip():
    metric = ComputeAUC(name="auc_1", auc_average="micro", class_index=2, is_key_metric=True)
    assert ComputeAUC(**metric.get_config()).get_config() == metric.get_config()


def test_dice_class_map_prediction_after_argmax():
    # an ArgmaxAcrossChannels output (1, *S) of class indices: classes scored separately
    pred = np.array([[0, 1, 2, 2, 2, 0]], np.float32)
    label = np.array([[0, 1, 1, 2, 2, 2]], np.float32)
    assert ComputeAverageDice().update({"model": pred, "label": label}) == pytest.approx(2 / 3)


def test_dice_onehot_label_scores_foreground_only():
    classes = np.array([[0, 1, 1, 2, 2, 2]])
    onehot = np.moveaxis(np.eye(3, dtype=np.float32)[classes[0]], -1, 0)  # (3, 6)
    pred = _onehot_probs(np.array([0, 1, 2, 2, 2, 0]), 3)
    assert ComputeAverageDice().update({"model": pred, "label": onehot}) == pytest.approx(2 / 3)


def test_a_metrics_csv_names_cases_as_metrics_per_case_csv_does(tmp_path):
    # validate puts the run's own name of each case on the sample: the metric's report_path
    # CSV used the label's path instead, so the two per-case tables of one run disagreed.
    from mmarctl.runtime.writers.case_names import CASE_KEY, CaseName

    metric = ComputeAverageDice(name="mean_dice", report_path=str(tmp_path))
    sample = _case([[1, 1]], [[1, 0]], name="labelsTs/a.nii")
    sample[CASE_KEY] = CaseName(key="imagesTs/a.nii", output="a", shown="a.nii")
    metric.update(sample)
    assert list(metric.per_case()) == ["imagesTs/a.nii"]
    metric.result()
    rows = list(csv.reader((tmp_path / "mean_dice_per_case.csv").open()))
    assert rows[1] == ["imagesTs/a.nii", "0.666667"]  # as metrics_per_case.csv writes it
