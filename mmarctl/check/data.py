"""Check a data-split list (DATASET_JSON), that the files its items name exist, that each
item has the fields the pipeline's loaders read, and the NIfTI headers (:mod:`.images`).

Item paths are relative to DATA_ROOT (the pipeline's ``data_file_base_dir``) or absolute.
Only string ``image``/``label`` values are files; a number or a 0/1 vector is a class label.
"""

from __future__ import annotations

import json
import os
import re
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmarctl.check.case_fields import MetricRead, metric_field_problems
from mmarctl.check.images import (Geometry, file_kind, header_problems, listed,
                                  pair_problems, png_problems)
from mmarctl.check.label_values import LABEL, READABLE, label_value_finding
from mmarctl.check.spatial_axes import AxisRule, header_axes_problems
from mmarctl.check.whole_images import WholeImageRule, whole_image_problem
from mmarctl.errors import ConfigError
from mmarctl.jsonio import format_json_path, load_json, split_location
from mmarctl.problems import NOTE, Problem
from mmarctl.runtime.pipelines.base import data_root
from mmarctl.runtime.pipelines.class_labels import MISSING, class_label_problem
from mmarctl.runtime.transforms.loaders import missing_fields
from mmarctl.schemas.validator import validate

#: The fields whose string values name files, where the reading pipeline's are not known.
FILE_FIELDS = ("image", "label")
#: How many missing files a problem line lists before giving only the count.
SHOW_MISSING = 5
#: A validation config's use whose DATASET_JSON is unset (``DataUse.datalist == ""``).
DATALIST_NOT_SET = ("DATASET_JSON is not set; a validation config reads its cases from it "
                    "(set it in config/environment.json or --set DATASET_JSON=...)")


@dataclass
class DataCounts:
    """What :func:`check_data` looked at, for check's summary line.

    Attributes:
        cases: items of each list read, by list key (``training``, ``validation``), over
            every datalist (each datalist's list counted once).
        files: data files found on disk (each path once).
    """

    cases: dict[str, int] = dataclasses.field(default_factory=dict)
    files: int = 0


