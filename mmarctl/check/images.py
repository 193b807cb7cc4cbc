"""Check the NIfTI headers of the files a datalist names, without reading any voxel.

``nibabel.load`` reads only the header (the voxels stay behind a lazy proxy), so every case
of a large dataset is cheap to look at. What would stop a run later is reported now, one
line per kind of problem with the first few files and a count:

* a header nibabel cannot read (not NIfTI, truncated header);
* a shape with fewer than 2 axes or an empty axis;
* an affine with NaN/infinite entries, or a singular one (no voxel-to-world mapping, so
  resampling by resolution cannot work);
* an image whose channel count (a 4-D file's last axes, or the number of files of a
  multi-modal field) differs from the pipeline's ``output_image_channels``, when no
  transform of the chain changes channels.

A truncated voxel block is not visible in the header: the training pipeline reports it
when it reads the case (see ``skip_bad_cases`` in docs/check.md).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

#: How many files a problem line names before giving only the count.
SHOW = 5

#: Transforms that change the number of image channels: with one in the chain, the files'
#: channels are not compared with output_image_channels (preflight checks the result).
CHANNEL_CHANGING = frozenset({"AddExtremePointsChannel", "RepeatChannel",
                              "SplitAcrossChannels"})


def header_problems(items: list, base: Path, fields: list[str],
                    expected_channels: int | None) -> list[str]:
    """Messages (one per kind) for the NIfTI files of ``fields`` in ``items``.

    Args:
        items: datalist items as written.
        base: DATA_ROOT, which relative paths are under.
        fields: the fields LoadNifti reads.
        expected_channels: the pipeline's ``output_image_channels`` for the ``image`` field,
            or None not to compare.
    """
    found: dict[str, list[str]] = defaultdict(list)
    checked = 0
    for item in items:
        if isinstance(item, str):
            item = {"image": item}
        if not isinstance(item, dict):
            continue
        for field in fields:
            names = _names(item.get(field))
            channels = 0
            for name in names:
                path = base / name
                if not path.is_file():
                    channels = None  # reported by the missing-files check
                    continue
                checked += 1
                kind, detail, count = _inspect(path)
                if kind:
                    found[kind].append(f"{name}{detail}")
                if channels is not None:
                    channels = None if count is None else channels + count
            if (field == "image" and expected_channels is not None and channels
                    and channels != expected_channels):
                found["channels"].append(f"{names[0]} ({channels})")
    return [_line(kind, files, checked, expected_channels) for kind, files in found.items()]


#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_problems(items: list, base: Path, fields: list[str]) -> list[str]:
    """A message for the files of ``fields`` (which LoadPng reads) that are not PNG files,
    from their first eight bytes (a NIfTI data set under a 2-D PNG MMAR's loaders)."""
    wrong, checked = [], 0
    for item in items:
        item = {"image": item} if isinstance(item, str) else item
        if not isinstance(item, dict):
            continue
        for field in fields:
            for name in _names(item.get(field)):
                path = base / name
                if not path.is_file():
                    continue  # reported by the missing-files check
                checked += 1
                with open(path, "rb") as file:
                    if file.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                        wrong.append(name)
    if not wrong:
        return []
    return [f"{len(wrong)} of {checked} files are not PNG files (LoadPng reads them): "
            f"{_listed(wrong)}"]


def pair_shape_problems(items: list, base: Path, fields: tuple[str, str]) -> list[str]:
    """A message for the items whose two NIfTI ``fields`` (image and label) differ in
    spatial shape on the same voxel spacing, from their headers: the pipeline stops on
    such a case mid-epoch. (On different spacings a resampling transform may bring the two
    to one grid, which only running the transforms can tell.)"""
    import nibabel as nib

    wrong, checked = [], 0
    for item in items:
        if not isinstance(item, dict):
            continue
        names = [item.get(field) for field in fields]
        if not all(isinstance(name, str) and (base / name).is_file() for name in names):
            continue
        try:
            headers = [nib.load(str(base / name)).header for name in names]
            shapes = [tuple(int(n) for n in h.get_data_shape()[:3]) for h in headers]
            spacings = [np.asarray(h.get_zooms()[:3], np.float64) for h in headers]
        except Exception:  # an unreadable header is reported by header_problems
            continue
        checked += 1
        same_spacing = spacings[0].shape == spacings[1].shape and np.allclose(
            spacings[0], spacings[1], rtol=1e-3)
        if shapes[0] != shapes[1] and same_spacing:
            wrong.append(f"{names[1]} ({'x'.join(map(str, shapes[1]))} against "
                         f"{'x'.join(map(str, shapes[0]))})")
    if not wrong:
        return []
    return [f"{len(wrong)} of {checked} labels differ in shape from their image: "
            f"{_listed(wrong)}"]


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _inspect(path: Path) -> tuple[str | None, str, int | None]:
    """(problem kind or None, detail, channel count) of one file, from its header."""
    import nibabel as nib

    try:
        image = nib.load(str(path))
        shape = tuple(int(n) for n in image.shape)
        affine = np.asarray(image.affine, dtype=np.float64)
    except Exception as error:  # nibabel raises many types for a bad header
        return "unreadable", f" ({type(error).__name__})", None
    if len(shape) < 2 or 0 in shape:
        return "shape", f" (shape {shape})", None
    channels = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    if not np.isfinite(affine).all():
        return "affine_nan", "", channels
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        return "affine_singular", "", channels
    return None, "", channels


def _listed(files: list[str]) -> str:
    """The first :data:`SHOW` of ``files``, then how many more."""
    more = f" and {len(files) - SHOW} more" if len(files) > SHOW else ""
    return ", ".join(files[:SHOW]) + more


def _line(kind: str, files: list[str], checked: int, expected: int | None) -> str:
    listed = _listed(files)
    what = {
        "unreadable": "have no readable NIfTI header",
        "shape": "have fewer than 2 axes or an empty axis",
        "affine_nan": "have an affine with NaN or infinite entries",
        "affine_singular": "have a singular affine (no voxel-to-world mapping)",
        "channels": f"have a channel count other than output_image_channels={expected}",
    }[kind]
    if kind == "channels":
        return f"{len(files)} images {what}: {listed}"
    return f"{len(files)} of {checked} NIfTI files {what}: {listed}"
