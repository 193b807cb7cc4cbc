"""The fields a validation case holds when validate's metrics read it, and the metric
fields that no step gives.

validate runs each case of the validation list through ``pre_transforms`` and
``label_transforms``, puts the prediction in ``"model"``, runs ``post_transforms`` and
hands the case to every metric of ``val_metrics``, which reads its ``field`` (the
prediction) and ``label_field``. A name nothing gives (a typo), or a label that no
transform loads, used to stop validate at its first case, after TensorFlow had started.
A field is in the case when:

* a loader among the transforms reads it (``loaders.fields_read``);
* a transform makes it: SplitBasedOnLabel's ``label_names``, SplitAcrossChannels'
  ``channel_names``, AddExtremePointsChannel's ``points_channel_field``
  (:data:`FIELD_MAKING_ARGS`);
* it is ``"model"``, the prediction;
* the list's items carry it as a value (a classification label vector); a file name
  there is only a name until a loader reads it.

The first three come from the config (:func:`metric_reads`); the last needs the
validation list (:func:`metric_field_problems`, called by :mod:`.data`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

from mmarctl.problems import Problem
from mmarctl.runtime.transforms.loaders import fields_read
from mmarctl.variables import is_disabled

#: The field the prediction is put in before post_transforms.
PREDICTION = "model"
#: Transform attributes (and args) that name the fields the transform makes.
FIELD_MAKING_ARGS = ("label_names", "channel_names", "points_channel_field")
#: The transform lists a validation case passes through before its metrics.
CHAINS = ("pre_transforms", "label_transforms", "post_transforms")
#: The metric args that name a field of the case.
METRIC_FIELD_ARGS = ("field", "label_field")


@dataclass(frozen=True)
class MetricRead:
    """A field a metric reads that the config's transforms do not give.

    Attributes:
        json_path: where the config names it (``val_metrics[0].args.label_field``).
        metric: the metric (or transform, writer), for messages
            (``ComputeAverageDice 'mean_dice'``).
        field: the field's name.
        load_in: see below.
    """

    json_path: str
    metric: str
    field: str
    #: Where a field that the items name as files must be loaded: ``label_transforms`` for
    #: validate's metrics; "" for a transform or writer (loaded before it, in its chain).
    load_in: str = "label_transforms"


def metric_reads(data: Mapping[str, Any], built: Mapping[str, Any], *,
                 chains: tuple[str, ...] = CHAINS, metrics: str = "val_metrics",
                 made: tuple[str, ...] = ()) -> tuple[tuple[MetricRead, ...], tuple[str, ...]]:
    """The metric fields the validation config's own steps do not give, and the fields they
    give (sorted).

    Nothing is returned when a step of a chain was not built (BYOC code, a component
    mmarctl does not implement, an entry with a problem of its own): it may make any field.

    Args:
        data: the validation config (placeholders substituted).
        built: ``ConstructorChecker.built`` of that config.
        chains, metrics: the transform lists before the metrics and the metrics' list (a
            training config's validation: ``("validate.pre_transforms",)`` and
            ``"validate.metrics"``).
        made: fields the case holds without a step (a classification label).
    """
    made = {PREDICTION, *made}
    for section in chains:
        specs, steps = dotted_get(data, section) or [], built.get(section) or []
        if not isinstance(specs, list) or len(specs) != len(steps):
            return (), ()
        for spec, step in zip(specs, steps):
            if step is None:
                if isinstance(spec, dict) and is_disabled(spec.get("disabled", False)):
                    continue
                return (), ()
            made.update(_made_by(step))
    reads = []
    for index, metric in enumerate(built.get(metrics) or []):
        for arg in METRIC_FIELD_ARGS:
            field = getattr(metric, arg, None)  # a metric not built (BYOC) is None
            if isinstance(field, str) and field not in made:
                reads.append(MetricRead(f"{metrics}[{index}].args.{arg}",
                                        f"{type(metric).clara_name} {metric.name!r}", field))
    return tuple(reads), tuple(sorted(made))


def dotted_get(data: Any, dotted: str) -> Any:
    """``data["train"]["pre_transforms"]`` for ``"train.pre_transforms"``; None where a part
    is missing or not an object."""
    for part in dotted.split("."):
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def made_by(step: Any) -> set[str]:
    """The fields a built step makes: those a loader loads and those it is told to make
    (:data:`FIELD_MAKING_ARGS`)."""
    made = set(fields_read([step]))
    for arg in FIELD_MAKING_ARGS:
        value = getattr(step, arg, None)
        if isinstance(value, str):
            made.add(value)
        elif isinstance(value, (list, tuple)):
            made.update(v for v in value if isinstance(v, str))
    return made


_made_by = made_by


def metric_field_problems(reads: tuple[MetricRead, ...], made: tuple[str, ...], items: list,
                          key: str, file: str) -> list[Problem]:
    """The metric fields that the items of the validation list do not give either.

    * no item has the field: a problem at the metric's JSON path, naming the case's fields
      (and the closest one);
    * the items name files there: nothing loads them, so validate has no labels to score
      against; a problem at ``label_transforms``, the list that loads them.

    Args:
        reads, made: from :func:`metric_reads`.
        items: the validation list's items as written (a string item is an image).
        key: the list's name (``validation``).
        file: the validation config, as shown.
    """
    cases = [{"image": item} if isinstance(item, str) else item for item in items]
    cases = [case for case in cases if isinstance(case, dict)]
    present = sorted(set(made).union(*(case.keys() for case in cases)))
    problems = []
    # One line per field, at the first metric reading it (Clara's 14-class CheXpert
    # config has 16 metrics reading "label").
    by_field: dict[str, list[MetricRead]] = {}
    for read in reads:
        by_field.setdefault(read.field, []).append(read)
    for field, readers in by_field.items():
        read = readers[0]
        others = (f" (and {len(readers) - 1} more metric{'s' if len(readers) > 2 else ''})"
                  if len(readers) > 1 else "")
        values = [case[field] for case in cases if field in case]
        if not values:
            close = difflib.get_close_matches(field, present, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(Problem(file, read.json_path, (
                f"{read.metric}{others} reads {field!r}, which no transform makes and no "
                f"{key!r} item has (a case holds {', '.join(present)}){hint}")))
        elif _files_named(values) and not read.load_in:
            problems.append(Problem(file, read.json_path, (
                f"{read.metric} reads {field!r}, which the {key!r} items name as files that "
                f"no transform before it loads; load it first (e.g. LoadNifti with fields "
                f"{field!r})")))
        elif _files_named(values):
            problems.append(Problem(file, "label_transforms", (
                f"validate needs labels: {read.json_path} ({read.metric}{others}) reads "
                f"{field!r}, which the {key!r} items name as files that no transform loads; "
                f"load it in label_transforms (e.g. LoadNifti with fields {field!r})")))
    return problems


def _names_files(value: Any) -> bool:
    return _file_name(value) or (isinstance(value, list) and bool(value)
                                 and all(_file_name(v) for v in value))


def _file_name(value: Any) -> bool:
    """A string that can name a file: not a number written in quotes (a class label
    ``"0"``, which the data check refuses as the item's own problem)."""
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def _files_named(values: list) -> bool:
    """The items name files in this field: some do, and none holds a value (one string
    among numbers is that item's mistake, which the data check names)."""
    return any(_names_files(v) for v in values) and not any(
        isinstance(v, (int, float)) or (isinstance(v, list) and v and all(
            isinstance(x, (int, float)) for x in v)) for v in values)