@dataclass(frozen=True)
class DataUse:
    """One use of a datalist: which file, which folder its paths are under, which list.

    Attributes:
        datalist: the data-split list (absolute, or relative to the current folder).
        base_dir: DATA_ROOT, the folder item paths are relative to (None: not set; ``""``:
            the datalist's own folder, as the pipeline resolves an empty
            ``data_file_base_dir``).
        key: the list read (``training``, ``validation``, ``test`` ...).
        origin: ``(file, json_path)`` of the config setting that names the datalist.
        base_origin: ``(file, json_path)`` of the setting that names the base folder.
        reads: ``(field, loader)`` pairs: the fields the reading pipeline's loaders read
            (every item must have them), from ``loaders.fields_read``.
        image_channels: the pipeline's ``output_image_channels`` to hold the images'
            channel count against (None: not compared).
        label_reads: ``(field, loader)`` pairs the validation config's ``label_transforms``
            read: ``validate`` runs them, ``infer`` does not (its pre-flight drops them).
        num_classes: the network's ``num_classes``, which class labels written in the
            datalist are held against (None: only their form and 0..1 range are checked).
        metric_reads: the fields validate's metrics read that the validation config's
            transforms do not give (:func:`.case_fields.metric_reads`): the items must;
            ``infer`` runs no metric (its pre-flight drops them).
        field_reads: the fields the transforms and writers read that no step of their
            config makes (:func:`.field_flow.follow`): the items must carry them as values.
        made_fields: the fields those transforms give, for the messages.
        axis_rules: the transforms that fix a field's number of spatial axes
            (:func:`.spatial_axes.axis_rules`): the headers of the field's files are held
            to them.
        class_labels: the items' ``"label"`` is a class label (a validation config whose
            training config is a classification one; ``infer``'s pre-flight drops it).
        reoriented: the fields whose LoadNifti reorients them (``as_closest_canonical``):
            an image and label are compared as the pipeline sees them.
        key_origin: where ``key`` came from, for the messages (``DATA_LIST_KEY='test'
            (from --set)``); empty: the config at ``origin`` reads it.
        class_index_labels: the training loss takes class-index labels (Dice or Focal
            with ``is_onehot_targets`` false, no transform that changes channels): a label
            file with several channels (one-hot on the 4th axis, an RGB mask PNG) is
            refused by the loss, so check reports it.
        onehot_label_channels: the training loss takes one-hot labels (Dice or Focal with
            ``is_onehot_targets`` true) of this many channels, and no transform changes the
            label: a label file with another channel count is refused by the loss in the
            first step, so check reports it. None: not compared.
        label_value_classes: the network's ``num_classes`` the label files' voxel values
            are held to (:mod:`.label_values`): a segmentation pipeline whose chain passes
            the label to the loss with its values as loaded. None: not held.
        skip_bad_cases: the reading run leaves unusable cases out (``skip_bad_cases``):
            label files outside the classes are a note, unless all of them are.
        label_value_origin: ``(file, json_path)`` the label-values line stands at (a
            validation config's ``label_transforms``, :func:`.label_values.validation_label_values`);
            None: the datalist's list. ``label_value_fix``: its advice (empty: the default).
        whole_image: the network the pipeline's images reach whole (``TFSimpleInferer``)
            through a chain that keeps their sizes (:mod:`.whole_images`): the image
            headers' sizes are held to its size divisor. None: not held.
    """

    datalist: str
    base_dir: str | None
    key: str
    origin: tuple[str, str]
    base_origin: tuple[str, str]
    reads: tuple[tuple[str, str], ...] = ()
    image_channels: int | None = None
    label_reads: tuple[tuple[str, str], ...] = ()
    num_classes: int | None = None
    metric_reads: tuple[MetricRead, ...] = ()
    field_reads: tuple[MetricRead, ...] = ()
    made_fields: tuple[str, ...] = ()
    reoriented: tuple[str, ...] = ()
    axis_rules: tuple[AxisRule, ...] = ()
    class_labels: bool = False
    key_origin: str = ""
    class_index_labels: bool = False
    onehot_label_channels: int | None = None
    label_value_classes: int | None = None
    skip_bad_cases: bool = False
    label_value_origin: tuple[str, str] | None = None
    label_value_fix: str = ""
    whole_image: WholeImageRule | None = None

    def reads_class_labels(self) -> bool:
        """Whether the items' ``"label"`` is the class label itself: a training config's
        pipeline whose loaders read the image but no label file (classification)."""
        json_path = self.origin[1]
        reads = dict(self.reads)
        if self.class_labels:
            return "label" not in self.fields()
        return (json_path.startswith(("train.", "validate.")) and "image" in reads
                and "label" not in self.fields())

    def fields(self) -> dict[str, str]:
        """Every field read -> its loader: the pipeline's loaders first, then the labels'."""
        read = dict(self.reads)
        for field, loader in self.label_reads:
            read.setdefault(field, loader)
        return read


