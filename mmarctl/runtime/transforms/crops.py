"""Fixed-rule croppers and padders (centre, random, random size, divisible padding)."""

from __future__ import annotations

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms._boxes import centred_start, patch, resolve_size
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, check_number,
                                             check_sizes, common_spatial_shape, sample_name)


def _rank(transform: Transform, sample: Sample, shape: tuple[int, ...], given: int, arg: str) -> None:
    if len(shape) != given:
        raise DataError(f"{transform.clara_name}: {arg} has {given} values but the data has "
                        f"{len(shape)} spatial axes (spatial shape {shape})",
                        file=sample_name(sample) or None)


def _replace(sample: Sample, cropped: Sample, fields: list[str]) -> Sample:
    """Write a cropped copy's fields and meta back into the sample (in place)."""
    for field in fields:
        sample[field] = cropped[field]
        sample.setdefault("meta", {})[field] = cropped["meta"][field]
    return sample


class CropSubVolumeCenter(Transform):
    """Cut the centre box of ``size`` from every field (zero-padded where it is larger).

    Implements Clara's ``CropSubVolumeCenter`` (validation). ``-1`` in ``size`` keeps that
    axis whole. Odd margins put the extra voxel after the box. ``affine`` moves with the box.

    Args:
        fields: field name or list of names (they must share a spatial shape).
        size: box size per spatial axis.
    """

    clara_name = "CropSubVolumeCenter"

    def __init__(self, fields: str | list[str], size: list[int]) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.size = check_sizes(size, component=self.clara_name, allow_minus_one=True)
        super().__init__(fields=fields, size=size)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shape = common_spatial_shape(self, sample, self.fields)
        _rank(self, sample, shape, len(self.size), "size")
        size = resolve_size(self.size, shape)
        return _replace(sample, patch(sample, self.fields, centred_start(shape, size), size),
                        self.fields)


class PadCropWithFixedSize(CropSubVolumeCenter):
    """Pad or crop every field to exactly ``size``, keeping it centred.

    Implements ``PadCropWithFixedSize``, a BYOC transform in Clara's notebooks; mmarctl
    gives it the same behaviour as CropSubVolumeCenter (zero padding, centred box).

    Args:
        fields: field name or list of names.
        size: output size per spatial axis (``-1`` keeps an axis).
    """

    clara_name = "PadCropWithFixedSize"


class CropFixedSizeRandomCenter(Transform):
    """Cut a box of ``size`` at a uniformly random position inside the volume.

    Implements Clara's ``CropFixedSizeRandomCenter``. Every field gets the same box. Where
    the volume is smaller than ``size`` along an axis, the box is centred there and padded
    with 0.

    Args:
        fields: field name or list of names (they must share a spatial shape).
        size: box size per spatial axis.
    """

    clara_name = "CropFixedSizeRandomCenter"
    is_random = True

    def __init__(self, fields: str | list[str], size: list[int]) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.size = check_sizes(size, component=self.clara_name, allow_minus_one=True)
        super().__init__(fields=fields, size=size)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shape = common_spatial_shape(self, sample, self.fields)
        _rank(self, sample, shape, len(self.size), "size")
        size = resolve_size(self.size, shape)
        start = [int(rng.integers(0, d - n + 1)) if d > n else (d - n) // 2
                 for d, n in zip(shape, size)]
        return _replace(sample, patch(sample, self.fields, start, size), self.fields)


class CropRandomSizeWithDisplacement(Transform):
    """Cut a box of random size near the centre: a random-resized-crop for 2-D images.

    Implements Clara's ``CropRandomSizeWithDisplacement`` (undocumented by Clara; this is
    mmarctl's reading of its arguments). Each axis keeps a fraction of its length drawn from
    ``[lower_size[i], 1]``; the box centre is the volume centre moved by up to
    ``max_displacement`` voxels per axis, then kept inside the volume. The output size
    varies, so a later ScaleToShape or fixed-size crop is expected.

    Args:
        fields: field name or list of names.
        lower_size: smallest kept fraction per spatial axis, in (0, 1] (default: 1, so
            only the displacement applies).
        max_displacement: largest shift of the centre, in voxels (>= 0).
    """

    clara_name = "CropRandomSizeWithDisplacement"
    is_random = True

    def __init__(self, fields: str | list[str], lower_size: list[float] | None = None,
                 max_displacement: float = 0) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.lower_size = (None if lower_size is None else
                           check_sizes(lower_size, component=self.clara_name, arg="lower_size",
                                       integer=False))
        if self.lower_size is not None and any(f > 1 for f in self.lower_size):
            raise ConfigError(f"{self.clara_name}: lower_size values are fractions in (0, 1]; "
                              f"Received: lower_size={lower_size!r}")
        self.max_displacement = check_number(max_displacement, component=self.clara_name,
                                             arg="max_displacement", minimum=0)
        super().__init__(fields=fields, lower_size=lower_size, max_displacement=max_displacement)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        shape = common_spatial_shape(self, sample, self.fields)
        lower = self.lower_size if self.lower_size is not None else [1.0] * len(shape)
        _rank(self, sample, shape, len(lower), "lower_size")
        size = [max(1, int(round(d * rng.uniform(f, 1)))) for d, f in zip(shape, lower)]
        start = []
        for d, n in zip(shape, size):
            shift = rng.uniform(-self.max_displacement, self.max_displacement)
            start.append(int(min(max(round((d - n) / 2 + shift), 0), d - n)))
        return _replace(sample, patch(sample, self.fields, start, size), self.fields)


class SymmetricPadderDiv(Transform):
    """Zero-pad each spatial axis, evenly on both sides, to a multiple of ``div_int``.

    Implements Clara's ``SymmetricPadderDiv`` (networks that halve the size several times
    need divisible inputs). An odd amount puts the extra voxel after. The padding is
    recorded as ``meta[field]["padding"]`` (``[before, after]`` per axis) so
    RestoreOriginalShape can remove it; ``affine`` moves accordingly.

    Args:
        fields: field name or list of names.
        div_int: the divisor (integer >= 1).
    """

    clara_name = "SymmetricPadderDiv"

    def __init__(self, fields: str | list[str], div_int: int = 16) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        if isinstance(div_int, bool) or not isinstance(div_int, int) or div_int < 1:
            raise ConfigError(f"{self.clara_name}: div_int must be an integer >= 1; "
                              f"Received: div_int={div_int!r}")
        self.div_int = div_int
        super().__init__(fields=fields, div_int=div_int)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            shape = common_spatial_shape(self, sample, [field])
            total = [(-d) % self.div_int for d in shape]
            start = [-(t // 2) for t in total]
            size = [d + t for d, t in zip(shape, total)]
            cropped = patch(sample, [field], start, size)
            sample[field] = cropped[field]
            props = cropped["meta"][field]
            props.pop("crop_start", None)
            props["padding"] = [[t // 2, t - t // 2] for t in total]
            sample.setdefault("meta", {})[field] = props
        return sample
