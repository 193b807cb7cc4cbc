"""Resampling transforms: change the voxel grid (spacing or shape) and keep geometry right."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmarctl.errors import DataError
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, channel_axis,
                                             spatial_axes,
                                             check_bool, check_sizes, is_label_field,
                                             per_channel, sample_name, spatial_shape)


def resize(array: np.ndarray, axis: int | None, shape: tuple[int, ...], order: int) -> np.ndarray:
    """Resample the spatial axes of ``array`` to ``shape`` (voxel corners aligned).

    ``order`` 0 is nearest neighbour (labels), 1 linear (images). Voxels are treated as
    areas (``grid_mode``): the field of view is unchanged and edges are extended. The result
    equals ``scipy.ndimage.zoom(..., mode="nearest", grid_mode=True)``, computed one axis at
    a time (linear interpolation is separable), which makes nearest neighbour several
    times faster on CT-sized volumes.
    """
    array = np.asarray(array, np.float32)
    old = spatial_shape(array, axis)
    if tuple(old) == tuple(shape):
        return array

    def one(channel: np.ndarray) -> np.ndarray:
        # Shrinking axes first keeps the intermediate arrays small.
        for a in sorted(range(channel.ndim), key=lambda i: shape[i] / channel.shape[i]):
            channel = _resample_axis(channel, a, shape[a], order)
        return np.ascontiguousarray(channel, dtype=np.float32)

    return per_channel(array, axis, one)


def _resample_axis(array: np.ndarray, axis: int, size: int, order: int) -> np.ndarray:
    """Resample one axis to ``size`` samples (nearest or linear, edges clamped)."""
    n = array.shape[axis]
    if n == size:
        return array
    position = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0, n - 1)
    if order == 0:
        return np.take(array, np.floor(position + 0.5).astype(np.intp), axis=axis)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, n - 1)
    weight_shape = [1] * array.ndim
    weight_shape[axis] = size
    weight = (position - low).astype(np.float32).reshape(weight_shape)
    out = np.take(array, low, axis=axis)
    out += (np.take(array, high, axis=axis) - out) * weight
    return out


def rescaled_affine(affine: Any, old: tuple[int, ...], new: tuple[int, ...]) -> np.ndarray:
    """The affine of a grid resampled from ``old`` to ``new`` voxels over the same extent."""
    affine = np.asarray(affine, np.float64)
    ratio = np.ones(3)
    ratio[: len(old)] = [o / n for o, n in zip(old, new)]
    step = np.eye(4)
    step[:3, :3] = np.diag(ratio)
    step[:3, 3] = (ratio - 1) / 2  # new voxel 0's centre, in old voxel coordinates
    return affine @ step


def apply_resize(transform: Transform, sample: Sample, field: str, shape: tuple[int, ...],
                 order: int) -> None:
    """Resize ``field`` to spatial ``shape`` and update its affine and pixdim."""
    array = np.asarray(transform.require(sample, field))
    axis = channel_axis(sample, field)
    old = spatial_shape(array, axis)
    sample[field] = resize(array, axis, shape, order)
    props = transform.meta(sample, field)
    if props.get("affine") is not None:
        props["affine"] = rescaled_affine(props["affine"], old, shape)
    if props.get("pixdim") is not None:
        props["pixdim"] = [float(p) * o / n for p, o, n in zip(props["pixdim"], old, shape)]


def _drop_last_spatial_axis(transform: Transform, sample: Sample, field: str,
                            array: np.ndarray) -> tuple[int, ...]:
    """Drop the last spatial axis of ``field`` (of size 1), with its entry in ``pixdim``;
    ``original_shape`` follows, so what is restored and written is 2-D on the input's grid
    (the NIfTI writer gives it back its singleton axis from the input header)."""
    axis = channel_axis(sample, field)
    last = max(spatial_axes(array, axis))
    sample[field] = squeezed = np.squeeze(array, axis=last)
    if axis is not None and axis % array.ndim > last:
        transform.meta(sample, field)["channel_axis"] = -1 if axis < 0 else axis - 1
    props = transform.meta(sample, field)
    old = spatial_shape(array, axis)
    dims = len(old) - 1
    if isinstance(props.get("pixdim"), list) and len(props["pixdim"]) > dims:
        props["pixdim"] = props["pixdim"][:dims]
    if tuple(props.get("original_shape") or ()) == tuple(old):
        props["original_shape"] = tuple(old[:-1])
    return spatial_shape(squeezed, channel_axis(sample, field))


def drop_singleton_axis(sample: Sample, field: str, dims: int) -> None:
    """Drop the last spatial axis of ``field`` when it has one axis more than a ``dims``-D
    network takes and that axis has size 1 (a 2-D label saved as (H, W, 1) that a chain
    without resampling loads: validate's label_transforms), as the resamplers drop it."""
    array = sample.get(field)
    if not isinstance(array, np.ndarray) or not dims:
        return
    shape = spatial_shape(array, channel_axis(sample, field))
    if len(shape) == dims + 1 and shape[-1] == 1:
        _drop_last_spatial_axis(Transform, sample, field, array)


def _spatial_dims_ok(transform: Transform, sample: Sample, field: str, given: int,
                     arg: str) -> tuple[int, ...]:
    array = np.asarray(transform.require(sample, field))
    shape = spatial_shape(array, channel_axis(sample, field))
    if len(shape) == given + 1 and shape[-1] == 1:
        # A 2-D image saved as (H, W, 1), as dcm2niix, ITK and SimpleITK write X-rays: the
        # singleton third axis is no spatial extent of a 2-D model's input.
        return _drop_last_spatial_axis(transform, sample, field, array)
    if len(shape) != given:
        raise DataError(f"{transform.clara_name}: {arg} has {given} values but field {field!r} "
                        f"has {len(shape)} spatial axes (shape {array.shape})",
                        file=sample_name(sample) or None)
    return shape


class ScaleByResolution(Transform):
    """Resample each field to a target voxel size (e.g. 1 mm isotropic).

    Implements Clara's ``ScaleByResolution``. The new shape is
    ``round(shape * pixdim / target_resolution)``; images use linear interpolation, labels
    (``is_label: true``) nearest neighbour so class indices stay integers. ``affine`` and
    ``pixdim`` in ``meta`` are updated (the exact new spacing, which differs slightly from
    the target when the extent is not a multiple of it).

    Args:
        fields: field name or list of names.
        target_resolution: voxel size per spatial axis, in the image's units (mm).
        is_label: the fields hold class indices (default false).
    """

    clara_name = "ScaleByResolution"

    def __init__(self, fields: str | list[str], target_resolution: list[float],
                 is_label: bool = False) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.target_resolution = check_sizes(target_resolution, component=self.clara_name,
                                             arg="target_resolution", integer=False)
        self.is_label = check_bool(is_label, component=self.clara_name, arg="is_label")
        super().__init__(fields=fields, target_resolution=target_resolution, is_label=is_label)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            shape = _spatial_dims_ok(self, sample, field, len(self.target_resolution),
                                     "target_resolution")
            pixdim = self.meta(sample, field).get("pixdim")
            if pixdim is None:
                raise DataError(f"{self.clara_name}: field {field!r} has no voxel size (pixdim)",
                                hint="load it with LoadNifti first")
            new = tuple(max(1, int(round(n * p / t)))
                        for n, p, t in zip(shape, pixdim, self.target_resolution))
            self._not_collapsed(sample, field, shape, new, pixdim)
            apply_resize(self, sample, field, new, 0 if self.is_label else 1)
            self.meta(sample, field)["is_label"] = self.is_label
        return sample


    def _not_collapsed(self, sample: Sample, field: str, shape: tuple[int, ...],
                       new: tuple[int, ...], pixdim: Any) -> None:
        """Refuse a resampling that would leave an axis of many voxels a few: a spacing
        far off the target (a file in metres or microns whose header says mm, a pixdim
        of 1 on a 0.001-scaled affine) would hand the network an empty volume and give an
        empty mask without a word."""
        if any(n >= COLLAPSE_FROM and m <= COLLAPSED for n, m in zip(shape, new)):
            spacing = "x".join(f"{float(p):g}" for p in pixdim[:len(shape)])
            target = "x".join(f"{float(t):g}" for t in self.target_resolution)
            raise DataError(
                f"{self.clara_name}: field {field!r} would be resampled from "
                f"{'x'.join(map(str, shape))} to {'x'.join(map(str, new))} voxels (spacing "
                f"{spacing} mm to target_resolution {target})",
                file=self.meta(sample, field).get("filename") or sample_name(sample) or None,
                hint="check the file's pixdim and spatial units (xyzt_units)")


#: An axis of at least COLLAPSE_FROM voxels that ScaleByResolution would leave at
#: COLLAPSED voxels or fewer: the spacing is wrong, not the data small.
COLLAPSE_FROM = 16
COLLAPSED = 2


class ScaleByFactor(Transform):
    """Resample each field by a zoom factor (``2`` doubles every spatial size).

    Implements Clara's ``ScaleByFactor``. ``factor`` is one number for all axes or one per
    axis; the new shape is ``round(shape * factor)`` (at least 1). Labels (see
    ``is_label_field``) use nearest neighbour, images linear interpolation.

    Args:
        fields: field name or list of names.
        factor: zoom factor (> 0), a number or a list per spatial axis.
    """

    clara_name = "ScaleByFactor"

    def __init__(self, fields: str | list[str], factor: float | list[float]) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        as_list = factor if isinstance(factor, (list, tuple)) else [factor]
        self.factor = check_sizes(as_list, component=self.clara_name, arg="factor", integer=False)
        super().__init__(fields=fields, factor=factor)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field))
            shape = spatial_shape(array, channel_axis(sample, field))
            factors = self.factor * len(shape) if len(self.factor) == 1 else self.factor
            if len(factors) != len(shape):
                _spatial_dims_ok(self, sample, field, len(factors), "factor")
            new = tuple(max(1, int(round(n * f))) for n, f in zip(shape, factors))
            apply_resize(self, sample, field, new, 0 if is_label_field(sample, field) else 1)
        return sample