def check_data(uses: list[DataUse], display, counts: DataCounts | None = None, *,
               notes: list[Problem] | None = None) -> tuple[list[Problem], list[str]]:
    """Problems with the datalists and their files, and the datalists that were read.

    Args:
        uses: every (datalist, base dir, key) the configs read; an empty ``datalist`` is
            reported as :data:`DATALIST_NOT_SET`.
        display: turns a path into how messages show it (relative to the MMAR root).
        counts: when given, filled with the cases and data files looked at.
        notes: ``check``'s notes, when given: a case listed twice or in two lists is told
            there (:func:`duplicate_notes`), and a list other than ``validation`` whose items
            all lack the field only ``label_transforms`` read (an MSD ``test`` list chosen
            with DATA_LIST_KEY) is a note naming validate, not a problem: infer runs it.
            Without it (a verb's pre-flight) that is a problem.
    """
    problems: list[Problem] = []
    loaded: dict[str, Any] = {}
    checked: list[str] = []
    seen: set[tuple] = set()
    bad_bases: set[str] = set()
    headers_seen: set[tuple] = set()
    pairs_seen: set[tuple] = set()
    # Each header read once, for the pair and axes checks too (None: missing or unreadable,
    # not tried again); each path stat'ed once (on network storage a stat is a round trip).
    geometries: dict[Path, Geometry | None] = {}
    kinds: dict[str, str] = {}
    classes_told: set[tuple] = set()  # a model's num_classes against a datalist, said once
    listed_once: set[tuple[str, str]] = set()  # (datalist, key) looked at for duplicates
    counted: set[tuple[str, str]] = set()  # (datalist, key) counted in ``counts``
    selected: dict[str, set[str]] = {}  # datalist -> the lists the configs read
    trained: dict[str, str] = {}  # datalist -> the list training reads (fold0, not always "training")
    for use in uses:
        selected.setdefault(use.datalist, set()).add(use.key)
        if use.origin[1].startswith("train."):
            trained.setdefault(use.datalist, use.key)
    for use in uses:
        if not use.datalist:
            problems.append(Problem(*use.origin, DATALIST_NOT_SET))
            continue
        reads = use.fields()
        identity = (use.datalist, use.base_dir, use.key, tuple(reads.items()),
                    use.origin[0] if use.metric_reads or use.field_reads or use.axis_rules
                    else "", use.metric_reads, use.field_reads, use.axis_rules)
        if identity in seen:
            continue
        seen.add(identity)
        if use.base_dir == "":
            # The pipeline reads an empty data_file_base_dir as the datalist's folder.
            use = dataclasses.replace(use, base_dir=str(data_root(use.datalist, "")))
        path = Path(use.datalist)
        shown = display(path)
        if use.datalist not in loaded:
            loaded[use.datalist] = _load(path, shown, use, problems,
                                         selected[use.datalist], notes)
            if loaded[use.datalist] is not None:
                checked.append(shown)
        data = loaded[use.datalist]
        if data is None:
            continue
        items = data.get(use.key) if isinstance(data, dict) else None
        if not isinstance(items, list):
            if isinstance(data, dict):
                lists = [k for k, v in data.items() if isinstance(v, list)]
                problems.append(Problem(shown, "$", f"no {use.key!r} list (lists here: "
                                        f"{', '.join(lists) or 'none'}); "
                                        f"{use.key_origin or f'{use.origin[0]} reads {use.key!r}'}"))
            continue
        if (use.datalist, use.key) not in listed_once:
            listed_once.add((use.datalist, use.key))
            if notes is not None:
                notes.extend(duplicate_notes(data, use.key, shown,
                                             trained.get(use.datalist, "training")))
        if counts is not None and (use.datalist, use.key) not in counted:
            counted.add((use.datalist, use.key))
            counts.cases[use.key] = counts.cases.get(use.key, 0) + len(items)
        if not items:
            problems.append(Problem(shown, use.key, f"the {use.key!r} list holds no items; "
                                    f"{use.origin[0]} reads it"))
            continue
        if use.base_dir is not None and not Path(use.base_dir).is_dir():
            if use.base_dir not in bad_bases:
                bad_bases.add(use.base_dir)
                problems.append(Problem(*use.base_origin, f"DATA_ROOT is not a folder: "
                                        f"{use.base_dir} (the files of {shown} are read "
                                        "from it; set DATA_ROOT or --set DATA_ROOT=...)"))
            continue
        label_only = _absent_label_fields(items, use) if notes is not None else {}
        if label_only:
            notes.append(Problem(shown, use.key, _label_free_note(items, use, label_only),
                                 NOTE))
        problems.extend(Problem(shown, use.key, message) for message in missing_fields(
            items, use.key, {f: l for f, l in reads.items() if f not in label_only}))
        # The metrics' reads first (their line says where validate loads labels); a step
        # reading a field a metric already reported adds no second line.
        problems.extend(metric_field_problems(use.metric_reads, use.made_fields, items,
                                              use.key, use.origin[0]))
        told = {read.field for read in use.metric_reads}
        problems.extend(metric_field_problems(
            tuple(r for r in use.field_reads if r.field not in told), use.made_fields, items,
            use.key, use.origin[0]))
        if use.reads_class_labels():
            problems.extend(_class_label_problems(items, use, shown, classes_told))
        missing, readable = _missing_files(items, use, shown, tuple(reads) or FILE_FIELDS,
                                           kinds)
        problems.extend(missing)
        if not readable:
            continue  # no file to read (a wrong DATA_ROOT): the header passes have nothing
        # Each file's header once, even when several pipelines read the same list; one field
        # at a time, so a line reads the same whichever pipeline (or verb) looked first.
        # The files of one multi-file item are compared as this pipeline loads them
        # (reoriented or not): once per way of loading them.
        loaded_as = frozenset(use.reoriented)
        nifti = [field for field, loader in reads.items() if loader == "LoadNifti"
                 and (use.datalist, use.base_dir, use.key, field, loaded_as) not in headers_seen]
        headers_seen.update((use.datalist, use.base_dir, use.key, f, loaded_as) for f in nifti)
        for field in nifti if use.base_dir is not None else []:
            problems.extend(Problem(shown, use.key, message) for message in header_problems(
                items, Path(use.base_dir), [field], use.image_channels, geometries, kinds,
                reoriented=loaded_as, class_index_labels=use.class_index_labels,
                onehot_label_channels=use.onehot_label_channels))
        if use.whole_image is not None and use.base_dir is not None and \
                reads.get("image") in ("LoadNifti", "LoadPng"):
            whole = whole_image_problem(items, Path(use.base_dir), use.whole_image,
                                        geometries, use.key, shown)
            if whole is not None and whole not in problems:
                problems.append(whole)
        # Files whose header tells their axes: NIfTI headers, PNG's IHDR (always 2-D).
        headed = {field for field, loader in reads.items() if loader in ("LoadNifti", "LoadPng")}
        rules = [rule for rule in use.axis_rules if rule.field in headed]
        if rules and use.base_dir is not None:
            problems.extend(header_axes_problems(items, Path(use.base_dir), use.key, rules,
                                                 geometries))
        # Image and label as this pipeline's loaders leave them (reoriented or not): once
        # per way of loading them.
        reoriented = frozenset(use.reoriented) & {"image", "label"}
        pair = (use.datalist, use.base_dir, use.key, reoriented)
        by_nifti = {field for field, loader in reads.items() if loader == "LoadNifti"}
        if use.base_dir is not None and {"image", "label"} <= by_nifti and pair not in pairs_seen:
            pairs_seen.add(pair)
            problems.extend(Problem(shown, use.key, message) for message in pair_problems(
                items, Path(use.base_dir), ("image", "label"), reoriented=reoriented,
                known=geometries, kinds=kinds))
        png = [field for field, loader in reads.items() if loader == "LoadPng"
               and (use.datalist, use.base_dir, use.key, field) not in headers_seen]
        headers_seen.update((use.datalist, use.base_dir, use.key, f) for f in png)
        if png and use.base_dir is not None:
            problems.extend(Problem(shown, use.key, message) for message in png_problems(
                items, Path(use.base_dir), png, use.image_channels, kinds,
                class_index_labels=use.class_index_labels))
        values = (use.datalist, use.base_dir, use.key, "label values", use.label_value_classes)
        if (use.label_value_classes and use.base_dir is not None and values not in headers_seen
                and reads.get(LABEL) in READABLE):
            headers_seen.add(values)
            origin = use.label_value_origin
            finding = label_value_finding(items, Path(use.base_dir), reads[LABEL],
                                          use.label_value_classes, kinds,
                                          skip_bad_cases=use.skip_bad_cases,
                                          fix=use.label_value_fix,
                                          verbs="validate" if origin else "train and validate")
            if finding is not None:
                message, only_a_note = finding
                where = (origin[0], origin[1], f"{shown} {use.key!r}: {message}") if origin \
                    else (shown, use.key, message)
                if only_a_note and notes is not None:
                    notes.append(Problem(*where, NOTE))
                elif not only_a_note:
                    problems.append(Problem(*where))
    if counts is not None:
        counts.files = sum(kind == "file" for kind in kinds.values())
    return problems, checked


