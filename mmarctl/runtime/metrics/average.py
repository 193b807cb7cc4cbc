"""ComputeAverage: the mean of a scalar field over validation cases."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mmarctl.runtime.metrics.base import Metric


class ComputeAverage(Metric):
    """Averages a per-case scalar, such as an aux-op tag (``"negloss"``, ``"dice_tc"``).

    Implements Clara's ``ComputeAverage``. Accepted args: ``name``, ``field``,
    ``is_key_metric``, ``report_path``. A field holding an array contributes the mean of
    its finite entries; a case whose value is NaN (or has no finite entry) is left out of
    the average.

    Args:
        name: metric name.
        field: the sample field holding the scalar.
        is_key_metric: selects the best checkpoint.
        report_path: folder for ``<name>_per_case.csv``, written by ``result()``.
    """

    clara_name = "ComputeAverage"

    def __init__(self, name: Any = "average", field: Any = "model", is_key_metric: Any = False,
                 report_path: Any = None) -> None:
        super().__init__(name=name, field=field, is_key_metric=is_key_metric,
                         report_path=report_path)

    def case_value(self, sample: dict[str, Any]) -> float:
        values = self.require_numbers(sample, self.field).ravel()
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else math.nan
