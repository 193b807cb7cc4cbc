"""The number of spatial axes: a transform's spatial arguments, the network's input and the
images' headers held to one another.

ScaleByResolution's ``target_resolution``, ScaleToShape's ``target_shape`` and a crop's
``size`` give one value per spatial axis; the transform refuses a field with another number
of axes (``resample._spatial_dims_ok``, ``crops._rank``; a 2-D image saved as ``(H, W, 1)``
passes as 2-D), and no transform changes that number, so it must match the network's input
(``output_crop_size`` / ``output_data_dims``, :func:`mmarctl.runtime.model_io.input_spec`).
A transform made for one number of axes only (``spatial_dims``: RandomRotate2D) is held to it
the same way. train used to find either at its first case (or first step), naming the data
file rather than the config's JSON path; ``check`` knows both from the config and from the
NIfTI headers it reads anyway (:mod:`.images`), or a PNG's IHDR chunk (always 2-D).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from mmarctl.check.images import Geometry, png_size, read_geometry
from mmarctl.problems import Problem

#: The transform attributes (= Clara args) holding one value per spatial axis.
SPATIAL_ARGS = ("target_resolution", "target_shape", "size")
#: How many files a line names before giving only the count.
SHOW = 5


@dataclass(frozen=True)
class AxisRule:
    """A transform of a chain that fixes a field's number of spatial axes.

    Attributes:
        file: the config, as shown.
        json_path: the transform's argument (``train.pre_transforms[2].args.target_resolution``),
            or its name (``train.pre_transforms[6].name``) when the transform itself takes
            one number of axes (``spatial_dims``).
        transform: its Clara name.
        arg: the argument's name; empty for a transform's own ``spatial_dims``.
        field: the field it reads.
        axes: how many values the argument has (how many axes the transform takes).
    """

    @property
    def says(self) -> str:
        """What the rule says, as its messages open: ``ScaleToShape: target_shape has 2
        values`` or ``RandomRotate2D takes 2-D fields``."""
        if not self.arg:
            return f"{self.transform} takes {self.axes}-D fields"
        return f"{self.transform}: {self.arg} has {self.axes} values"

    file: str
    json_path: str
    transform: str
    arg: str
    field: str
    axes: int


def axis_rules(file: str, steps: Iterable[tuple[str, Any]]) -> tuple[AxisRule, ...]:
    """Every rule of the chain, in the order the steps run: each built step's spatial
    argument (or own ``spatial_dims``), once per field it reads.

    Args:
        file: the config, as shown.
        steps: ``(JSON path, built step or None)`` in the order they run; the rules stop
            at a step that was not built (BYOC code may change any field's shape).
    """
    rules: list[AxisRule] = []
    for where, step in steps:
        if step is None:
            break
        found = [(f"{where}.args.{arg}", arg, len(values)) for arg in SPATIAL_ARGS
                 for values in [getattr(step, arg, None)]
                 if isinstance(values, (list, tuple)) and values]
        dims = getattr(step, "spatial_dims", None)
        if isinstance(dims, int) and not isinstance(dims, bool):
            found.append((f"{where}.name", "", dims))
        for json_path, arg, axes in found:
            rules.extend(AxisRule(file, json_path, step.clara_name, arg, field, axes)
                         for field in getattr(step, "fields", None) or ()
                         if isinstance(field, str))
    return tuple(rules)


def first_rules(rules: Iterable[AxisRule]) -> tuple[AxisRule, ...]:
    """The first rule of each field: the one its files' headers are held to (the later
    ones are held to the network, which the first one fixes)."""
    first: dict[str, AxisRule] = {}
    for rule in rules:
        first.setdefault(rule.field, rule)
    return tuple(first.values())


def network_axes_problems(rules: Iterable[AxisRule], dims: int | None,
                          input_from: str) -> list[Problem]:
    """The image's axes after its spatial transform against the network's input ``dims``.

    Args:
        rules: from :func:`axis_rules`.
        dims: the network's spatial dimensions (None: unknown, nothing said).
        input_from: where the training config says them, for the message.
    """
    if dims is None:
        return []
    return [Problem(rule.file, rule.json_path, (
        f"{rule.says}{_so(rule)}"
        f", but the network takes {dims}-D images ({input_from})"))
        for rule in rules if rule.field == "image" and rule.axes != dims]


def _so(rule: AxisRule) -> str:
    """What a rule's argument means for the field's axes, as the message goes on."""
    if not rule.arg:
        return ""  # "RandomRotate2D takes 2-D fields" says it
    if rule.arg == "size":
        return f", so it crops {rule.axes}-D fields"
    return f", so it leaves field {rule.field!r} {rule.axes}-D"


def header_axes_problems(items: list, base: Path, key: str, rules: Iterable[AxisRule],
                         known: dict[Path, Geometry]) -> list[Problem]:
    """The files whose headers give another number of spatial axes than the transform
    reading them takes (a 2-D file in a 3-D list), one problem per rule.

    Args:
        items: the list's items as written; ``key``: its name.
        base: DATA_ROOT.
        rules: from :func:`axis_rules`.
        known: headers already read (:func:`.images.header_problems`).
    """
    problems = []
    for rule in first_rules(rules):
        off: dict[int, list[str]] = defaultdict(list)
        checked = 0
        for item in items:
            item = {"image": item} if isinstance(item, str) else item
            value = item.get(rule.field) if isinstance(item, dict) else None
            for name in [value] if isinstance(value, str) else (
                    [v for v in value if isinstance(v, str)] if isinstance(value, list) else []):
                shape = _spatial_shape(base / name, known)
                if shape is None:
                    continue  # missing or unreadable: reported by the file checks
                checked += 1
                axes = len(shape)
                if axes != rule.axes and not (axes == rule.axes + 1 and shape[-1] == 1):
                    off[axes].append(name)
        for axes, names in sorted(off.items()):
            more = f" and {len(names) - SHOW} more" if len(names) > SHOW else ""
            problems.append(Problem(rule.file, rule.json_path, (
                f"{rule.says} but {len(names)} of "
                f"{checked} {rule.field!r} files of {key!r} {'has' if len(names) == 1 else 'have'} "
                f"{axes} spatial axes: "
                f"{', '.join(names[:SHOW])}{more}")))
    return problems


def _spatial_shape(path: Path, known: dict[Path, Geometry]) -> tuple[int, ...] | None:
    """A file's spatial shape from its header: a NIfTI file's grid, or a PNG's two axes
    (rows, cols; LoadPng gives every PNG as 2-D); None when missing or unreadable."""
    geometry = read_geometry(path, known)
    if geometry is not None:
        return geometry.shape
    return png_size(path)


#: Writers made for one number of spatial axes: a PNG holds a 2-D mask (writers/png.py).
WRITER_AXES = {"WritePng": 2}


def writer_axes_problems(writers: Any, dims: int | None, file: str,
                         network_file: str) -> list[Problem]:
    """Writers made for another number of spatial axes than the network's (WritePng of a
    3-D segmentation network), at ``writers[i].name``: ``infer`` and ``validate`` refused
    them only when writing the first case, after loading the model and inferring it.

    Args:
        writers: the built ``writers`` of a validation config; an entry not built is None.
        dims: the network's spatial dimensions (None: unknown, nothing said).
        file: the validation config, as shown; ``network_file``: the training config.
    """
    if dims is None or not isinstance(writers, list):
        return []
    problems = []
    for index, writer in enumerate(writers):
        axes = WRITER_AXES.get(getattr(writer, "clara_name", ""))
        if axes is not None and axes != dims:
            problems.append(Problem(file, f"writers[{index}].name", (
                f"{writer.clara_name} writes {axes}-D masks, but the network of {network_file} "
                f"takes {dims}-D images (its field {getattr(writer, 'field', 'model')!r} is "
                f"{dims}-D); use WriteNifti")))
    return problems
