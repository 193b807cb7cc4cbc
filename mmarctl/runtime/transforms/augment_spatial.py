"""Random spatial augmentations: flips, rotations and zoom, applied alike to all fields."""

from __future__ import annotations

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, cast_as,
                                             channel_axis, check_bool, check_number, check_probability,
                                             check_sizes, common_spatial_shape, is_label_field,
                                             per_channel, sample_name, spatial_axes)


def _flip(sample: Sample, field: str, spatial_index: list[int]) -> None:
    array = np.asarray(sample[field])
    axes = spatial_axes(array, channel_axis(sample, field))
    sample[field] = np.ascontiguousarray(np.flip(array, axis=[axes[i] for i in spatial_index]))


class _RandomFieldsTransform(Transform):
    """A random transform whose Clara arguments are ``fields`` and ``probability``."""

    is_random = True

    def __init__(self, fields: str | list[str], probability: float = 0.5) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.probability = check_probability(probability, component=self.clara_name)
        super().__init__(fields=fields, probability=probability)


class RandomSpatialFlip(_RandomFieldsTransform):
    """Flip the fields along each spatial axis independently with chance 1/2.

    Implements Clara's ``RandomSpatialFlip``. The same flips are applied to every field
    (image and label stay aligned). Flips are augmentation: ``affine`` is not changed.

    Args:
        fields: field name or list of names.
        probability: chance of flipping along each axis (default 0.5).
    """

    clara_name = "RandomSpatialFlip"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shape = common_spatial_shape(self, sample, self.fields)
        chosen = [i for i in range(len(shape)) if rng.random() < self.probability]
        if chosen:
            for field in self.fields:
                _flip(sample, field, chosen)
        return sample


class RandomAxisFlip(_RandomFieldsTransform):
    """With chance ``probability``, flip the fields along one randomly chosen spatial axis.

    Implements Clara's ``RandomAxisFlip``. Every field gets the same flip; ``affine`` is not
    changed.

    Args:
        fields: field name or list of names.
        probability: chance of a flip per sample (default 0.5; 0 disables it).
    """

    clara_name = "RandomAxisFlip"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shape = common_spatial_shape(self, sample, self.fields)
        if rng.random() < self.probability:
            axis = int(rng.integers(len(shape)))
            for field in self.fields:
                _flip(sample, field, [axis])
        return sample


class RandomRotate2D(Transform):
    """Rotate 2-D fields in-plane by an angle in degrees (random in ``[-angle, angle]``).

    Implements Clara's ``RandomRotate2D``. With ``is_random: false`` the rotation is always
    exactly ``angle`` and the transform is deterministic (cacheable). Images use linear
    interpolation, labels (see ``is_label_field``) nearest neighbour; the shape is kept and
    corners that rotate in are filled with 0. A label keeps its dtype; images become float32
    unless ``dtype`` is given. ``dtype`` casts the result, rounding first for an integer type
    (a truncating cast would turn an interpolated 0.99 into 0).

    Args:
        fields: field name or list of names (each with 2 spatial axes).
        angle: maximum (or exact) angle in degrees.
        is_random: draw the angle per sample (default true).
        dtype: optional NumPy dtype name for the result (e.g. ``"uint8"``).
    """

    clara_name = "RandomRotate2D"
    #: The number of spatial axes its fields must have (check holds it to the network).
    spatial_dims = 2

    def __init__(self, fields: str | list[str], angle: float = 15, is_random: bool = True,
                 dtype: str | None = None) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.angle = check_number(angle, component=self.clara_name, arg="angle")
        self.is_random = check_bool(is_random, component=self.clara_name, arg="is_random")
        self.dtype = _dtype(dtype, self.clara_name)
        super().__init__(fields=fields, angle=angle, is_random=is_random, dtype=dtype)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        from scipy import ndimage  # imported here: scipy.ndimage costs ~0.3 s and few chains need it
        shape = common_spatial_shape(self, sample, self.fields)
        if len(shape) != 2:
            raise DataError(f"{self.clara_name}: fields must be 2-D; got spatial shape {shape}",
                            file=sample_name(sample) or None, hint="use RandomRotate3D for volumes")
        degrees = rng.uniform(-abs(self.angle), abs(self.angle)) if self.is_random else self.angle
        for field in self.fields:
            label = is_label_field(sample, field)
            order = 0 if label else 1

            def rotate(x: np.ndarray, order: int = order) -> np.ndarray:
                return ndimage.rotate(x, degrees, reshape=False, order=order, mode="constant")

            source = np.asarray(sample[field])
            out = per_channel(source.astype(np.float32, copy=False), channel_axis(sample, field),
                              rotate)
            dtype = self.dtype if self.dtype is not None else (source.dtype if label else None)
            sample[field] = cast_as(out, dtype) if dtype is not None else out
        return sample


