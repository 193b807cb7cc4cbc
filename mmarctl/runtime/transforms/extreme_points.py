"""AddExtremePointsChannel: the guidance channel of extreme-point annotation models."""

from __future__ import annotations

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, channel_axis,
                                             check_number, common_spatial_shape,
                                             sample_name)


def extreme_points(mask: np.ndarray, rng: np.random.Generator | None = None) -> list[tuple[int, ...]]:
    """The lowest and highest foreground voxel along each axis (ties: first, or random)."""
    coords = np.argwhere(mask)
    points = []
    for axis in range(mask.ndim):
        for value in (coords[:, axis].min(), coords[:, axis].max()):
            tied = coords[coords[:, axis] == value]
            pick = int(rng.integers(len(tied))) if rng is not None else 0
            points.append(tuple(int(v) for v in tied[pick]))
    return points


def gaussian_heatmap(shape: tuple[int, ...], points: list[tuple[int, ...]], sigma: float) -> np.ndarray:
    """Max over points of ``exp(-d^2 / 2 sigma^2)``, computed within 4 sigma of each point."""
    heat = np.zeros(shape, np.float32)
    reach = int(np.ceil(4 * sigma))
    for point in points:
        window = tuple(slice(max(p - reach, 0), min(p + reach + 1, n)) for p, n in zip(point, shape))
        grids = np.ogrid[window]
        distance = sum(((g - p) ** 2).astype(np.float32) for g, p in zip(grids, point))
        np.maximum(heat[window], np.exp(-distance / (2 * sigma ** 2)), out=heat[window])
    return heat


def _perturbation(value, component: str) -> float:
    """Clara's numeric ``permutation`` (voxels, >= 0); the booleans of earlier mmarctl
    configs stay valid: true is 2 voxels, false 0."""
    if isinstance(value, bool):
        return 2.0 if value else 0.0
    if isinstance(value, (int, float)) and np.isfinite(value) and value >= 0:
        return float(value)
    raise ConfigError(f"{component}: permutation must be a number of voxels >= 0 (or true / "
                      f"false); Received: permutation={value!r}")


class AddExtremePointsChannel(Transform):
    """Append a channel of Gaussian blobs at the label's extreme points to the image.

    Implements Clara's ``AddExtremePointsChannel`` (DeepExtremeCut-style annotation models:
    the user's clicks at the object's extremes become an input channel). The 2 points per
    spatial axis are the label's lowest and highest foreground voxels. ``permutation`` is
    Clara's "permutation to be added to each dimension" (default 0), a number of voxels:
    when it is above 0, mmarctl picks randomly among tied voxels and moves each coordinate
    of each point by a uniform offset in ``[-permutation, permutation]`` (rounded to a
    voxel, kept inside the image), simulating imprecise clicks, as MONAI's port does.
    ``true`` / ``false``, which earlier mmarctl versions took, mean 2 and 0. The Gaussian
    heat map is min-max rescaled to ``[rescale_min, rescale_max]`` (MONAI's
    ``rescale_array``: the new channel spans exactly that range) and added as the last
    channel of a channels-first image. A label with no foreground is a DataError.

    Args:
        image_field: the image (channels first, or without a channel axis).
        label_field: the label whose foreground gives the points.
        dtype: NumPy dtype of the result (default ``"float32"``).
        sigma: width of each blob in voxels (default 3).
        permutation: perturbation of each point coordinate in voxels (default 0: none).
        rescale_min, rescale_max: range of the new channel (default -1 and 1).
        points_channel_field: also store the new channel in this field (optional).
    """

    clara_name = "AddExtremePointsChannel"

    def __init__(self, image_field: str = "image", label_field: str = "label",
                 dtype: str = "float32", sigma: float = 3.0, permutation: float = 0,
                 rescale_min: float = -1.0, rescale_max: float = 1.0,
                 points_channel_field: str | None = None) -> None:
        name = self.clara_name
        self.image_field = as_fields(image_field, component=name, arg="image_field")[0]
        self.label_field = as_fields(label_field, component=name, arg="label_field")[0]
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise ConfigError(f"{name}: dtype must be a NumPy type name such as \"float32\"; "
                              f"Received: dtype={dtype!r}") from None
        self.sigma = check_number(sigma, component=name, arg="sigma", minimum=0, strict=True)
        self.permutation = _perturbation(permutation, name)
        self.is_random = self.permutation > 0
        self.rescale_min = check_number(rescale_min, component=name, arg="rescale_min")
        self.rescale_max = check_number(rescale_max, component=name, arg="rescale_max")
        self.points_channel_field = (as_fields(points_channel_field, component=name,
                                               arg="points_channel_field")[0]
                                     if points_channel_field is not None else None)
        super().__init__(image_field=image_field, label_field=label_field, dtype=dtype,
                         sigma=sigma, permutation=permutation, rescale_min=rescale_min,
                         rescale_max=rescale_max, points_channel_field=points_channel_field)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shape = common_spatial_shape(self, sample, [self.image_field, self.label_field])
        label = np.asarray(sample[self.label_field])
        axis = channel_axis(sample, self.label_field)
        mask = (label > 0) if axis is None else (label > 0).any(axis=axis)
        if not mask.any():
            raise DataError(f"{self.clara_name}: label {self.label_field!r} has no foreground, "
                            "so there are no extreme points", file=sample_name(sample) or None)
        points = extreme_points(mask, rng if self.is_random else None)
        if self.is_random:
            top = np.array(shape) - 1
            points = [tuple(int(v) for v in np.clip(
                np.rint(np.array(p) + rng.uniform(-self.permutation, self.permutation, len(p))),
                0, top)) for p in points]
        heat = gaussian_heatmap(shape, points, self.sigma)
        low, high = float(heat.min()), float(heat.max())
        # min-max rescaled as MONAI's rescale_array: on a small patch the blobs cover it all
        # and their minimum is above 0, yet the channel must still reach rescale_min
        unit = (heat - low) / (high - low) if high > low else np.zeros_like(heat)
        channel = (self.rescale_min + unit * (self.rescale_max - self.rescale_min))[np.newaxis]
        image = np.asarray(sample[self.image_field])
        image_axis = channel_axis(sample, self.image_field)
        if image_axis is None:
            image = image[np.newaxis]
        elif image_axis % image.ndim != 0:
            image = np.moveaxis(image, image_axis, 0)
        sample[self.image_field] = np.concatenate([image, channel]).astype(self.dtype)
        self.meta(sample, self.image_field)["channel_axis"] = 0
        if self.points_channel_field:
            sample[self.points_channel_field] = channel.astype(self.dtype)
            self.meta(sample, self.points_channel_field)["channel_axis"] = 0
        return sample