def _class_label_problems(items: list, use: DataUse, shown: str,
                          told: set[tuple] | None = None) -> list[Problem]:
    """One problem per item whose ``"label"`` is not a class label (the first few, then a
    count), at its JSON path: the pipeline refuses the same items (class_labels).

    When every label is a valid list of one same length that is not the network's
    ``num_classes`` (CheXpert's 15 labels under a model whose args set no num_classes),
    the datalist is right and the model is not: one problem naming the model's arg, once
    for all the lists of the datalist (``told``)."""
    bad, lengths = [], set()
    for index, item in enumerate(items):
        value = item.get("label", MISSING) if isinstance(item, dict) else MISSING
        message = class_label_problem(value, use.num_classes)
        if message:
            bad.append(Problem(shown, f"{use.key}[{index}].label", message))
        lengths.add(len(value) if isinstance(value, list)
                    and class_label_problem(value, len(value) or None) is None else None)
    if bad and use.num_classes is not None and len(lengths) == 1 and None not in lengths:
        length = lengths.pop()
        told = set() if told is None else told
        if (use.datalist, use.num_classes, length) in told:
            return []
        told.add((use.datalist, use.num_classes, length))
        return [_num_classes_problem(use, shown, length)]
    if len(bad) > SHOW_MISSING:
        rest = len(bad) - SHOW_MISSING
        bad = bad[:SHOW_MISSING] + [Problem(shown, use.key, f"and {rest} more items whose "
                                            "label is not a class label")]
    return bad


