"""Row 1: mmarctl's ComputeAverageDice against ``monai.metrics.DiceMetric`` (correctness).

Settings aligned: ``include_background=False`` for softmax outputs (mmarctl scores classes
``1..C-1`` of the argmaxed prediction), ``include_background=True`` for a single sigmoid
channel (thresholded at 0.5), ``reduction="none"``, then per case the mean over classes with
a value and over cases the mean of cases with a value (as ComputeAverageDice does).

Empty labels: no single MONAI setting equals mmarctl's rule. mmarctl leaves a class out
(NaN) when label *and* prediction are empty and scores 0 when only the label is empty.
MONAI's ``ignore_empty=True`` gives NaN whenever the label is empty (so it forgives false
positives); ``ignore_empty=False`` gives 1.0 when both are empty (so an absent organ counts
as a perfect case). mmarctl therefore equals ``ignore_empty=False`` with the both-empty
classes set to NaN; :func:`monai_case_dice` computes exactly that, and the row reports how
many classes each plain MONAI setting would disagree on.
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.monai.harness import CHECK, Figure

ROW = "1 Dice"
TOLERANCE = 1e-6


def dice_cases(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, channels-first probabilities ``(C, *S)``, class-index label ``(1, *S)``) cases.

    Covers 2D and 3D, 2 to 4 classes, a single sigmoid channel, and the empty-label cases:
    a class absent from label and prediction, a class absent from the label only, and a
    case whose label is all background.
    """
    rng = np.random.default_rng(seed)
    cases = []

    def noisy(label: np.ndarray, classes: int, flip: float) -> np.ndarray:
        """Softmax-like probabilities that argmax to ``label`` except on ``flip`` of voxels."""
        target = label[0].copy()
        wrong = rng.random(target.shape) < flip
        target[wrong] = rng.integers(0, classes, size=int(wrong.sum()))
        logits = rng.normal(0, 0.3, size=(classes, *target.shape))
        np.put_along_axis(logits, target[None].astype(np.int64), 3.0, axis=0)
        e = np.exp(logits - logits.max(axis=0, keepdims=True))
        return (e / e.sum(axis=0, keepdims=True)).astype(np.float32)

    for name, shape, classes in (("3d-2class", (32, 32, 32), 2), ("3d-3class", (24, 20, 16), 3),
                                 ("2d-4class", (64, 48), 4), ("3d-4class-odd", (17, 23, 9), 4)):
        label = rng.integers(0, classes, size=(1, *shape)).astype(np.float32)
        cases.append((name, noisy(label, classes, 0.2), label))
    # Class 2 absent from the label and from the prediction: NaN for that class.
    label = (rng.random((1, 20, 20, 12)) < 0.3).astype(np.float32)
    pred = noisy(label, 3, 0.0)
    cases.append(("absent-class-both", pred, label))
    # Class 2 absent from the label but predicted somewhere: a false positive scores 0.
    pred = noisy(label, 3, 0.0)
    pred[:, :3, :3, :3] = np.array([0.1, 0.1, 0.8], dtype=np.float32)[:, None, None, None]
    cases.append(("absent-class-label-only", pred, label))
    # All background in label and prediction: the case has no Dice and is left out.
    label = np.zeros((1, 16, 16, 16), dtype=np.float32)
    cases.append(("all-background", noisy(label, 2, 0.0), label))
    # One sigmoid channel, thresholded at 0.5.
    label = (rng.random((1, 24, 24, 24)) < 0.4).astype(np.float32)
    prob = np.clip(label + rng.normal(0, 0.35, size=label.shape), 0, 1).astype(np.float32)
    cases.append(("sigmoid-1channel", prob, label))
    return cases


