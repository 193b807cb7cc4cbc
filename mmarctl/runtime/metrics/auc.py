"""ComputeAUC: area under the ROC curve of classification outputs over all cases."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np

from mmarctl.errors import DataError
from mmarctl.runtime import argcheck
from mmarctl.runtime.metrics.base import Metric


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Exact ROC AUC of ``scores`` for binary ``labels`` (NaN without both classes).

    Computed as the Mann-Whitney statistic with mid-ranks, which is the probability that a
    random positive scores above a random negative, ties counting one half; it equals the
    trapezoidal area under the ROC curve.
    """
    scores = np.asarray(scores, np.float64).ravel()
    positive = np.asarray(labels).ravel() > 0.5
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, np.float64)
    # mid-rank of each run of equal scores (ranks start at 1)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + 1 + end) / 2.0
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


class ComputeAUC(Metric):
    """ROC AUC of per-case class scores against 0/1 labels, over the whole validation set.

    Implements Clara's ``ComputeAUC``. Accepted args: ``name``, ``field``, ``label_field``,
    ``auc_average``, ``class_index``, ``is_key_metric``, ``report_path``.

    Each case contributes a score vector ``(K,)`` (``field``, the network's probabilities)
    and a label vector ``(K,)`` of 0/1; a single class index as label is one-hot encoded.
    ``result()``:

    * ``class_index`` set: the AUC of that class alone;
    * ``auc_average="macro"`` (default): the mean of the per-class AUCs;
    * ``auc_average="micro"``: one AUC over all (score, label) pairs pooled.

    A class whose labels are all 0 or all 1 has no AUC (NaN) and is left out of the macro
    mean. AUC belongs to the set, not to a case: ``per_case()`` is empty, and the report
    (``report_path``) lists one AUC per class in ``<name>_per_class.csv``.

    Args:
        name: metric name.
        field: prediction field. Default ``"model"``.
        label_field: label field. Default ``"label"``.
        auc_average: ``"macro"`` or ``"micro"``.
        class_index: score only this class (0-based), or None for all.
        is_key_metric: selects the best checkpoint.
        report_path: folder for the per-class report.
    """

    clara_name = "ComputeAUC"

    def __init__(self, name: Any = "auc", field: Any = "model", label_field: Any = "label",
                 auc_average: Any = "macro", class_index: Any = None,
                 is_key_metric: Any = False, report_path: Any = None) -> None:
        component = self.clara_name
        self.label_field = argcheck.as_name(label_field, component=component,
                                            arg="label_field")
        self.auc_average = argcheck.as_choice(auc_average, ("macro", "micro"),
                                              component=component, arg="auc_average")
        self.class_index = (None if class_index is None else
                            argcheck.as_int(class_index, component=component,
                                            arg="class_index", minimum=0))
        super().__init__(name=name, field=field, label_field=label_field,
                         auc_average=auc_average, class_index=class_index,
                         is_key_metric=is_key_metric, report_path=report_path)
        self._scores: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def update(self, sample: dict[str, Any]) -> float:
        """Add one case's scores and labels; returns NaN (AUC has no per-case value)."""
        scores = self.require_numbers(sample, self.field).ravel()
        labels = self.require_numbers(sample, self.label_field).ravel()
        if labels.size == 1 and scores.size > 1:
            index = int(round(labels[0]))
            if not 0 <= index < scores.size:
                raise DataError(f"{component_of(self)}: label {labels[0]} is not a class of "
                                f"{scores.size} in case {self._case_name(sample)}")
            labels = np.eye(scores.size)[index]
        if labels.shape != scores.shape:
            raise DataError(f"{component_of(self)}: {scores.size} scores but {labels.size} "
                            f"labels in case {self._case_name(sample)}",
                            hint="the network's num_classes must match the label vector")
        if self._scores and scores.shape != self._scores[0].shape:
            raise DataError(f"{component_of(self)}: case {self._case_name(sample)} has "
                            f"{scores.size} classes, earlier cases {self._scores[0].size}")
        if self.class_index is not None and self.class_index >= scores.size:
            # Named by the metric's own name: CheXpert's config has 15 ComputeAUCs.
            raise argcheck.fail(component_of(self), "class_index",
                                f"below the number of classes ({scores.size})",
                                self.class_index)
        self._scores.append(scores)
        self._labels.append(labels)
        return math.nan

    def per_class(self) -> list[float]:
        """The AUC of each class over the cases seen so far."""
        if not self._scores:
            return []
        scores, labels = np.stack(self._scores), np.stack(self._labels)
        return [roc_auc(scores[:, c], labels[:, c]) for c in range(scores.shape[1])]

    def value(self) -> float:
        """The AUC as configured (NaN when undefined, e.g. one label value only)."""
        if not self._scores:
            return math.nan
        scores, labels = np.stack(self._scores), np.stack(self._labels)
        if self.class_index is not None:
            return roc_auc(scores[:, self.class_index], labels[:, self.class_index])
        if self.auc_average == "micro":
            return roc_auc(scores, labels)
        values = np.array(self.per_class())
        valid = values[~np.isnan(values)]
        return float(valid.mean()) if valid.size else math.nan

    #: The AUC is over every case's scores and labels (their order does not change it).
    shared_fields = ("_cases", "_scores", "_labels")

    def per_case(self) -> dict[str, float]:
        """Empty: AUC is a property of the set of cases."""
        return {}

    def reset(self) -> None:
        """Forget every case."""
        super().reset()
        self._scores, self._labels = [], []

    def report_file(self) -> tuple[str, str]:
        """(``<name>_per_class.csv``, its text): columns ``class``, ``<name>``."""
        table = io.StringIO(newline="")
        writer = csv.writer(table)
        writer.writerow(["class", self.name])
        writer.writerows(enumerate(self.per_class()))
        return f"{self.name}_per_class.csv", table.getvalue()


def component_of(metric: Metric) -> str:
    """``ComputeAUC 'auc'`` for messages."""
    return f"{metric.clara_name} {metric.name!r}"