#: Where the training config gives the network's outputs.
NUM_CLASSES_PATH = "train.model.args.num_classes"


def _num_classes_problem(use: DataUse, shown: str, length: int) -> Problem:
    """The network's ``num_classes`` against labels that all have ``length`` values."""
    default = (" (1 is the default when the model's args set no num_classes)"
               if use.num_classes == 1 else "")
    message = (f"the network has num_classes={use.num_classes}{default}, but every label of "
               f"{shown} has {length} values, one per class (Clara's label_format): set "
               f"\"num_classes\": {length} in the model's args")
    # A training config names its own model; a validation config's network is the training
    # config's (check builds no model loader).
    if use.origin[1].startswith(("train.", "validate.")):
        return Problem(use.origin[0], NUM_CLASSES_PATH, message)
    return Problem(shown, use.key, f"{message} ({NUM_CLASSES_PATH} of the training config)")


def _load(path: Path, shown: str, use: DataUse, problems: list[Problem],
          selected: set[str], notes: list[Problem] | None) -> Any:
    """The datalist's JSON (None when missing or unreadable), its schema problems added to
    ``problems``; a list near a known name is no problem (see :func:`_extra_lists`)."""
    if not path.is_file():
        file, json_path = use.origin
        problems.append(Problem(file, json_path, f"data-split list not found: {use.datalist} "
                                "(set DATASET_JSON in config/environment.json or --set "
                                "DATASET_JSON=...)"))
        return None
    try:
        data = load_json(path, shown_as=shown)
    except ConfigError as error:
        found = Problem.from_error(error)
        location, rest = split_location(found.message)
        # "data/dataset_0.json:2:17" is the file of the problem: train's refusal then names
        # it once, not after the training config's name as well.
        problems.append(Problem(location, "", rest) if location and not found.file else found)
        return None
    schema_problems = _extra_lists(validate("datalist", data, shown), data, selected, notes)
    problems.extend(_grouped_schema_problems(schema_problems, data))
    return data


def _extra_lists(found: list[Problem], data: Any, selected: set[str],
                 notes: list[Problem] | None) -> list[Problem]:
    """``found`` less the schema's "did you mean" on a top-level key that holds a list.

    Clara datalists carry extra lists beside the known ones (``validation_1``, ``fold0``,
    ``test2``), chosen with DATA_LIST_KEY: one the configs read (``selected``) is fine; one
    nothing reads is a note for ``check`` (a typo shows there, and a use of the known name
    is refused anyway: "no 'training' list (lists here: ...)") unless the known list is
    there too (``validation_1`` beside ``validation``); a verb refuses none of them.
    A near-miss key that holds no list (``"lables": {...}``) stays a problem.
    """
    kept = []
    for problem in found:
        key = problem.json_path
        if not (isinstance(data, dict) and isinstance(data.get(key), list)
                and problem.message.startswith("unknown key ")
                and format_json_path([key]) == key):
            kept.append(problem)
        elif key not in selected and notes is not None:
            close = problem.message.partition("(did you mean ")[2].rstrip("?)")
            if json.loads(close or '""') in data:
                continue  # "validation_1" beside "validation": another list, no typo
            notes.append(Problem(problem.file, key, f"list {key!r} is read by no config "
                                 f"here (a typo of {close}?); validate or infer it with "
                                 f"--set DATA_LIST_KEY={key}", severity=NOTE))
    return kept


