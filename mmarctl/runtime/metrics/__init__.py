"""Validation metrics: Clara names -> ``module:Class``. Importing this imports no TensorFlow.

Contract (docs/architecture.md): metrics are NumPy. ``metric.update(sample)`` reads one case
in Clara's channels-first layout, ``result()`` is the average over cases, ``per_case()`` maps
case names to values and ``reset()`` starts over.
"""

NAMES = {
    "ComputeAverageDice": "average_dice:ComputeAverageDice",
    "ComputeAverage": "average:ComputeAverage",
    "ComputeAUC": "auc:ComputeAUC",
}

__all__ = ["NAMES"]