class ScaleToShape(Transform):
    """Resample each field to a fixed spatial shape (e.g. X-rays to 256 x 256).

    Implements Clara's ``ScaleToShape``. Aspect ratio is not preserved. Labels (see
    ``is_label_field``) use nearest neighbour, images linear interpolation.

    Args:
        fields: field name or list of names.
        target_shape: the spatial shape, one positive integer per spatial axis.
    """

    clara_name = "ScaleToShape"

    def __init__(self, fields: str | list[str], target_shape: list[int]) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.target_shape = tuple(check_sizes(target_shape, component=self.clara_name,
                                              arg="target_shape"))
        super().__init__(fields=fields, target_shape=target_shape)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            _spatial_dims_ok(self, sample, field, len(self.target_shape), "target_shape")
            apply_resize(self, sample, field, self.target_shape,
                         0 if is_label_field(sample, field) else 1)
        return sample


class RestoreOriginalShape(Transform):
    """Bring a prediction back onto the grid its source image was loaded on.

    Implements Clara's ``RestoreOriginalShape`` (validation post-transform). Padding that
    SymmetricPadderDiv recorded on ``src_field`` is removed first, then the spatial axes are
    resampled to ``meta[src_field]["original_shape"]`` (nearest neighbour when
    ``is_label``) and the field takes the source's original ``affine`` and ``pixdim`` so the
    writers save it aligned with the input file. Crops are not undone (Clara's validation
    configs do not crop).

    Args:
        field: the field to restore (usually ``"model"``).
        src_field: the loaded field whose original geometry is the target (``"image"``).
        is_label: the field holds class indices (default false).
    """

    clara_name = "RestoreOriginalShape"

    def __init__(self, field: str = "model", src_field: str = "image", is_label: bool = False) -> None:
        self.field = as_fields(field, component=self.clara_name, arg="field")[0]
        self.src_field = as_fields(src_field, component=self.clara_name, arg="src_field")[0]
        self.is_label = check_bool(is_label, component=self.clara_name, arg="is_label")
        super().__init__(field=field, src_field=src_field, is_label=is_label)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        array = np.asarray(self.require(sample, self.field))
        self.require(sample, self.src_field)
        source = self.meta(sample, self.src_field)
        if "original_shape" not in source:
            raise DataError(f"{self.clara_name}: field {self.src_field!r} has no original_shape",
                            hint="load it with LoadNifti or LoadPng first")
        axis = channel_axis(sample, self.field)
        padding = source.get("padding")
        if padding:
            spatial = [a % array.ndim for a in range(array.ndim) if axis is None or a != axis % array.ndim]
            index = [slice(None)] * array.ndim
            for a, (before, after) in zip(spatial, padding):
                index[a] = slice(before, array.shape[a] - after)
            array = array[tuple(index)]
        target = tuple(int(n) for n in source["original_shape"])
        if len(target) != len(spatial_shape(array, axis)):
            raise DataError(f"{self.clara_name}: field {self.field!r} has shape {array.shape}, "
                            f"which does not match {self.src_field!r}'s original shape {target}")
        sample[self.field] = resize(array, axis, target, 0 if self.is_label else 1)
        props = self.meta(sample, self.field)
        for key, src_key in (("affine", "original_affine"), ("pixdim", "original_pixdim"),
                             ("header", "header"), ("filename", "filename")):
            if source.get(src_key) is not None:
                props[key] = source[src_key]
        return sample

