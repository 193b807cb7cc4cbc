"""Deterministic intensity transforms: windowing and normalisation."""

from __future__ import annotations

import warnings

import numpy as np

from mmarctl.errors import ConfigError
from mmarctl.runtime.transforms.base import (FieldsTransform, Sample, Transform, as_fields,
                                             channel_axis, check_bool, check_number,
                                             per_channel)


def scale_intensity_range(array: np.ndarray, a_min: float, a_max: float, b_min: float,
                          b_max: float, clip: bool) -> np.ndarray:
    """Map ``[a_min, a_max]`` linearly onto ``[b_min, b_max]`` (float32)."""
    out = (np.asarray(array, np.float32) - a_min) * np.float32((b_max - b_min) / (a_max - a_min))
    out += np.float32(b_min)
    if clip:
        np.clip(out, min(b_min, b_max), max(b_min, b_max), out=out)
    return out


class ScaleIntensityRange(Transform):
    """Window intensities: map ``[a_min, a_max]`` linearly onto ``[b_min, b_max]``.

    Implements Clara's ``ScaleIntensityRange``. ``a_offset`` is the window width used by
    some Clara notebooks instead of ``a_max`` (``a_max = a_min + a_offset``); giving both
    with different results is an error. An empty or reversed window (``a_max <= a_min``)
    is rejected rather than dividing by zero; an empty output range (``b_min == b_max``)
    only warns.

    Args:
        fields: field name or list of names.
        a_min, a_max: input window (e.g. Hounsfield units -57 and 164 for spleen CT).
        b_min, b_max: output range (default 0 and 1).
        clip: clip the result to ``[b_min, b_max]`` (default false).
        a_offset: window width, an alternative to ``a_max``.
    """

    clara_name = "ScaleIntensityRange"

    def __init__(self, fields: str | list[str], a_min: float, a_max: float | None = None,
                 b_min: float = 0.0, b_max: float = 1.0, clip: bool = False,
                 a_offset: float | None = None) -> None:
        name = self.clara_name
        self.fields = as_fields(fields, component=name)
        self.a_min = check_number(a_min, component=name, arg="a_min")
        if a_offset is not None:
            offset = check_number(a_offset, component=name, arg="a_offset", minimum=0, strict=True)
            if a_max is not None and check_number(a_max, component=name, arg="a_max") != self.a_min + offset:
                raise ConfigError(f"{name}: a_max and a_offset disagree (a_max must be "
                                  f"a_min + a_offset); Received: a_min={a_min!r}, a_max={a_max!r}, "
                                  f"a_offset={a_offset!r}", hint="give only one of a_max, a_offset")
            a_max = self.a_min + offset
        if a_max is None:
            raise ConfigError(f"{name}: a_max (or a_offset) is required; Received: a_max=None")
        self.a_max = check_number(a_max, component=name, arg="a_max")
        if self.a_max <= self.a_min:
            raise ConfigError(f"{name}: a_max must be greater than a_min; "
                              f"Received: a_min={a_min!r}, a_max={a_max!r}")
        self.b_min = check_number(b_min, component=name, arg="b_min")
        self.b_max = check_number(b_max, component=name, arg="b_max")
        self.clip = check_bool(clip, component=name, arg="clip")
        if self.b_min == self.b_max:  # usable, but every voxel becomes the same value
            warnings.warn(f"{name}: b_min equals b_max, so every voxel becomes {b_min}; "
                          f"Received: b_min={b_min!r}, b_max={b_max!r}", stacklevel=2)
        config = dict(fields=fields, a_min=a_min, a_max=a_max, b_min=b_min, b_max=b_max, clip=clip)
        if a_offset is not None:
            config = dict(fields=fields, a_min=a_min, b_min=b_min, b_max=b_max, clip=clip,
                          a_offset=a_offset)
        super().__init__(**config)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            sample[field] = scale_intensity_range(self.require(sample, field), self.a_min,
                                                  self.a_max, self.b_min, self.b_max, self.clip)
        return sample


def normalize_nonzero(array: np.ndarray) -> np.ndarray:
    """Zero mean, unit std over the non-zero voxels; zeros stay zero."""
    out = np.asarray(array, np.float32).copy()
    mask = out != 0
    if not mask.any():
        return out
    values = out[mask]
    mean, std = float(values.mean()), float(values.std())
    out[mask] = (values - mean) / std if std > 0 else values - mean
    return out


class NormalizeNonzeroIntensities(FieldsTransform):
    """Normalise each channel to zero mean and unit variance over its non-zero voxels.

    Implements Clara's ``NormalizeNonzeroIntensities`` (BraTS MRI, where 0 is background).
    Background voxels stay 0. A channel whose non-zero voxels are all equal is only
    mean-shifted (its std is 0); an all-zero channel is left unchanged.

    Args:
        fields: field name or list of names.
    """

    clara_name = "NormalizeNonzeroIntensities"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = self.require(sample, field)
            sample[field] = per_channel(np.asarray(array), channel_axis(sample, field),
                                        normalize_nonzero)
        return sample


def center_data(array: np.ndarray) -> np.ndarray:
    """Zero mean and unit std over the whole array (std 0: mean shift only)."""
    out = np.asarray(array, np.float32)
    mean, std = float(out.mean()), float(out.std())
    return (out - mean) / std if std > 0 else out - mean


class CenterData(FieldsTransform):
    """Standardise each image: subtract its mean, divide by its standard deviation.

    Implements Clara's ``CenterData`` (classification MMARs). Statistics are taken over the
    whole array, all channels together, per sample (Clara does not document whether per
    channel; RepeatChannel copies make the two the same in its configs). A constant image
    becomes all zeros.

    Args:
        fields: field name or list of names.
    """

    clara_name = "CenterData"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            sample[field] = center_data(self.require(sample, field))
        return sample
