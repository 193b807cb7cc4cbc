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


def png_depth_warnings(workspace: Any, inputs: list[str], overrides: dict[str, Any], *,
                       config_train: str) -> list[str]:
    """One line per ``--input`` PNG stored at another bit depth than the training list's
    images (a 16-bit PNG given to a model trained on 8-bit ones): LoadPng keeps the stored
    values, so the network sees 0..65535 where it learnt 0..255 and returns a near-empty
    mask without a word. A warning, not a refusal: a config may scale each file itself.
    """
    from mmarctl.check.images import png_bit_depth

    given = [(name, png_bit_depth(Path(name).expanduser())) for name in inputs
             if name.lower().endswith(".png")]
    given = [(name, depth) for name, depth in given if depth is not None]
    trained = _training_png(workspace, overrides, config_train) if given else None
    if trained is None:
        return []
    example, depth = trained
    return [f"{name} is a {bits}-bit PNG, but the model was trained on {depth}-bit PNGs "
            f"(e.g. {example}); LoadPng keeps the stored values, so the network sees another "
            f"intensity range: save it at {depth} bits"
            for name, bits in given if (bits == 16) != (depth == 16)]


def _training_png(workspace: Any, overrides: dict[str, Any],
                  config_train: str) -> tuple[str, int] | None:
    """``(file as shown, bit depth)`` of the training list's first PNG image; None when
    the list cannot be read or holds no PNG."""
    from mmarctl.check.images import png_bit_depth
    from mmarctl.errors import MmarError
    from mmarctl.jsonio import load_json
    from mmarctl.runtime.pipelines.base import data_root

    try:
        resolved = workspace.resolve(config_train, overrides)
        args = resolved.data["train"]["image_pipeline"]["args"]
        listed = Path(args["data_list_file_path"])
        listed = listed if listed.is_absolute() else workspace.root / listed
        items = load_json(listed).get(args.get("data_list_key", "training")) or []
        base = data_root(listed, args.get("data_file_base_dir"))
        base = base if base.is_absolute() else workspace.root / base
    except (MmarError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    for item in items[:1]:
        name = item if isinstance(item, str) else (
            item.get("image") if isinstance(item, dict) else None)
        name = name[0] if isinstance(name, list) and name else name
        if isinstance(name, str) and name.lower().endswith(".png"):
            depth = png_bit_depth(base / name)
            return (str(workspace.display(base / name)), depth) if depth else None
    return None
