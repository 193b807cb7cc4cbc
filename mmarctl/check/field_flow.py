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

from mmarctl.check.case_fields import (METRIC_FIELD_ARGS, PREDICTION, MetricRead,
                                      dotted_get, made_by)
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
    """Follow the fields of one flow (``train``, ``validate`` or ``validation``), the
    channels of its image (:func:`channel_problems`), and what its metrics score
    (:func:`scored_input_problems`, :func:`aux_tag_reads`).

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
    found = _follow_fields(file, flow, data, built, value_fields)
    extra = [*channel_problems(file, flow, data, built), *scored_input_problems(file, flow, built),
             *aux_op_problems(file, flow, built)]
    deferred, made = aux_tag_reads(flow, data, built, found.made)
    return FlowResult((*found.problems, *extra), (*found.deferred, *deferred), made)


def _follow_fields(file: str, flow: str, data: Mapping[str, Any], built: Mapping[str, Any],
                   value_fields: Iterable[str]) -> FlowResult:
    """The fields of the flow's chains followed step by step (see the module docstring)."""
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

    loaded: dict[str, str] = {}  # field -> the JSON path of the loader that loaded it
    for where, step in steps:
        if step is None:  # not built: it may make any field
            return FlowResult(tuple(problems), tuple(deferred), tuple(sorted(made)))
        read(where, step)
        if isinstance(step, FILE_LOADERS):
            problems.extend(_loaded_twice(file, where, step, loaded))
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


def _loaded_twice(file: str, where: str, step: Any, loaded: dict[str, str]) -> list[Problem]:
    """A loader of a field an earlier loader loaded (``label`` in a validation config's
    ``pre_transforms`` and again in its ``label_transforms``): the second one gets an
    array, not a file name, and every case stops there."""
    problems = []
    for field in made_by(step):
        if field in loaded:
            problems.append(Problem(file, f"{where}.args.fields", (
                f"{type(step).clara_name} loads {field!r}, which {loaded[field]} already "
                f"loads; load each field once (drop {field!r} from one loader's fields)")))
        else:
            loaded[field] = where
    return problems


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


#: The arguments under which an aux op names the fields (tags) it puts in a validation case.
AUX_TAG_ATTRS = ("tag", "tags", "binary_preds_name", "binary_labels_name")
#: The metrics of each flow, by the section that lists them.
_METRICS = {"validate": "validate.metrics", "validation": "val_metrics"}


def aux_tags(built: Mapping[str, Any]) -> set[str] | None:
    """The tags ``train.aux_ops`` put in each validation case (train's validation runs
    them on every case, :func:`mmarctl.runtime.training.tf_engine.make_aux`); None when an
    aux op was not built (BYOC code, a problem of its own): it may put any tag."""
    tags: set[str] = set()
    for op in built.get("train.aux_ops") or []:
        if op is None:
            return None
        for attr in AUX_TAG_ATTRS:
            value = getattr(op, attr, None)
            tags.update([value] if isinstance(value, str) else
                        [v for v in value if isinstance(v, str)]
                        if isinstance(value, (list, tuple)) else [])
    return tags


def aux_tag_reads(flow: str, data: Mapping[str, Any], built: Mapping[str, Any],
                  made: tuple[str, ...]) -> tuple[tuple[MetricRead, ...], tuple[str, ...]]:
    """With ``train.aux_ops``, the fields ``validate.metrics`` read that neither a step of
    ``validate.pre_transforms``, the prediction nor an aux op's tag gives (a misspelt tag),
    for the data check to hold against the items (:func:`.case_fields.metric_field_problems`),
    and ``made`` with the tags added. Without aux ops (the metrics are followed by
    :func:`.case_fields.metric_reads`), or with a step or aux op not built, nothing is read.
    """
    if flow != "validate" or not dotted_get(data, "train.aux_ops"):
        return (), made
    tags = aux_tags(built)
    steps = steps_of(data, built, ("validate.pre_transforms",))
    if tags is None or steps is None or any(step is None for _, step in steps):
        return (), made
    have = {*made, *tags, IMAGE, PREDICTION}
    reads = []
    for index, metric in enumerate(built.get("validate.metrics") or []):
        for arg in METRIC_FIELD_ARGS:
            field = getattr(metric, arg, None)  # a metric not built (BYOC) is None
            if isinstance(field, str) and field not in have:
                reads.append(MetricRead(f"validate.metrics[{index}].args.{arg}",
                                        f"{type(metric).clara_name} {metric.name!r}", field,
                                        load_in=""))
    return tuple(reads), tuple(sorted(have))


