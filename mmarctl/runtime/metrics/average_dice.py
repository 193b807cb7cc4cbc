"""ComputeAverageDice: per-case Dice of the foreground classes, averaged over cases."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mmarctl.errors import DataError
from mmarctl.runtime import argcheck
from mmarctl.runtime.metrics.base import Metric


def class_masks(pred: np.ndarray, label: np.ndarray,
                num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean foreground masks ``(K, *S)`` of prediction and label, one per scored class.

    ``pred`` is channels-first ``(C, *S)``; ``label`` is a class-index map ``(1, *S)`` or
    ``(*S)``, or a ``C``-channel 0/1 label ``(C, *S)``.

    * ``C > 1``, index-map label: the prediction is argmaxed over channels and both are
      one-hot encoded; classes ``1 .. C-1`` are scored (background left out). A label value
      outside ``0 .. C-1`` (a 0/255 mask for a 2-class net) raises :class:`LabelValuesError`
      instead of scoring as background.
    * ``C > 1``, one-hot label (channels sum to 1 at every voxel): as above, with the
      label's argmax as its class.
    * ``C > 1``, one-hot label with unlabelled voxels (channels sum to 0 there, e.g. zero
      padding from SymmetricPadderDiv) and a softmax prediction (channels sum to 1 where the
      label is labelled): still one-hot, and the unlabelled voxels are not scored. Zero
      padding thus never switches a case to the overlapping rule below.
    * ``C > 1``, other ``C``-channel label (overlapping channels, e.g. after
      ConvertToMultiChannelBasedOnBratsClasses): each channel is its own binary task,
      prediction > 0.5; all ``C`` channels are scored.
    * ``C == 1`` holding whole numbers (a class map, e.g. after ArgmaxAcrossChannels):
      classes ``1 .. max(pred, label)`` are scored. When ``num_classes`` is known
      (ArgmaxAcrossChannels records it), a label value outside ``0 .. num_classes-1``
      raises :class:`LabelValuesError`.
    * ``C == 1`` otherwise (a sigmoid probability): prediction > 0.5 against label > 0.5.
    """
    if pred.ndim < 2:
        raise ValueError(f"prediction must be channels-first (C, *spatial); got shape {pred.shape}")
    channels, spatial = pred.shape[0], pred.shape[1:]
    if label.shape == spatial:
        label = label[None]
    if label.shape[1:] != spatial or label.shape[0] not in {1, channels}:
        raise ValueError(f"label shape {label.shape} does not match prediction shape "
                         f"{pred.shape} (expected (1, *spatial) or ({channels}, *spatial))")
    if channels == 1:
        if np.all(np.mod(pred, 1) == 0):
            if num_classes and num_classes > 1:
                _check_classes(label, num_classes)
            top = int(max(pred.max(initial=0), np.rint(label).max(initial=0)))
            return _one_hot(pred[0], top), _one_hot(label[0], top)
        return pred > 0.5, label > 0.5
    scored = None  # voxels that count; None: all of them
    if label.shape[0] == channels:
        sums = label.sum(axis=0)
        labelled = np.isclose(sums, 1.0)
        if not labelled.all():
            # Unlabelled (sum 0) voxels alone do not make channels "overlapping": with a
            # softmax prediction the channels are exclusive classes with a background channel.
            gaps_only = labelled.any() and np.all(labelled | np.isclose(sums, 0.0))
            if not (gaps_only and np.allclose(pred.sum(axis=0)[labelled], 1.0, atol=1e-3)):
                return pred > 0.5, label > 0.5
            scored = labelled
        label = np.argmax(label, axis=0)[None]
    else:
        _check_classes(label, channels)
    pred_masks = _one_hot(np.argmax(pred, axis=0), channels - 1)
    if scored is not None:
        pred_masks &= scored[None]  # label masks are empty there already (argmax 0)
    return pred_masks, _one_hot(label[0], channels - 1)


class LabelValuesError(ValueError):
    """A class-index label holds values the prediction has no channel for."""


