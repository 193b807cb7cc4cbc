"""The metric contract: per-case values collected by ``update``, averaged by ``result``."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mmarctl.errors import DataError, RuntimeFailure
from mmarctl.runtime import argcheck
from mmarctl.runtime.component import Component
from mmarctl.runtime.writers.case_names import CASE_KEY


class Metric(Component):
    """Base class of validation metrics.

    Subclasses compute one float per case in :meth:`case_value`; this class keeps them in
    arrival order, names cases after the file they came from, averages them (NaN cases are
    left out of the mean) and optionally writes the per-case values as CSV.

    Args (common to all Clara metrics):
        name: the metric's name in logs and reports.
        field: the sample field holding the prediction (``"model"`` during training).
        is_key_metric: the metric that selects the best checkpoint.
        report_path: a folder; when set, :meth:`result` writes ``<name>_per_case.csv`` there.
    """

    def __init__(self, *, name: Any, field: Any, is_key_metric: Any = False,
                 report_path: Any = None, **config: Any) -> None:
        component = self.clara_name
        self.name = argcheck.as_name(name, component=component, arg="name")
        self.field = argcheck.as_name(field, component=component, arg="field")
        self.is_key_metric = argcheck.as_bool(is_key_metric, component=component,
                                              arg="is_key_metric")
        if report_path is not None and report_path != "":
            argcheck.as_name(report_path, component=component, arg="report_path")
        self.report_path = report_path or None
        super().__init__(name=name, field=field, is_key_metric=is_key_metric,
                         report_path=report_path, **config)
        self._cases: list[tuple[str, float]] = []

    def case_value(self, sample: dict[str, Any]) -> float:
        """This metric's value for one case (NaN when the case does not count)."""
        raise NotImplementedError

    def update(self, sample: dict[str, Any]) -> float:
        """Add one case; returns its value."""
        value = float(self.case_value(sample))
        self._cases.append((self._case_name(sample), value))
        return value

    def result(self) -> float:
        """The metric's value (:meth:`value`); writes its report when ``report_path`` is set."""
        value = self.value()
        if self.report_path:
            self.write_report(Path(self.report_path))
        return value

    def value(self) -> float:
        """The mean over cases with a value (NaN when there is none), writing nothing."""
        values = np.array([v for _, v in self._cases], dtype=np.float64)
        valid = values[~np.isnan(values)]
        return float(valid.mean()) if valid.size else math.nan

    def per_case(self) -> dict[str, float]:
        """Case name -> value, in the order the cases were seen."""
        return dict(self._cases)

    def reset(self) -> None:
        """Forget every case."""
        self._cases = []

    #: The attributes (lists) that hold what :meth:`update` has seen: what
    #: :meth:`state` hands to another process and :meth:`absorb` takes in.
    shared_fields: tuple[str, ...] = ("_cases",)

    def state(self) -> dict[str, list]:
        """What this metric has seen, picklable: validate over several processes gathers
        every rank's (:mod:`mmarctl.runtime.evaluation_ranks`)."""
        return {name: list(getattr(self, name)) for name in self.shared_fields}

    def absorb(self, states: list[dict[str, list]],
               order: Mapping[str, int] | None = None) -> None:
        """Hold exactly the cases of ``states`` (every rank's :meth:`state`), as if one
        process had seen them all; ``order`` (case name -> place in the datalist) sorts the
        per-case values back into the datalist's order."""
        self.reset()
        for state in states:
            for name in self.shared_fields:
                getattr(self, name).extend(state[name])
        if order is not None:
            last = len(order)
            self._cases.sort(key=lambda case: order.get(case[0], last))

    def report_file(self) -> tuple[str, str]:
        """(file name, CSV text) of this metric's report: ``<name>_per_case.csv`` with
        columns ``case``, ``<name>``. Validation writes it with the other eval/ reports,
        renamed into place together."""
        table = io.StringIO(newline="")
        writer = csv.writer(table)
        writer.writerow(["case", self.name])
        writer.writerows((case, f"{value:.6f}") for case, value in self._cases)
        return f"{self.name}_per_case.csv", table.getvalue()

    def write_report(self, folder: Path) -> Path:
        """Write :meth:`report_file` into ``folder``."""
        name, text = self.report_file()
        path = folder / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            raise RuntimeFailure(f"{self.clara_name} {self.name!r}: cannot write report: {error}",
                                 file=path, hint="check report_path") from error
        return path

    def require(self, sample: dict[str, Any], field: str) -> np.ndarray:
        """``sample[field]`` as an array, or a DataError naming the field, metric and case."""
        if field not in sample:
            present = ", ".join(sorted(k for k in sample if k != "meta"))
            raise DataError(f"{self.clara_name} {self.name!r}: field {field!r} is missing in "
                            f"case {self._case_name(sample)} (fields present: {present})",
                            hint="set the metric's field/label_field to a field the pipeline "
                                 "produces")
        return np.asarray(sample[field])

    def require_numbers(self, sample: dict[str, Any], field: str) -> np.ndarray:
        """``sample[field]`` as float64, or a DataError when it does not hold numbers."""
        raw = self.require(sample, field)
        try:
            return raw.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{self.clara_name} {self.name!r}: field {field!r} must hold "
                            f"numbers; got {raw.dtype} in case {self._case_name(sample)}",
                            hint="point the metric at a numeric field") from None

    def _case_name(self, sample: dict[str, Any]) -> str:
        named = sample.get(CASE_KEY)  # validate/infer: the run's own name for the case, so
        if named is not None:         # this CSV and metrics_per_case.csv list the same keys
            return str(named.key)
        meta = sample.get("meta") or {}
        for field in (getattr(self, "label_field", None), self.field, "image", "label"):
            props = meta.get(field) if field else None
            if isinstance(props, dict) and props.get("filename"):
                return str(props["filename"])
        for props in meta.values():
            if isinstance(props, dict) and props.get("filename"):
                return str(props["filename"])
        return f"case_{len(self._cases)}"
