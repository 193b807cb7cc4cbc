"""The number of spatial axes: a transform's spatial arguments, the network's input and the
images' headers held to one another.

ScaleByResolution's ``target_resolution`` and ScaleToShape's ``target_shape`` give one value
per spatial axis; the transform refuses a field with another number of axes
(``resample._spatial_dims_ok``; a 2-D image saved as ``(H, W, 1)`` passes as 2-D), and after
it the field has that many axes, which the network's input (``output_crop_size`` /
``output_data_dims``, :func:`mmarctl.runtime.model_io.input_spec`) must match. train used to
find either at its first case (or first step), naming no JSON path; ``check`` knows both
from the config and from the NIfTI headers it reads anyway (:mod:`.images`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from mmarctl.check.images import Geometry, read_geometry
from mmarctl.problems import Problem

#: The transform attributes (= Clara args) holding one value per spatial axis.
SPATIAL_ARGS = ("target_resolution", "target_shape")
#: How many files a line names before giving only the count.
SHOW = 5


@dataclass(frozen=True)
class AxisRule:
    """The first transform of a chain that fixes a field's number of spatial axes.

    Attributes:
        file: the config, as shown.
        json_path: the transform's argument (``train.pre_transforms[2].args.target_resolution``).
        transform: its Clara name.
        arg: the argument's name.
        field: the field it reads.
        axes: how many values the argument has.
    """

    file: str
    json_path: str
    transform: str
    arg: str
    field: str
    axes: int


def axis_rules(file: str, steps: Iterable[tuple[str, Any]]) -> tuple[AxisRule, ...]:
    """One rule per field: the first built step with a spatial argument that reads it.

    Args:
        file: the config, as shown.
        steps: ``(JSON path, built step or None)`` in the order they run; the rules stop
            at a step that was not built (BYOC code may change any field's shape).
    """
    rules: dict[str, AxisRule] = {}
    for where, step in steps:
        if step is None:
            break
        for arg in SPATIAL_ARGS:
            values = getattr(step, arg, None)
            if not isinstance(values, (list, tuple)) or not values:
                continue
            for field in getattr(step, "fields", None) or ():
                if isinstance(field, str) and field not in rules:
                    rules[field] = AxisRule(file, f"{where}.args.{arg}", step.clara_name, arg,
                                            field, len(values))
    return tuple(rules.values())


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
        f"{rule.transform}: {rule.arg} has {rule.axes} values, so it leaves field 'image' "
        f"{rule.axes}-D, but the network takes {dims}-D images ({input_from})"))
        for rule in rules if rule.field == "image" and rule.axes != dims]


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
    for rule in rules:
        off: dict[int, list[str]] = defaultdict(list)
        checked = 0
        for item in items:
            item = {"image": item} if isinstance(item, str) else item
            value = item.get(rule.field) if isinstance(item, dict) else None
            for name in [value] if isinstance(value, str) else (
                    [v for v in value if isinstance(v, str)] if isinstance(value, list) else []):
                geometry = read_geometry(base / name, known)
                if geometry is None:
                    continue  # missing or unreadable: reported by the file checks
                checked += 1
                axes = len(geometry.shape)
                if axes != rule.axes and not (axes == rule.axes + 1 and geometry.shape[-1] == 1):
                    off[axes].append(name)
        for axes, names in sorted(off.items()):
            more = f" and {len(names) - SHOW} more" if len(names) > SHOW else ""
            problems.append(Problem(rule.file, rule.json_path, (
                f"{rule.transform}: {rule.arg} has {rule.axes} values but {len(names)} of "
                f"{checked} {rule.field!r} files of {key!r} {'has' if len(names) == 1 else 'have'} "
                f"{axes} spatial axes: "
                f"{', '.join(names[:SHOW])}{more}")))
    return problems