def aux_op_problems(file: str, flow: str, built: Mapping[str, Any]) -> list[Problem]:
    """``train.aux_ops`` whose tags do not fit the network's channels (DiceMaskedOutput's
    ``tags``: one per scored channel, or one more for the mean), at
    ``train.aux_ops[i].args.tags``, in the op's own words (train refused them at its
    first step). Nothing is said when the network's ``num_classes`` is unknown."""
    from mmarctl.errors import ConfigError

    classes = getattr(built.get("train.model"), "num_classes", None)
    if flow != "train" or not isinstance(classes, int) or isinstance(classes, bool):
        return []
    problems = []
    for index, op in enumerate(built.get("train.aux_ops") or []):
        check, scored = getattr(op, "check_channels", None), getattr(op, "scored_channels", None)
        if check is None or scored is None:
            continue
        try:
            check(scored(classes))
        except ConfigError as error:
            said, _, received = error.message.partition("; Received:")
            skip = ", skip_background true" if getattr(op, "skip_background", False) else ""
            problems.append(Problem(file, f"train.aux_ops[{index}].args.tags", (
                f"{said} (train.model.args.num_classes is {classes}{skip})"
                f"{'; Received:' + received if received else ''}")))
    return problems


def scored_input_problems(file: str, flow: str, built: Mapping[str, Any]) -> list[Problem]:
    """Metrics whose ``field`` (what they score, the prediction) is ``image``, the
    network's input: a Dice of the thresholded CT against the label is the same every
    epoch, so train would keep its first checkpoint as the "best" one without a word (and
    validate stops at the first case: the input is not on the prediction's grid). A
    problem, not a note: no one means to score the input image."""
    section = _METRICS.get(flow)
    problems = []
    for index, metric in enumerate((built.get(section) or []) if section else []):
        if metric is not None and getattr(metric, "field", None) == IMAGE:
            problems.append(Problem(file, f"{section}[{index}].args.field", (
                f"{type(metric).clara_name} {metric.name!r} scores {IMAGE!r}, the network's "
                f"input; the prediction is {PREDICTION!r} (set \"field\": \"{PREDICTION}\")")))
    return problems


def channel_effect(steps: list[tuple[str, Any]]) -> tuple[int, int, list[str]] | None:
    """How a chain changes the image's channel count ``c``: ``(a, b, steps)`` for
    ``a * c + b`` (RepeatChannel multiplies, AddExtremePointsChannel adds one) and the
    steps that change it, as ``path Name``; None when it cannot be known (a step not built,
    SplitAcrossChannels)."""
    from mmarctl.runtime.transforms.channels import RepeatChannel
    from mmarctl.runtime.transforms.extreme_points import AddExtremePointsChannel

    a, b, changing = 1, 0, []
    for where, step in steps:
        if step is None or type(step).clara_name == "SplitAcrossChannels":
            return None
        if isinstance(step, RepeatChannel) and IMAGE in step.fields:
            a, b = a * step.repeat_times, b * step.repeat_times
            changing.append(f"{where} RepeatChannel")
        elif isinstance(step, AddExtremePointsChannel) and step.image_field == IMAGE:
            b += 1
            changing.append(f"{where} AddExtremePointsChannel")
    return a, b, changing