def _check_classes(label: np.ndarray, channels: int) -> None:
    """Refuse class indices outside ``0 .. channels-1``: they would score as background."""
    if not label.size:
        return
    low, high = float(label.min()), float(label.max())
    if low < 0 or high > channels - 1:
        raise LabelValuesError(f"label values {low:g}..{high:g} are outside 0..{channels - 1} "
                               f"(num_classes={channels})")


def _one_hot(classes: np.ndarray, top: int) -> np.ndarray:
    """Masks ``(top, *S)`` of classes ``1 .. top`` in a class-index array."""
    wanted = np.arange(1, top + 1).reshape((-1,) + (1,) * classes.ndim)
    return np.rint(classes).astype(np.int64)[None] == wanted


def dice_per_class(pred_masks: np.ndarray, label_masks: np.ndarray) -> np.ndarray:
    """``2|P & L| / (|P| + |L|)`` per class (first axis); NaN where both masks are empty."""
    axes = tuple(range(1, pred_masks.ndim))
    intersection = np.logical_and(pred_masks, label_masks).sum(axis=axes, dtype=np.float64)
    total = pred_masks.sum(axis=axes, dtype=np.float64) + label_masks.sum(axis=axes,
                                                                           dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * intersection / total, math.nan)


class ComputeAverageDice(Metric):
    """Mean Dice over validation cases (each case: mean over its foreground classes).

    Implements Clara's ``ComputeAverageDice``. Accepted args: ``name``, ``field``,
    ``label_field``, ``is_key_metric``, ``is_2d``, ``report_path``. How predictions are
    binarised is described in :func:`class_masks` (argmax for multi-class softmax output,
    0.5 threshold for one channel).

    Empty-label rule (Clara left it undocumented): a class whose label *and* prediction are
    both empty has no Dice (NaN) and is left out of the case's mean; a case with no scored
    class at all is NaN and left out of the average over cases, like MONAI's
    ``DiceMetric(ignore_empty=True)``. A class absent from the label but predicted scores
    0, so false positives are penalised (MONAI's ``ignore_empty=False`` value; with
    ``ignore_empty=True`` MONAI gives NaN there). Wherever the label holds the class, all
    three agree; ``tests/test_monai_parity.py`` checks this against MONAI itself.

    Args:
        name: metric name (e.g. ``"mean_dice"``).
        field: prediction field, channels-first probabilities. Default ``"model"``.
        label_field: label field. Default ``"label"``.
        is_key_metric: selects the best checkpoint.
        is_2d: Clara's flag for 2D data; recorded only, the dimensionality is read from the
            arrays (any number of spatial axes works).
        report_path: folder for ``<name>_per_case.csv``, written by ``result()``.
    """

    clara_name = "ComputeAverageDice"

    def __init__(self, name: Any = "mean_dice", field: Any = "model",
                 label_field: Any = "label", is_key_metric: Any = False, is_2d: Any = False,
                 report_path: Any = None) -> None:
        self.label_field = argcheck.as_name(label_field, component=self.clara_name,
                                            arg="label_field")
        self.is_2d = argcheck.as_bool(is_2d, component=self.clara_name, arg="is_2d")
        super().__init__(name=name, field=field, label_field=label_field,
                         is_key_metric=is_key_metric, is_2d=is_2d, report_path=report_path)

    def case_value(self, sample: dict[str, Any]) -> float:
        pred = self.require(sample, self.field)
        label = self.require(sample, self.label_field)
        try:
            props = (sample.get("meta") or {}).get(self.field)
            classes = props.get("num_classes") if isinstance(props, dict) else None
            pred_masks, label_masks = class_masks(pred, label, classes)
        except LabelValuesError as error:
            # the same line as the training pipeline's label check: file first
            raise DataError(f"{self._case_name(sample)}: {error}",
                            hint="fix the label file or num_classes in the model's args") from None
        except ValueError as error:
            raise DataError(f"{self.clara_name} {self.name!r} in case "
                            f"{self._case_name(sample)}: {error}",
                            hint="prediction and label must cover the same voxels") from None
        scores = dice_per_class(pred_masks, label_masks)
        scores = scores[~np.isnan(scores)]
        return float(scores.mean()) if scores.size else math.nan
