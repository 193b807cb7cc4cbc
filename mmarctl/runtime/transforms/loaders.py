"""Loaders: turn the file names a data list gives into arrays plus their properties."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms import _png
from mmarctl.runtime.transforms.base import (FieldsTransform, Sample, Transform, as_fields,
                                             check_bool)
from mmarctl.runtime.transforms.c_order import as_c_order
from mmarctl.runtime.transforms.nifti_gzip import open_nifti


def _paths(value: Any, transform: str, field: str) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, os.PathLike)) for v in value):
        return [os.fspath(v) for v in value]
    if isinstance(value, np.ndarray):
        # An earlier step loaded the field already (the validation config loading 'label' in
        # pre_transforms and again in label_transforms): a config mistake every case hits,
        # told by the array's shape, never its print.
        raise ConfigError(f"{transform}: field {field!r} is already loaded (an array of shape "
                          f"{tuple(value.shape)}), not a file name: an earlier transform "
                          f"loaded it; load each field once (drop {field!r} from one loader's "
                          "fields)")
    raise DataError(f"{transform}: field {field!r} must hold a file name or a list of file "
                    f"names; Received: {field}={_short(value)}")


def _short(value: Any, limit: int = 120) -> str:
    """``value``'s repr, cut to ``limit`` characters (a message line, not a dump)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def load_nifti(path: str, as_closest_canonical: bool = False):
    """Read one NIfTI file -> (float32 array, affine, zooms, header); DataError when unreadable."""
    import nibabel as nib

    from mmarctl.check.images import spatial_unit_mm, unsupported_datatype, voxel_sizes

    _require_file(path)
    unsupported = None
    try:
        image = open_nifti(path)
        unsupported = unsupported_datatype(image.header)
        # The header as stored: the writers put a mask predicted on the canonical grid back
        # on the input's own voxel array with it (the affine returned is the canonical one).
        stored = image.header
        if as_closest_canonical:
            image = nib.as_closest_canonical(image)
        # get_fdata applies scl_slope/inter; reading here also detects truncated files.
        # NIfTI arrays come in Fortran order; C order makes later resampling 2-3x faster.
        data = as_c_order(image.get_fdata(dtype=np.float32))
    except PermissionError as error:
        raise DataError(f"cannot read: {error.strerror}", file=path,
                        hint="check the file's owner and mode") from error
    except Exception as error:  # nibabel raises many types for corrupt files
        if unsupported:  # an RGB or complex file is readable, only not as grey values
            raise DataError(unsupported, file=path) from error
        other = _not_nifti(path)
        if other:
            png = str(path).lower().endswith(".png")
            raise DataError(f"not a NIfTI image: {other}", file=path,
                            hint="the config's LoadNifti reads NIfTI (.nii, .nii.gz) only; PNG "
                                 "images need LoadPng in its pre_transforms" if png else
                                 "name NIfTI images (.nii, .nii.gz) only: one --input per "
                                 "image for infer, or list them in the datalist") from error
        raise DataError(f"cannot read NIfTI image: {type(error).__name__}: {error}", file=path,
                        hint="the file is corrupt or truncated; re-copy it") from error
    if not _all_finite(data):
        # NaN voxels would only surface later as a NaN loss that names no case.
        bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        # Where skip_bad_cases is set (the validation or training config, or --set) the
        # verb's own hint adds: it differs between validate/infer and train.
        raise DataError(f"NIfTI image has {bad} NaN or infinite voxel(s)", file=path,
                        hint="fix or re-export the image")
    # The spacing of the affine (the sform's where there is one: the grid the affine and
    # the writers use), not pixdim (the qform's), in mm whatever the header's unit (a file
    # in metres would otherwise be resampled to a few voxels).
    scale = spatial_unit_mm(image.header)
    zooms = [float(z) * scale for z in voxel_sizes(image.affine)[: min(data.ndim, 3)]]
    return data, np.asarray(image.affine, dtype=np.float64), zooms, stored.copy()