def _dtype(value: str | None, component: str) -> np.dtype | None:
    if value is None:
        return None
    try:
        return np.dtype(value)
    except TypeError:
        raise ConfigError(f"{component}: dtype must be a NumPy type name such as \"uint8\"; "
                          f"Received: dtype={value!r}") from None


class RandomRotate3D(_RandomFieldsTransform):
    """With chance ``probability``, rotate volumes by 90, 180 or 270 degrees in one plane.

    Implements Clara's ``RandomRotate3D``, whose angle rule Clara left undocumented:
    mmarctl rotates by a random multiple of 90 degrees in a randomly chosen plane of two
    spatial axes of equal size, which is exact (no interpolation, labels stay labels) and
    keeps the patch shape. When no two spatial axes are equal nothing is rotated.

    Args:
        fields: field name or list of names.
        probability: chance of a rotation per sample (default 0.5; 0 disables it).
    """

    clara_name = "RandomRotate3D"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shape = common_spatial_shape(self, sample, self.fields)
        if rng.random() >= self.probability:
            return sample
        planes = [(a, b) for a in range(len(shape)) for b in range(a + 1, len(shape))
                  if shape[a] == shape[b]]
        if not planes:
            return sample
        plane = planes[int(rng.integers(len(planes)))]
        turns = int(rng.integers(1, 4))
        for field in self.fields:
            array = np.asarray(sample[field])
            axes = spatial_axes(array, channel_axis(sample, field))
            sample[field] = np.ascontiguousarray(
                np.rot90(array, k=turns, axes=(axes[plane[0]], axes[plane[1]])))
        return sample


class RandomZoom(Transform):
    """Zoom image and label by a random factor per axis, keeping their shape.

    Implements Clara's ``RandomZoom``. Each spatial axis gets a factor drawn from
    ``[lower_limits[i], upper_limits[i]]``; factors > 1 magnify about the centre, < 1 shrink
    (edges are extended with the border value). The image uses linear interpolation, the
    label nearest neighbour, both the same factors. The label keeps its dtype.

    Args:
        image_field: the image field.
        label_field: the label field (optional: "" or null zooms the image only).
        lower_limits, upper_limits: per-axis factor ranges (> 0, lower <= upper).
    """

    clara_name = "RandomZoom"
    is_random = True

    def __init__(self, image_field: str = "image", label_field: str | None = "label",
                 lower_limits: list[float] = (0.9, 0.9, 0.9),
                 upper_limits: list[float] = (1.1, 1.1, 1.1)) -> None:
        name = self.clara_name
        self.image_field = as_fields(image_field, component=name, arg="image_field")[0]
        self.label_field = (as_fields(label_field, component=name, arg="label_field")[0]
                            if label_field else None)
        self.lower = check_sizes(list(lower_limits), component=name, arg="lower_limits", integer=False)
        self.upper = check_sizes(list(upper_limits), component=name, arg="upper_limits", integer=False)
        if len(self.lower) != len(self.upper) or any(lo > up for lo, up in zip(self.lower, self.upper)):
            raise ConfigError(f"{name}: lower_limits and upper_limits must have the same length and "
                              f"lower <= upper; Received: lower_limits={list(lower_limits)!r}, "
                              f"upper_limits={list(upper_limits)!r}")
        super().__init__(image_field=image_field, label_field=label_field,
                         lower_limits=list(lower_limits), upper_limits=list(upper_limits))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        from scipy import ndimage  # imported here: scipy.ndimage costs ~0.3 s and few chains need it
        fields = [self.image_field] + ([self.label_field] if self.label_field else [])
        shape = common_spatial_shape(self, sample, fields)
        if len(shape) != len(self.lower):
            raise DataError(f"{self.clara_name}: lower_limits has {len(self.lower)} values but the "
                            f"image has {len(shape)} spatial axes", file=sample_name(sample) or None)
        factors = np.array([rng.uniform(lo, up) for lo, up in zip(self.lower, self.upper)])
        centre = (np.array(shape) - 1) / 2
        matrix = 1 / factors  # output voxel -> input voxel
        offset = centre - matrix * centre
        for field, order in ((self.image_field, 1), (self.label_field, 0)):
            if field is None:
                continue

            def zoom(x: np.ndarray, order: int = order) -> np.ndarray:
                return ndimage.affine_transform(x, matrix, offset=offset, order=order, mode="nearest")

            source = np.asarray(sample[field])
            out = per_channel(source.astype(np.float32, copy=False), channel_axis(sample, field),
                              zoom)
            sample[field] = cast_as(out, source.dtype) if field == self.label_field else out
        return sample
