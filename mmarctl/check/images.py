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

and, for each image and its label (:func:`pair_problems`, from the same header reads), a
pair that is not on one voxel grid as the loaders leave it (LoadNifti's
``as_closest_canonical`` reorients): another orientation, another spacing or origin beyond
header rounding, another shape on one spacing.

A truncated voxel block is not visible in the header: the training pipeline reports it
when it reads the case (see ``skip_bad_cases`` in docs/check.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
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
                    expected_channels: int | None,
                    known: dict[Path, Geometry] | None = None) -> list[str]:
    """Messages (one per kind) for the NIfTI files of ``fields`` in ``items``.

    Args:
        items: datalist items as written.
        base: DATA_ROOT, which relative paths are under.
        fields: the fields LoadNifti reads.
        expected_channels: the pipeline's ``output_image_channels`` for the ``image`` field,
            or None not to compare.
        known: filled with the geometry of every readable header, by path, so that
            :func:`pair_problems` reads no header twice.
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
                kind, detail, count = _inspect(path, known)
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


#: How far apart (relative) two voxel spacings may be and still count as one: pixdim is
#: float32, and tools round it differently (0.79296875 against 0.792969).
SPACING_RTOL = 1e-3
#: How far apart two origins may be, in voxels of the image: float32 sforms, and a qform
#: next to an sform, differ by far less; a real shift is a voxel or more.
ORIGIN_TOLERANCE = 0.1


@dataclass(frozen=True)
class Geometry:
    """A file's voxel grid as its header gives it (no voxel read).

    Attributes:
        shape: the spatial axes (the first three at most).
        spacing: the voxel size along each of them (pixdim).
        affine: voxel to world (sform, else qform, else nibabel's default).
        placed: whether the header sets a qform or sform (else its position is unknown).
    """

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    affine: np.ndarray
    placed: bool

    @classmethod
    def of(cls, image: Any) -> "Geometry":
        """The geometry of a nibabel image (its header and affine)."""
        header = image.header
        shape = tuple(int(n) for n in header.get_data_shape()[:3])
        spacing = tuple(float(z) for z in header.get_zooms()[:len(shape)])
        try:
            placed = int(header["qform_code"]) > 0 or int(header["sform_code"]) > 0
        except (KeyError, ValueError, TypeError):  # Analyze and other formats: no codes
            placed = False
        return cls(shape, spacing, np.asarray(image.affine, np.float64), placed)

    def usable(self) -> bool:
        """Whether the affine is finite and invertible (else header_problems reports it)."""
        linear = self.affine[:3, :3]
        return bool(np.isfinite(self.affine).all() and linear.shape == (3, 3)
                    and abs(np.linalg.det(linear)) >= 1e-12)

    def reoriented(self) -> "Geometry":
        """The grid LoadNifti's ``as_closest_canonical`` turns this one into (RAS+): the
        axes permuted and flipped, as ``nibabel.as_closest_canonical`` does."""
        from nibabel.orientations import inv_ornt_aff, io_orientation

        if len(self.shape) != 3:
            return self
        ornt = io_orientation(self.affine)
        shape, spacing = [0] * 3, [0.0] * 3
        for axis, (to, _) in enumerate(ornt.astype(int)):
            shape[to], spacing[to] = self.shape[axis], self.spacing[axis]
        affine = self.affine @ inv_ornt_aff(ornt, self.shape)
        return Geometry(tuple(shape), tuple(spacing), affine, self.placed)

    def axcodes(self) -> str:
        """The orientation, e.g. ``RAS`` or ``LPS`` (nibabel's ``aff2axcodes``)."""
        import nibabel as nib

        return "".join(str(code) for code in nib.aff2axcodes(self.affine[:4, :4]))


def read_geometry(path: Path, known: dict[Path, Geometry] | None = None) -> Geometry | None:
    """The header geometry of the NIfTI file at ``path`` (None when unreadable), taken from
    ``known`` (the headers :func:`header_problems` read) when there."""
    if known is not None and path in known:
        return known[path]
    import nibabel as nib

    try:
        return Geometry.of(nib.load(str(path)))
    except Exception:  # an unreadable header is reported by header_problems
        return None


def pair_problems(items: list, base: Path, fields: tuple[str, str], *,
                  reoriented: frozenset[str] = frozenset(),
                  known: dict[Path, Geometry] | None = None) -> list[str]:
    """Messages (one per kind) for the items whose two NIfTI ``fields`` (image and label) do
    not lie on one voxel grid, from their headers. The pipeline pairs their voxels one to
    one, so a label in another orientation, on another spacing with the same shape, or
    shifted, is scored or trained against the wrong voxels without a word; a label of
    another shape on the same spacing stops the pipeline mid-epoch. (Of another shape on
    another spacing, a resampling transform may bring both to one grid, which only running
    it can tell.)

    Args:
        items: datalist items as written.
        base: DATA_ROOT.
        fields: ``(image field, label field)``.
        reoriented: the fields whose LoadNifti has ``as_closest_canonical``: they are
            compared as reoriented to RAS+, as the pipeline sees them.
        known: headers already read (:func:`header_problems`), by path.
    """
    found: dict[str, list[str]] = defaultdict(list)
    checked = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        names = [item.get(field) for field in fields]
        if not all(isinstance(name, str) and (base / name).is_file() for name in names):
            continue
        grids = [read_geometry(base / name, known) for name in names]
        if None in grids or not all(grid.usable() for grid in grids):
            continue  # reported by header_problems
        grids = [grid.reoriented() if field in reoriented else grid
                 for grid, field in zip(grids, fields)]
        checked += 1
        kind, shown = _pair_difference(*grids)
        if kind:
            found[kind].append(f"{names[1]} {shown[1]} against {names[0]} {shown[0]}")
    return [_pair_line(kind, pairs, checked, fields, reoriented)
            for kind, pairs in found.items()]


def _pair_difference(image: Geometry, label: Geometry) -> tuple[str | None, tuple[str, str]]:
    """(kind of difference or None, how each of the two is shown) of an image/label pair."""
    def axes(values) -> str:
        return "x".join(f"{v:g}" for v in values)

    # Without a qform or sform a file's orientation and origin are unknown: the loader
    # takes its voxels as they are, so only its spacing and shape can disagree.
    placed = image.placed and label.placed
    if placed and len(image.shape) == len(label.shape) and image.axcodes() != label.axcodes():
        return "orientation", (image.axcodes(), label.axcodes())
    same_spacing = len(image.spacing) == len(label.spacing) and np.allclose(
        image.spacing, label.spacing, rtol=SPACING_RTOL, atol=0)
    if image.shape != label.shape:
        if same_spacing:
            return "shape", (axes(image.shape), axes(label.shape))
        return None, ("", "")  # a resampling transform may reconcile them
    if not same_spacing:
        return "spacing", (f"{axes(image.spacing)} mm", f"{axes(label.spacing)} mm")
    shift = np.abs(image.affine[:3, 3] - label.affine[:3, 3])
    if placed and shift.max() > ORIGIN_TOLERANCE * min(image.spacing):
        def origin(grid: Geometry) -> str:
            return "(" + ", ".join(f"{v:g}" for v in np.round(grid.affine[:3, 3], 3)) + ")"
        return "origin", (origin(image), origin(label))
    return None, ("", "")


def _pair_line(kind: str, pairs: list[str], checked: int, fields: tuple[str, str],
               reoriented: frozenset[str]) -> str:
    image, label = fields
    count = f"{len(pairs)} of {checked} {label}s"
    if kind == "shape":
        return f"{count} differ in shape from their {image}: {_listed(pairs)}"
    if kind == "orientation":
        fix = ("re-save the label on its image's grid" if reoriented else
               "re-save the label on its image's grid, or set LoadNifti's "
               "as_closest_canonical to true when both headers are right")
        return (f"{count} differ in orientation from their {image}, and the pipeline "
                f"pairs their voxels one to one: {_listed(pairs)} ({fix})")
    what = {"spacing": "have another voxel spacing than their",
            "origin": "have another origin (a shifted grid) than their"}[kind]
    return (f"{count} {what} {image} of the same shape, and the pipeline pairs their voxels "
            f"one to one: {_listed(pairs)} (re-save the label on its image's grid)")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _inspect(path: Path, known: dict[Path, Geometry] | None = None,
             ) -> tuple[str | None, str, int | None]:
    """(problem kind or None, detail, channel count) of one file, from its header; its
    geometry goes into ``known``."""
    import nibabel as nib

    try:
        image = nib.load(str(path))
        shape = tuple(int(n) for n in image.shape)
        affine = np.asarray(image.affine, dtype=np.float64)
        if known is not None:
            known[path] = Geometry.of(image)
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
