"""``infer --input`` files held to the network before any compute, from their headers.

A 2-D image for a 3-D network, another channel count than ``output_image_channels``, or a
text file given as an image would otherwise stop infer after it had written the outputs of
the cases before it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def check_inputs(workspace: Any, inputs: list[str], overrides: dict[str, Any], *,
                  config: str, config_train: str) -> None:
    """Refuse, before any compute, ``--input`` files whose NIfTI header shows they cannot
    go through the network: another number of spatial axes (a 2-D image for a 3-D
    network), or another channel count than ``output_image_channels`` (unless a validation
    transform changes channels); and files that are text, not images. A missing file is
    left to evaluate's own line. Without a readable training config nothing is compared.

    Raises:
        DataError: the first such file (and how many more there are).
    """
    from mmarctl.check.images import CHANNEL_CHANGING, stack_difference, unsupported_datatype
    from mmarctl.errors import DataError, MmarError
    from mmarctl.runtime.model_io import input_spec
    from mmarctl.runtime.transforms.loaders import _not_nifti

    try:
        resolved = workspace.resolve(config_train, overrides)
        dims, channels, _ = input_spec(resolved)
        shown = resolved.file
    except (MmarError, OSError, ValueError):  # no training config, or a bad one: reported later
        dims = channels = None
        shown = config_train
    try:
        pre = workspace.resolve(config, overrides).data.get("pre_transforms") or []
        names = {str(t.get("name", "")).split("#")[0] for t in pre if isinstance(t, dict)}
        # LoadNifti's as_closest_canonical reorients each file before stacking them
        canonical = any(str(t.get("name", "")).split("#")[0] == "LoadNifti"
                        and (t.get("args") or {}).get("as_closest_canonical") is True
                        for t in pre if isinstance(t, dict))
    except (MmarError, OSError, ValueError, AttributeError):
        names, canonical = set(), False
    if names & CHANNEL_CHANGING:
        channels = None
    problems: list[tuple[str, str, str | None]] = []
    for given in inputs:
        files = ([given] if "," not in given or Path(given).expanduser().exists()
                 else [name for name in given.split(",") if name])
        count: int | None = 0
        grids: list[tuple[str, Any]] = []  # (file, Geometry) of a case's NIfTI files
        for name in files:
            path = Path(name).expanduser()
            if not path.is_file():
                count = None
                continue
            if not path.name.lower().endswith((".nii", ".nii.gz")):
                count = None
                other = _not_nifti(str(path))
                if other and other.endswith("looks like text"):
                    problems.append((name, f"not a NIfTI image: {other}",
                                     "pass one --input per image file"))
                continue
            header = _header(path)
            if header is None:  # an unreadable header: the loader says why
                count = None
                continue
            unsupported = unsupported_datatype(header)
            if unsupported:  # RGB or complex voxels: LoadNifti refuses them
                problems.append((name, unsupported, None))
                count = None
                continue
            shape = tuple(int(n) for n in header.get_data_shape())
            grids.append((name, _grid(header, canonical)))
            axes = 2 if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1 and dims == 2) \
                else 3
            if dims is not None and axes != dims:
                problems.append((name, f"a {axes}-D image (shape {shape}), but the network "
                                       f"takes {dims}-D input ({shown})",
                                 f"give {dims}-D images, or use a model trained on "
                                 f"{axes}-D ones"))
                count = None
            elif count is not None:
                count += int(math.prod(shape[3:])) if len(shape) > 3 else 1
        for name, grid in grids[1:]:  # a case's modalities are stacked voxel by voxel
            first_name, first = grids[0]
            kind, shown_as = stack_difference(first, grid) if first and grid else (None, None)
            if kind:
                problems.append((name, f"differs in {kind} from the case's first file "
                                       f"{first_name} ({shown_as[1]} against {shown_as[0]})",
                                 "re-save a case's modalities on one voxel grid"))
                count = None
                break
        if channels is not None and count and count != channels:
            problems.append((files[0], f"an image with {count} channel(s) but the network "
                                       f"takes {channels} (output_image_channels in {shown})",
                             "give images with the channels the model was trained on (a "
                             "case of several files is -i A,B,...)"))
    if problems:
        name, message, hint = problems[0]
        more = f" (and {len(problems) - 1} more input(s))" if len(problems) > 1 else ""
        raise DataError(message + more, file=name, hint=hint)


def _header(path: Any) -> Any:
    """A NIfTI file's header (no voxels read), None when unreadable."""
    from mmarctl.check.images import read_header

    try:
        return read_header(Path(path))
    except Exception:  # nibabel raises many types for a bad header
        return None


def _grid(header: Any, canonical: bool) -> Any:
    """The voxel grid LoadNifti stacks a file on (reoriented to RAS+ under
    ``as_closest_canonical``); None when its affine is unusable (the loader says why)."""
    from mmarctl.check.images import Geometry

    geometry = Geometry.of_header(header, header.get_best_affine())
    if not geometry.usable():
        return None
    return geometry.reoriented() if canonical else geometry