def channel_problems(file: str, flow: str, data: Mapping[str, Any],
                     built: Mapping[str, Any]) -> list[Problem]:
    """The image channels a training config's chains give, held to the network's
    (``train.image_pipeline``'s ``output_image_channels``):

    * ``train``: channel-adding transforms that give more channels than
      ``output_image_channels`` from any image (train stops at its first batch);
    * ``validate``: a validation chain that changes the channels otherwise than the
      training chain (AddExtremePointsChannel in ``train.pre_transforms`` only): the same
      files then reach the network with another channel count, and train stops in
      validation after its first epoch, before any checkpoint.

    Files' own channel counts are the data check's (:mod:`.images`).
    """
    if flow not in ("train", "validate"):
        return []
    channels = getattr(built.get("train.image_pipeline"), "image_channels", None)
    if not isinstance(channels, int):
        return []
    train_steps = steps_of(data, built, ("train.pre_transforms",))
    train = channel_effect(train_steps) if train_steps is not None else None
    if train is None:
        return []
    a, b, changing = train
    files = (channels - b) / a  # the files' channels that give the network's
    if flow == "train":
        if changing and (files < 1 or files != int(files)):
            gives = (f"at least {a + b} image channels" if a + b > channels else
                     f"{a} x c + {b} image channels from a c-channel image, never {channels}")
            return [Problem(file, "train.image_pipeline.args.output_image_channels", (
                f"the transforms give {gives} ({', '.join(changing)}), but "
                f"output_image_channels is {channels}; set it to the channels the network "
                "should take"))]
        return []
    if built.get("validate.image_pipeline") is None or files < 1 or files != int(files):
        return []
    steps = steps_of(data, built, ("validate.pre_transforms",))
    valid = channel_effect(steps) if steps is not None else None
    if valid is None or valid[:2] == (a, b):
        return []
    gives = valid[0] * int(files) + valid[1]
    missing = _absent_steps(changing, valid[2])
    why = (f" ({', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in "
           "validate.pre_transforms)" if missing else
           f" (train: {', '.join(changing) or 'none'}; validate: {', '.join(valid[2])})")
    return [Problem(file, "validate.pre_transforms", (
        f"the validation images get {gives} channel(s) but the network takes {channels}"
        f"{why}; change the channels as train.pre_transforms does"))]


def _absent_steps(changing: list[str], other: list[str]) -> list[str]:
    """The channel-changing steps (``train.pre_transforms[5] AddExtremePointsChannel``)
    whose transform the other chain's steps do not have."""
    present = {step.split()[-1] for step in other}
    return [step for step in changing if step.split()[-1] not in present]


def _written_effect(specs: Any, section: str) -> tuple[int, int, list[str]] | None:
    """:func:`channel_effect` of a chain as written (a config not built here: the training
    config seen from a validation config's check); None when it cannot be known
    (SplitAcrossChannels, an argument that is not what the transform takes)."""
    if specs is None:
        specs = []
    if not isinstance(specs, list):
        return None
    a, b, changing = 1, 0, []
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or is_disabled(spec.get("disabled", False)):
            continue
        name = str(spec.get("name") or spec.get("ref") or "").split("#")[0]
        args = spec.get("args") if isinstance(spec.get("args"), Mapping) else {}
        if name == "SplitAcrossChannels":
            return None
        if name == "RepeatChannel":
            fields = args.get("fields")
            times = args.get("repeat_times", 3)
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                return None
            if IMAGE in ([fields] if isinstance(fields, str) else fields or ()):
                a, b = a * times, b * times
                changing.append(f"{section}[{index}] RepeatChannel")
        elif name == "AddExtremePointsChannel" and args.get("image_field", IMAGE) == IMAGE:
            b += 1
            changing.append(f"{section}[{index}] AddExtremePointsChannel")
    return a, b, changing


def validation_channel_problems(train: Mapping[str, Any], train_file: str,
                                validation: Mapping[str, Any], file: str,
                                channels: int | None) -> list[Problem]:
    """A validation config whose ``pre_transforms`` change the image channels otherwise
    than the training config's ``train.pre_transforms`` (AddExtremePointsChannel in the
    training config only), at ``file: pre_transforms``: validate and infer then feed the
    network images with another channel count. They refused it blaming the validation
    list's image files, which hold the channels the training files hold.

    Args:
        train: the training config (placeholders substituted); ``train_file``: as shown.
        validation: the validation config; ``file``: as shown.
        channels: the network's image channels (``output_image_channels``); None: unknown.
    """
    if not isinstance(channels, int):
        return []
    section = train.get("train") if isinstance(train.get("train"), Mapping) else {}
    trained = _written_effect(section.get("pre_transforms"), "train.pre_transforms")
    evaluated = _written_effect(validation.get("pre_transforms"), "pre_transforms")
    if trained is None or evaluated is None or evaluated[:2] == trained[:2]:
        return []
    a, b, changing = trained
    files = (channels - b) / a  # the files' channels that give the network's
    if files < 1 or files != int(files):
        return []  # the training config's own line (output_image_channels)
    gives = evaluated[0] * int(files) + evaluated[1]
    if gives == channels:
        return []
    missing = _absent_steps(changing, evaluated[2])
    why = (f" ({train_file}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
           "not in pre_transforms)" if missing else
           f" ({train_file}: {', '.join(changing) or 'none'}; here: {', '.join(evaluated[2])})")
    return [Problem(file, "pre_transforms", (
        f"the images get {gives} channel(s) but the network takes {channels}{why}; change "
        f"the channels as {train_file}'s train.pre_transforms does"))]
