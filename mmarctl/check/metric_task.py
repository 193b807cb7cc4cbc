"""A metric held to the task of the network it scores.

ComputeAverageDice compares channels-first masks ``(C, *spatial)``; a classification
network predicts one score per class, so the metric refused the first case after a whole
epoch of training (or at validate's first case). The metrics carry no task of their own,
so the segmentation-only ones are listed here (:data:`SEGMENTATION_METRICS`).
"""

from __future__ import annotations

from typing import Any

from mmarctl.problems import Problem

#: Metrics that need a mask prediction (channels-first, with spatial axes).
SEGMENTATION_METRICS = frozenset({"ComputeAverageDice"})


def metric_task_problems(metrics: Any, key: str, task: str | None, file: str,
                         network_from: str) -> list[Problem]:
    """One problem per segmentation metric scoring a classification network.

    Args:
        metrics: the built metrics of list ``key`` (``val_metrics``, ``validate.metrics``);
            an entry not built is None.
        task: the training pipeline's task (None: unknown, nothing said).
        file: the config holding the metrics, as shown.
        network_from: the training config, for the message.
    """
    if task != "classification" or not isinstance(metrics, list):
        return []
    return [Problem(file, f"{key}[{index}].name", (
        f"{metric.clara_name} scores segmentation masks, but the network of {network_from} "
        "is a classification one (one score per class); use ComputeAUC"))
        for index, metric in enumerate(metrics)
        if metric is not None and getattr(metric, "clara_name", None) in SEGMENTATION_METRICS]