#: ``training[12].image`` -> list name, index, the rest of the path.
_ITEM_PATH = re.compile(r"^([^\[\]]+)\[(\d+)\](.*)$")


def _grouped_schema_problems(found: list[Problem], data: Any) -> list[Problem]:
    """The datalist's schema problems, those that several items of one list share (one typo
    copied into every item) told once for the list: the first few items and a count, as
    the missing-file and header lines are, instead of one line per item."""
    groups: dict[tuple, list[Problem]] = {}
    order: list = []
    for problem in found:
        match = _ITEM_PATH.match(problem.json_path)
        key = (match.group(1), match.group(3), problem.message) if match else problem
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(problem)
    grouped = []
    for key in order:
        members = groups[key]
        if len(members) == 1 or not isinstance(key, tuple):
            grouped.extend(members)
            continue
        name, _, message = key
        items = data.get(name) if isinstance(data, dict) else None
        total = len(items) if isinstance(items, list) else len(members)
        grouped.append(Problem(members[0].file, name,
                               f"{len(members)} of {total} items: {message}: "
                               f"{listed([p.json_path for p in members])}"))
    return grouped


def _missing_files(items: list, use: DataUse, shown: str, fields: tuple[str, ...],
                   kinds: dict[str, str] | None = None) -> tuple[list[Problem], bool]:
    """The files the items name that are missing, folders, or no regular file (a FIFO or a
    device: the loaders refuse it, and reading a FIFO would block), each path stat'ed once
    (:func:`.images.file_kind`, shared with the header checks through ``kinds``); and
    whether any of them is a regular file (else the header checks have nothing to read)."""
    if use.base_dir is None:
        return [], True
    base = Path(use.base_dir)
    named = [name for item in items for name in _files_of(item, fields)]
    of_kind: dict[str, list[str]] = {}
    for name in named:
        of_kind.setdefault(file_kind(base / os.path.expanduser(name), kinds), []).append(name)
    missing = of_kind.pop("missing", [])
    readable = bool(of_kind.pop("file", None))
    # A folder exists but is no file: the loader refuses it as "not found".
    folders = (_folder_entries(items, fields, base, shown, use.key, kinds)
               if of_kind.pop("folder", None) else [])
    special = [f"{name} ({kind})" for kind, names in of_kind.items() for name in names]
    problems = []
    if missing:
        shown_missing = [_missing_name(name, base, kinds) for name in missing]
        problems.append(Problem(shown, use.key, f"{len(missing)} of {len(named)} files are "
                                f"missing under DATA_ROOT {base}: {listed(shown_missing)}"))
    if special:
        problems.append(Problem(shown, use.key, f"{len(special)} of {len(named)} files are not "
                                f"a regular file (the loaders read only files): "
                                f"{listed(special)}"))
    return problems + folders, readable



def _missing_name(name: str, base: Path, kinds: dict[str, str] | None) -> str:
    """A missing file's name as the missing-file line shows it: quoted, with the reason,
    when it has stray whitespace or backslashes that hide a file that is there (the name
    looks right when the user lists the folder)."""
    if name.strip() != name:
        there = file_kind(base / os.path.expanduser(name.strip()), kinds) == "file"
        return (f"{name!r} (leading/trailing whitespace"
                f"{'; without it the file is there' if there else ''})")
    if "\\" in name:
        there = file_kind(base / name.replace("\\", "/"), kinds) == "file"
        return (f"{name!r} (backslashes: paths take /"
                f"{'; with / the file is there' if there else ''})")
    return name


def _absent_label_fields(items: list, use: DataUse) -> dict[str, str]:
    """The fields only the validation config's ``label_transforms`` read (infer drops
    them) that no item of the list has: a list written for inference (an MSD ``test``
    list of bare file names), field -> loader. The ``validation`` list is validate's own:
    labels missing there stay a problem."""
    if use.key in ("training", "validation"):
        return {}
    pipeline = dict(use.reads)
    return {field: loader for field, loader in use.label_reads
            if field not in pipeline and all(isinstance(item, str) or (
                isinstance(item, dict) and field not in item) for item in items)}