def _require_file(path: str) -> None:
    """Refuse a path that is missing, or is no regular file (a FIFO, a device: reading a
    FIFO would block, /dev/zero would never end), before opening it."""
    from mmarctl.check.images import file_kind

    kind = file_kind(Path(path))
    if kind == "missing":
        raise DataError("image file not found", file=path,
                        hint="check DATA_ROOT and the data list entry")
    if kind != "file":
        raise DataError(f"not a regular file ({kind})", file=path,
                        hint="the data list must name image files")


def _not_nifti(path: str) -> str | None:
    """Why ``path``, which nibabel could not read, is no NIfTI image at all (not a damaged
    one): its name does not end in .nii / .nii.gz, and what it holds (text, say); else None."""
    name = Path(path).name.lower()
    if name.endswith((".nii", ".nii.gz", ".hdr", ".img")):
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return None
    suffix = Path(path).suffix or "no extension"
    text = bool(head) and all(c in b"\t\r\n" or 32 <= c < 127 for c in head)
    return f"its name ends in {suffix}" + (" and it looks like text" if text else "")


def _all_finite(data: np.ndarray) -> bool:
    """Whether no voxel is NaN or infinite: min and max propagate NaN, and hold any
    infinity, in two passes that allocate nothing (``isfinite`` builds a mask as large)."""
    return data.size == 0 or bool(np.isfinite(data.min()) and np.isfinite(data.max()))


def _as_channels_last(data: np.ndarray, path: str) -> np.ndarray:
    """A 2-D or 3-D image gets a trailing channel axis; axes after the third (NIfTI's time
    and vector axes) are merged into one channel axis."""
    if data.ndim < 2:
        raise DataError(f"LoadNifti: expected a 2-D, 3-D or 4-D image, got shape {data.shape}",
                        file=path)
    return data[..., np.newaxis] if data.ndim <= 3 else data.reshape(data.shape[:3] + (-1,))


class LoadNifti(Transform):
    """Load NIfTI images (``.nii`` / ``.nii.gz``) named by each field into float32 arrays.

    Implements Clara's ``LoadNifti``. A field holding a list of files (multi-modal BraTS)
    loads each and stacks them on a last (channel) axis; a 4-D (or 5-D) file keeps the axes
    after the third as channels. 2-D NIfTI images load as 2-D arrays. ``meta[field]`` records ``affine``, ``pixdim`` (spatial voxel sizes),
    ``header``, ``filename``, ``original_shape``, ``original_affine`` and ``original_pixdim``
    (as loaded, used by RestoreOriginalShape and the writers), ``channel_axis`` (None
    or -1) and an empty ``index_cache`` that croppers fill once per cached volume.

    Args:
        fields: field name or list of names holding file paths.
        as_closest_canonical: reorient to the closest RAS+ orientation (default false,
            the file's own orientation).
    """

    clara_name = "LoadNifti"

    def __init__(self, fields: str | list[str], as_closest_canonical: bool = False) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.as_closest_canonical = check_bool(as_closest_canonical, component=self.clara_name,
                                               arg="as_closest_canonical")
        super().__init__(fields=fields, as_closest_canonical=as_closest_canonical)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            paths = _paths(self.require(sample, field), self.clara_name, field)
            loaded = [load_nifti(p, self.as_closest_canonical) for p in paths]
            _, affine, zooms, header = loaded[0]
            volumes = [_as_channels_last(item[0], path) for item, path in zip(loaded, paths)]
            if len(paths) > 1:
                self._same_grid(field, paths, loaded)
            if len(volumes) == 1 and loaded[0][0].ndim <= 3:
                data, channel_axis = loaded[0][0], None  # one plain volume: no channel axis
            else:
                data = volumes[0] if len(volumes) == 1 else np.concatenate(volumes, axis=-1)
                channel_axis = -1
            spatial = data.shape[:-1] if channel_axis is not None else data.shape
            sample[field] = data
            sample.setdefault("meta", {})[field] = {
                "affine": affine, "original_affine": affine.copy(), "pixdim": zooms,
                "original_pixdim": list(zooms),
                "header": header, "filename": paths[0], "filenames": paths,
                "original_shape": tuple(spatial), "channel_axis": channel_axis,
                "index_cache": {},  # shared by the pipeline's per-step copies (posneg.py)
            }
        return sample

    def _same_grid(self, field: str, paths: list[str], loaded: list[tuple]) -> None:
        """Refuse the files of one field (a case's modalities) that are not on the first
        one's voxel grid: stacked voxel by voxel, a modality in another orientation would
        be mirrored against the others without a word. ``check`` reports the same."""
        from mmarctl.check.images import Geometry, stack_difference

        def grid(item: tuple) -> Geometry:
            data, affine, _, header = item
            shape = data.shape[:3]
            geometry = Geometry.of_header(header, affine)
            return Geometry(tuple(int(n) for n in shape), geometry.spacing, geometry.affine,
                            geometry.placed)

        first = grid(loaded[0])
        for path, item in zip(paths[1:], loaded[1:]):
            kind, shown = stack_difference(first, grid(item))
            if kind:
                canonical = ("" if self.as_closest_canonical or kind != "orientation" else
                             ", or set as_closest_canonical to true when every header is right")
                raise DataError(
                    f"{self.clara_name}: the files of field {field!r} differ in {kind}: "
                    f"this one from the case's first file {paths[0]} "
                    f"({' against '.join(filter(None, (shown[1], shown[0])))})",
                    file=path, hint=f"re-save a case's modalities on one voxel grid: they "
                                    f"are stacked voxel by voxel{canonical}")