def monai_class_dice(pred: np.ndarray, label: np.ndarray, ignore_empty: bool) -> np.ndarray:
    """Per-class Dice of one case by ``monai.metrics.DiceMetric`` (``reduction="none"``)."""
    import torch
    from monai.metrics import DiceMetric

    channels = pred.shape[0]
    if channels == 1:
        y_pred = torch.from_numpy(pred[None] > 0.5).float()
        y = torch.from_numpy(label[None] > 0.5).float()
        include_background = True
    else:
        winner = torch.from_numpy(np.argmax(pred, axis=0))
        y_pred = torch.nn.functional.one_hot(winner, channels).movedim(-1, 0)[None].float()
        index = torch.from_numpy(np.rint(label[0]).astype(np.int64))
        y = torch.nn.functional.one_hot(index, channels).movedim(-1, 0)[None].float()
        include_background = False
    metric = DiceMetric(include_background=include_background, reduction="none",
                        ignore_empty=ignore_empty)
    return metric(y_pred, y)[0].double().numpy()


def monai_case_dice(pred: np.ndarray, label: np.ndarray) -> float:
    """mmarctl's per-case rule computed with MONAI (see the module docstring)."""
    strict = monai_class_dice(pred, label, ignore_empty=False)
    lenient = monai_class_dice(pred, label, ignore_empty=True)
    both_empty = np.isnan(lenient) & (strict == 1.0)
    scores = np.where(both_empty, np.nan, strict)
    scores = scores[~np.isnan(scores)]
    return float(scores.mean()) if scores.size else math.nan


def mmarctl_metric():
    """The ComputeAverageDice mmarctl validation uses (the spleen scaffold's args)."""
    from mmarctl.runtime.metrics.average_dice import ComputeAverageDice

    return ComputeAverageDice(name="mean_dice", field="model", label_field="label")


def compare(cases) -> dict[str, float]:
    """Per-case and mean differences, plus disagreements of each plain MONAI setting."""
    metric = mmarctl_metric()
    ours, theirs = [], []
    off_lenient = off_strict = 0
    for name, pred, label in cases:
        sample = {"model": pred, "label": label,
                  "meta": {"label": {"filename": f"{name}.nii.gz"}}}
        ours.append(metric.update(sample))
        theirs.append(monai_case_dice(pred, label))
        strict = monai_class_dice(pred, label, ignore_empty=False)
        lenient = monai_class_dice(pred, label, ignore_empty=True)
        off_strict += int(np.sum(strict == 1.0) - np.sum(lenient == 1.0))
        off_lenient += int(np.sum(np.isnan(lenient) & (strict == 0.0)))
    ours_a, theirs_a = np.array(ours), np.array(theirs)
    if not np.array_equal(np.isnan(ours_a), np.isnan(theirs_a)):
        per_case = math.inf  # one tool left a case out and the other did not
    else:
        valid = ~np.isnan(ours_a)
        per_case = float(np.max(np.abs(ours_a[valid] - theirs_a[valid]), initial=0.0))
    mean_theirs = float(np.nanmean(theirs_a))
    return {"per_case": per_case, "mean": abs(metric.result() - mean_theirs),
            "mean_value": mean_theirs, "cases": len(cases),
            "off_lenient": off_lenient, "off_strict": off_strict}


def run(config: dict) -> list[Figure]:
    """The row's figures: max |difference| per case and of the mean."""
    result = compare(dice_cases(config.get("seed", 0)))
    note = (f"{result['cases']} cases (2D/3D, 1-4 classes, empty labels); include_background="
            f"False (True for 1 sigmoid channel); MONAI ignore_empty=False + both-empty->NaN. "
            f"Plain ignore_empty=True would differ on {result['off_lenient']} class(es), "
            f"ignore_empty=False on {result['off_strict']}")
    return [Figure(ROW, "max abs dDice per case", "", CHECK, result["per_case"],
                   tolerance=TOLERANCE, note=note),
            Figure(ROW, f"abs dDice of the mean ({result['mean_value']:.4f})", "", CHECK,
                   result["mean"], tolerance=TOLERANCE)]
