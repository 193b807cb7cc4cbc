"""Fields a chain resamples differently, then reads together: refused on the first case.

A crop, flip or rotation of several fields (``FastCropByPosNegRatio`` on image and label)
needs them on one voxel grid. A chain that resamples the image and the label by different
transforms (``ScaleByResolution#ScaleImg`` to 2.5 mm, ``#ScaleLb`` to 2 mm, a search point
moving one of them) or only one of them gives them different spatial shapes, and the run
stops on its first case ("fields differ in spatial shape"). :func:`voxel_grid_problems`
says it from the config: each field's resampling steps, in order, must be alike for the
fields a step reads together.
"""

from __future__ import annotations

from typing import Any, Mapping

from mmarctl.check.field_flow import reads_of, steps_of
from mmarctl.problems import Problem

#: Resampling transforms -> the argument that decides the grid they give.
RESAMPLING = {"ScaleByResolution": "target_resolution", "ScaleByFactor": "factor",
              "ScaleToShape": "target_shape"}
#: The chains whose steps run in order on one case.
CHAINS = ("train.pre_transforms", "validate.pre_transforms", "pre_transforms")
#: Modules of the transforms that need their fields on one grid (they call
#: ``common_spatial_shape``): crops, positive/negative sampling, spatial augmentation.
_JOINT_MODULES = ("crops", "posneg", "augment_spatial", "extreme_points")


def voxel_grid_problems(data: Mapping[str, Any], built: Mapping[str, Any],
                        file: str) -> list[Problem]:
    """One problem per chain: the first step that reads, together, fields that the steps
    before it resampled differently."""
    problems = []
    for chain in CHAINS:
        steps = steps_of(data, built, (chain,))
        found = _first_mismatch(steps or [], file)
        if found is not None:
            problems.append(found)
    return problems


def _first_mismatch(steps: list[tuple[str, Any]], file: str) -> Problem | None:
    history: dict[str, list[tuple[str, str, tuple]]] = {}
    for where, step in steps:
        if step is None:
            return None  # not built (a problem of its own, or BYOC): the grids are unknown
        fields = list(dict.fromkeys(field for _, field in reads_of(step)))
        name = getattr(step, "clara_name", type(step).__name__)
        arg = RESAMPLING.get(name)
        if arg is not None:
            value = getattr(step, arg, None)
            grid = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            for field in fields:
                history.setdefault(field, []).append((where, arg, grid))
            continue
        if len(fields) < 2 or not _reads_jointly(step):
            continue
        grids = {field: [(arg, grid) for _, arg, grid in history.get(field, [])]
                 for field in fields}
        if len({repr(g) for g in grids.values()}) > 1:
            return Problem(file, where, f"{name} reads {', '.join(fields)} together, but "
                                        f"they are on different voxel grids: "
                                        f"{_how(history, fields)} (resample them alike, "
                                        "in one step or with the same arguments)")
    return None


def _reads_jointly(step: Any) -> bool:
    module = type(step).__module__.rsplit(".", 1)[-1]
    return module in _JOINT_MODULES


def _how(history: Mapping[str, list[tuple[str, str, tuple]]], fields: list[str]) -> str:
    parts = []
    for field in fields:
        steps = history.get(field)
        if not steps:
            parts.append(f"{field} is not resampled")
        else:
            parts.append(f"{field} by " + ", ".join(
                f"{where} ({arg} {list(grid)})" for where, arg, grid in steps))
    return "; ".join(parts)