class LoadPng(FieldsTransform):
    """Load PNG images named by each field into float32 arrays of shape ``(rows, cols)``.

    Implements Clara's ``LoadPng``. Grey images give a 2-D array; grey+alpha, RGB and RGBA
    images give ``(rows, cols, C)`` with ``channel_axis`` -1; palette images are expanded to
    RGB. Pixel values are kept as stored (0..255 or 0..65535), not rescaled. ``pixdim`` is
    ``[1, 1]`` and ``affine`` the identity, as PNG has no geometry. Interlaced PNGs are
    rejected with a DataError.

    Args:
        fields: field name or list of names holding PNG file paths.
    """

    clara_name = "LoadPng"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            paths = _paths(self.require(sample, field), self.clara_name, field)
            if len(paths) != 1:
                raise DataError(f"{self.clara_name}: field {field!r} must name one PNG file; "
                                f"Received: {len(paths)} files", file=paths[0])
            _require_file(paths[0])
            data = _png.read_png(paths[0]).astype(np.float32)
            sample[field] = data
            sample.setdefault("meta", {})[field] = {
                "affine": np.eye(4), "original_affine": np.eye(4), "pixdim": [1.0, 1.0],
                "original_pixdim": [1.0, 1.0],
                "header": None, "filename": paths[0], "filenames": paths,
                "original_shape": tuple(data.shape[:2]),
                "channel_axis": -1 if data.ndim == 3 else None,
                "index_cache": {},
            }
        return sample


#: The loaders whose fields name files in the datalist.
FILE_LOADERS = (LoadNifti, LoadPng)


def fields_read(transforms: Any) -> dict[str, str]:
    """The datalist fields the loaders among ``transforms`` read -> the loader's Clara name.

    ``mmarctl check`` and the pipelines both call this, so they demand the same fields.
    """
    read: dict[str, str] = {}
    for transform in transforms or ():
        if isinstance(transform, FILE_LOADERS):
            for field in transform.fields:
                read.setdefault(field, transform.clara_name)
    return read


def missing_fields(items: list, key: str, read: dict[str, str]) -> list[str]:
    """One message per field the loaders read that some datalist items lack.

    Args:
        items: the datalist's ``key`` list as written (a string item is an image only).
        key: the list's name, for the JSON paths in the message.
        read: from :func:`fields_read`.
    """
    messages = []
    for field, loader in read.items():
        lacking = [i for i, item in enumerate(items)
                   if (isinstance(item, dict) and field not in item)
                   or (isinstance(item, str) and field != "image")]
        if lacking:
            shown = ", ".join(f"{key}[{i}]" for i in lacking[:5])
            more = f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
            messages.append(f"{len(lacking)} of {len(items)} items have no {field!r}, which "
                            f"{loader} reads: {shown}{more}")
    return messages