def _label_free_note(items: list, use: DataUse, fields: dict[str, str]) -> str:
    names = " and ".join(repr(field) for field in fields)
    loaders = ", ".join(sorted(set(fields.values())))
    return (f"no item of the {use.key!r} list has {names} (an inference list): validate "
            f"would refuse it (the validation config's label_transforms ({loaders}) read "
            f"{names}); infer can run it")


def _image_identity(item: Any) -> Any:
    """What an item's image files are, for telling repeated cases: a normalised path, or a
    tuple of them for several modality files (None: no file named)."""
    value = item if isinstance(item, str) else (
        item.get("image") if isinstance(item, dict) else None)
    if isinstance(value, str):
        return os.path.normpath(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(os.path.normpath(v) for v in value)
    return None


def duplicate_notes(data: Any, key: str, shown: str,
                    training_key: str = "training") -> list[Problem]:
    """Notes (Clara allowed both) on the ``key`` list of ``data``: images named by several
    of its items (each copy weighs once more in an epoch and in a mean metric), and, for a
    list other than ``training_key``, items whose image is also a training item's (their
    metrics are optimistic: the model trained on them).

    ``training_key`` is the list training reads (``train.image_pipeline``'s
    ``data_list_key``, e.g. ``fold0``): a list named ``training`` that no run reads is not
    what the model trained on."""
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    notes = []
    where: dict[Any, list[int]] = {}
    for index, item in enumerate(items):
        identity = _image_identity(item)
        if identity is not None:
            where.setdefault(identity, []).append(index)
    repeated = [indices for indices in where.values() if len(indices) > 1]
    if repeated:
        groups = [f"{_shown_identity(items[i[0]])} ({', '.join(f'{key}[{n}]' for n in i)})"
                  for i in repeated]
        notes.append(Problem(shown, key, f"{_images_are(len(repeated))} named by several "
                             f"items: {listed(groups)}; each copy weighs once more in every "
                             "pass over the list", NOTE))
    training = data.get(training_key)
    if key != training_key and isinstance(training, list):
        first: dict[Any, int] = {}
        for index, item in enumerate(training):
            first.setdefault(_image_identity(item), index)
        shared = [f"{key}[{index}] = {training_key}[{first[identity]}]"
                  for identity, indices in where.items() if identity in first
                  for index in indices]
        if shared:
            which = "training items" if training_key == "training" else \
                f"items of {training_key!r}, the list training reads"
            notes.append(Problem(shown, key, f"{len(shared)} of {len(items)} items are also "
                                 f"{which} (the same image file): {listed(shared)}: the "
                                 "model trained on them, so results on them are optimistic",
                                 NOTE))
    return notes


def _images_are(number: int) -> str:
    return "1 image is" if number == 1 else f"{number} images are"


def _shown_identity(item: Any) -> str:
    identity = _image_identity(item)
    return " + ".join(identity) if isinstance(identity, tuple) else str(identity)


def _folder_entries(items: list, fields: tuple[str, ...], base: Path, shown: str,
                    key: str, kinds: dict[str, str] | None = None) -> list[Problem]:
    """One problem per item field that names a folder (the first few, then a count)."""
    found = []
    for index, item in enumerate(items):
        for field in ("image",) if isinstance(item, str) else fields:
            for name in _files_of(item if isinstance(item, dict) else {"image": item}, (field,)):
                if file_kind(base / os.path.expanduser(name), kinds) == "folder":
                    where = f"{key}[{index}]" if isinstance(item, str) else f"{key}[{index}].{field}"
                    found.append(Problem(shown, where, f"{name} is a folder, not a file (under "
                                         f"DATA_ROOT {base})"))
    if len(found) > SHOW_MISSING:
        found = found[:SHOW_MISSING] + [Problem(shown, key, f"and {len(found) - SHOW_MISSING} "
                                                "more items that name a folder")]
    return found


def _files_of(item: Any, fields: tuple[str, ...]) -> list[str]:
    """The file names of ``item`` in ``fields`` (a bare string item is an image path)."""
    if isinstance(item, str):
        return [item] if "image" in fields else []
    if not isinstance(item, dict):
        return []
    names: list[str] = []
    for key in fields:
        value = item.get(key)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, list):
            names.extend(v for v in value if isinstance(v, str))
    return names
