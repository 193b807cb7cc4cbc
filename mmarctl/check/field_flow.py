"""The fields each step of a config reads, followed through the steps in the runtime's order.

A case is a dict of fields. The runtime passes it through the transforms of a chain in
order, then the network reads ``"image"`` and puts its prediction in ``"model"``, then the
post transforms, writers and metrics read what they name. A step that reads a field that no
step before it made (a typo, a crop placed before the loader, a loader taken out) used to
stop train, validate or infer at the first case, naming neither the config nor the JSON
path; ``check`` follows the fields here instead:

* ``train``:  ``train.pre_transforms`` -> network (reads ``image``);
* ``validate`` (a training config's validation): ``validate.pre_transforms`` -> network ->
  ``validate.metrics`` (:func:`.case_fields.metric_reads`);
* a validation config: ``pre_transforms`` + ``label_transforms`` -> network ->
  ``post_transforms`` -> ``writers`` (and ``val_metrics``, in :mod:`.case_fields`).

What a step reads is the runtime component's own field attributes (:data:`READ_ATTRS`, the
names every transform keeps its arguments under and calls ``require`` with); what it makes
is what :mod:`.case_fields` knows (loaders, :data:`.case_fields.FIELD_MAKING_ARGS`). A step
that was not built (BYOC code, a component mmarctl does not implement, an entry with a
problem of its own) may make any field: nothing after it is reported.

A field no step makes may still be carried by the data list's items (a class label, a
number): those reads are handed to the data check (:func:`.case_fields.metric_field_problems`)
as :class:`.case_fields.MetricRead` entries, as the metrics' reads are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from mmarctl.check.case_fields import PREDICTION, MetricRead, dotted_get, made_by
from mmarctl.problems import Problem
from mmarctl.runtime.transforms.loaders import FILE_LOADERS
from mmarctl.variables import is_disabled

#: The attributes under which a runtime transform or writer keeps the fields it reads (the
#: argument of the same name). A transform reads every field named there (``require``).
READ_ATTRS = ("fields", "field", "src_field", "image_field", "label_field", "from_field")
#: The field the network reads.
IMAGE = "image"
#: The chains a case passes through before the network, by config kind and section.
_BEFORE = {"train": ("train.pre_transforms",), "validate": ("validate.pre_transforms",),
           "validation": ("pre_transforms", "label_transforms")}
#: After the network: (section, family) for a validation config.
_AFTER = {"validation": (("post_transforms", "transforms"), ("writers", "writers"))}


@dataclass(frozen=True)
class FlowResult:
    """What following the fields of one chain found.

    Attributes:
        problems: reads that the config alone shows to fail (a field read before the loader
            that loads it, an image no transform loads).
        deferred: reads of a field no step makes; the data list's items may carry it (the
            data check decides, :func:`.case_fields.metric_field_problems`).
        made: every field some step makes, for the data check's messages.
    """

    problems: tuple[Problem, ...] = ()
    deferred: tuple[MetricRead, ...] = ()
    made: tuple[str, ...] = ()


def reads_of(step: Any) -> list[tuple[str, str]]:
    """``(attribute, field)`` for every field a built transform or writer reads (a loader
    reads none: it loads its fields from the data list's file names)."""
    if isinstance(step, FILE_LOADERS):
        return []
    found = []
    for attr in READ_ATTRS:
        value = getattr(step, attr, None)
        names = [value] if isinstance(value, str) else value
        if isinstance(names, (list, tuple)):
            found.extend((attr, name) for name in dict.fromkeys(names) if isinstance(name, str))
    return found


def follow(file: str, flow: str, data: Mapping[str, Any], built: Mapping[str, Any], *,
           value_fields: Iterable[str] = ()) -> FlowResult:
    """Follow the fields of one flow (``train``, ``validate`` or ``validation``).

    Args:
        file: the config, as shown in problems.
        flow: which flow of the config (see the module docstring).
        data: the config (placeholders substituted).
        built: ``ConstructorChecker.built`` of that config.
        value_fields: fields the data list's items carry as values, ready without a loader
            (a classification pipeline's ``label``).
    """
    if flow != "validation" and not isinstance(data.get(flow), Mapping):
        return FlowResult()  # no such section (a training config without validation)
    before = _BEFORE[flow]
    if all(dotted_get(data, section) is None for section in before):
        # No transform list written at all (a skeleton config): nothing to follow. A list
        # that is there but loads nothing is reported below.
        return FlowResult()
    steps = steps_of(data, built, before)
    if steps is None:
        return FlowResult()
    after = [(s, fam) for s, fam in _AFTER.get(flow, ())]
    later = steps_of(data, built, tuple(s for s, _ in after))
    loaders = {}  # field -> the JSON path of the first loader of it, in any chain
    for where, step in steps + (later or []):
        if step is not None:
            for field in made_by(step) if isinstance(step, FILE_LOADERS) else ():
                loaders.setdefault(field, where)
    made = set(value_fields)
    problems: list[Problem] = []
    deferred: list[MetricRead] = []
    reported: set[str] = set()

    def read(where: str, step: Any) -> None:
        for attr, field in reads_of(step):
            if field in made or field in reported:
                continue
            reported.add(field)
            name = type(step).clara_name
            path = f"{where}.args.{attr}"
            if field in loaders:
                problems.append(Problem(file, path, (
                    f"{name} reads {field!r} before any transform loads it (it is a file name "
                    f"until {loaders[field]} loads it); move {name} after the loader")))
            elif field == IMAGE:
                problems.append(_no_loader(file, before[0], f"{name} reads it"))
            else:
                deferred.append(MetricRead(path, name, field, load_in=""))

    for where, step in steps:
        if step is None:  # not built: it may make any field
            return FlowResult(tuple(problems), tuple(deferred), tuple(sorted(made)))
        read(where, step)
        made.update(made_by(step))
    if IMAGE not in made and IMAGE not in reported:
        problems.append(_no_loader(file, before[0], "the network reads it"))
    # validate and infer put the prediction in the case; train's step keeps it apart.
    made.update((IMAGE, PREDICTION) if flow != "train" else (IMAGE,))
    for where, step in later or []:
        if step is None:
            break
        read(where, step)
        made.update(made_by(step))
    return FlowResult(tuple(problems), tuple(deferred), tuple(sorted(made | set(loaders))))


def _no_loader(file: str, chain: str, why: str) -> Problem:
    return Problem(file, chain, f"no transform loads {IMAGE!r} ({why}); add a loader first, "
                   f'e.g. {{"name": "LoadNifti", "args": {{"fields": "{IMAGE}"}}}}')


def steps_of(data: Mapping[str, Any], built: Mapping[str, Any],
           sections: tuple[str, ...]) -> list[tuple[str, Any]] | None:
    """``(JSON path, built step)`` of the sections in order, disabled entries left out;
    None when a section's entries and built steps do not pair up (not checked)."""
    steps: list[tuple[str, Any]] = []
    for section in sections:
        specs = dotted_get(data, section)
        if specs is None:
            continue
        done = built.get(section)
        if not isinstance(specs, list) or not isinstance(done, list) or len(specs) != len(done):
            return None
        for index, (spec, step) in enumerate(zip(specs, done)):
            if step is None and isinstance(spec, dict) and is_disabled(spec.get("disabled", False)):
                continue
            steps.append((f"{section}[{index}]", step))
    return steps
