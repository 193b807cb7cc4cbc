"""Random intensity augmentations (run per step, drawn from the pipeline's generator)."""

from __future__ import annotations

import warnings

import numpy as np

from mmarctl.errors import ConfigError
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, channel_axis,
                                             check_number, check_probability, per_channel)


def _range(value, *, component: str, arg: str, minimum: float = 0.0) -> tuple[float, float]:
    """A ``[low, high]`` pair with ``minimum <= low <= high``."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
          and minimum <= value[0] <= value[1])
    if not ok:
        raise ConfigError(f"{component}: {arg} must be [low, high] with {minimum} <= low <= high; "
                          f"Received: {arg}={value!r}")
    return float(value[0]), float(value[1])


class ScaleIntensityOscillation(Transform):
    """Multiply intensities by a random factor drawn from ``[1 - magnitude, 1 + magnitude]``.

    Implements Clara's ``ScaleIntensityOscillation``. One factor is drawn per sample and
    field; with ``probability`` < 1 the sample is left unchanged the rest of the time.

    Args:
        fields: field name or list of names.
        magnitude: half-width of the factor range (>= 0, default 0.1).
        probability: chance of applying it (default 1.0).
    """

    clara_name = "ScaleIntensityOscillation"
    is_random = True

    def __init__(self, fields: str | list[str], magnitude: float = 0.1,
                 probability: float = 1.0) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.magnitude = check_number(magnitude, component=self.clara_name, arg="magnitude", minimum=0)
        if self.magnitude >= 1:  # factors down to <= 0 would invert or erase the image
            warnings.warn(f"{self.clara_name}: magnitude >= 1 allows factors <= 0; "
                          f"Received: magnitude={magnitude!r}", stacklevel=2)
        self.probability = check_probability(probability, component=self.clara_name)
        super().__init__(fields=fields, magnitude=magnitude, probability=probability)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = self.require(sample, field)
            if rng.random() < self.probability:
                factor = rng.uniform(1 - self.magnitude, 1 + self.magnitude)
                sample[field] = np.asarray(array, np.float32) * np.float32(factor)
        return sample


class ScaleShiftIntensity(Transform):
    """Randomly scale and shift intensities: ``x * (1 + s) + t``, ``s ~ U(-scale, scale)``,
    ``t ~ U(-shift, shift)``.

    Implements Clara's ``ScaleShiftIntensity``. Clara configs use it as an augmentation
    after cropping (``scale: 0.1, shift: 0.1`` on a [0, 1] image), so mmarctl reads both
    arguments as ranges of random perturbation, drawn once per sample and field.

    Args:
        fields: field name or list of names.
        scale: half-width of the relative scale range (>= 0).
        shift: half-width of the additive shift range (>= 0).
    """

    clara_name = "ScaleShiftIntensity"
    is_random = True

    def __init__(self, fields: str | list[str], scale: float = 0.1, shift: float = 0.1) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.scale = check_number(scale, component=self.clara_name, arg="scale", minimum=0)
        self.shift = check_number(shift, component=self.clara_name, arg="shift", minimum=0)
        super().__init__(fields=fields, scale=scale, shift=shift)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field), np.float32)
            factor = 1 + rng.uniform(-self.scale, self.scale)
            offset = rng.uniform(-self.shift, self.shift)
            sample[field] = array * np.float32(factor) + np.float32(offset)
        return sample


class AddGaussianNoise(Transform):
    """Add zero-mean Gaussian noise of variance ``variance`` with chance ``probability``.

    Implements Clara's ``AddGaussianNoise(fields, probability=0.5, variance=0.1)`` (the
    defaults are Clara's documented ones). The noise has standard deviation
    ``sqrt(variance)``, drawn independently per voxel.

    Args:
        fields: field name or list of names.
        probability: chance of adding noise to a sample (default 0.5).
        variance: noise variance (>= 0, default 0.1).
    """

    clara_name = "AddGaussianNoise"
    is_random = True

    def __init__(self, fields: str | list[str], probability: float = 0.5,
                 variance: float = 0.1) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.probability = check_probability(probability, component=self.clara_name)
        self.variance = check_number(variance, component=self.clara_name, arg="variance", minimum=0)
        super().__init__(fields=fields, probability=probability, variance=variance)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field), np.float32)
            if rng.random() < self.probability:
                noise = rng.standard_normal(array.shape, dtype=np.float32)
                sample[field] = array + noise * np.float32(np.sqrt(self.variance))
        return sample


class AdjustContrast(Transform):
    """Random gamma contrast change: ``(x - min) / range`` raised to ``gamma``, then rescaled.

    Implements Clara's AutoML-era ``AdjustContrast``, whose arguments Clara 3.x did not
    document; mmarctl accepts ``fields``, ``probability`` (default 0.5) and ``gamma``, a
    ``[low, high]`` range (default ``[0.7, 1.5]``) from which one exponent is drawn per
    sample. The intensity range of the array is preserved; a constant array is unchanged.

    Args:
        fields: field name or list of names.
        probability: chance of applying it.
        gamma: range of the exponent (both > 0).
    """

    clara_name = "AdjustContrast"
    is_random = True

    def __init__(self, fields: str | list[str], probability: float = 0.5,
                 gamma: list[float] = (0.7, 1.5)) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.probability = check_probability(probability, component=self.clara_name)
        self.gamma = _range(list(gamma), component=self.clara_name, arg="gamma", minimum=1e-6)
        super().__init__(fields=fields, probability=probability, gamma=list(gamma))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field), np.float32)
            if rng.random() >= self.probability:
                continue
            gamma = rng.uniform(*self.gamma)
            low, high = float(array.min()), float(array.max())
            if high > low:
                scaled = (array - low) / (high - low)
                sample[field] = (np.power(scaled, gamma) * (high - low) + low).astype(np.float32)
        return sample


class RandomGaussianSmooth(Transform):
    """Blur each channel with a Gaussian of random width ``sigma`` (in voxels).

    Implements Clara's AutoML-era ``RandomGaussianSmooth`` (arguments undocumented by
    Clara): ``fields``, ``probability`` (default 0.5) and ``sigma_range`` ``[low, high]``
    (default ``[0.25, 1.5]``); one sigma per sample is used on all spatial axes.

    Args:
        fields: field name or list of names.
        probability: chance of applying it.
        sigma_range: range of the Gaussian standard deviation in voxels.
    """

    clara_name = "RandomGaussianSmooth"
    is_random = True

    def __init__(self, fields: str | list[str], probability: float = 0.5,
                 sigma_range: list[float] = (0.25, 1.5)) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.probability = check_probability(probability, component=self.clara_name)
        self.sigma_range = _range(list(sigma_range), component=self.clara_name, arg="sigma_range")
        super().__init__(fields=fields, probability=probability, sigma_range=list(sigma_range))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        from scipy import ndimage  # imported here: scipy.ndimage costs ~0.3 s and few chains need it
        for field in self.fields:
            array = np.asarray(self.require(sample, field), np.float32)
            if rng.random() >= self.probability:
                continue
            sigma = rng.uniform(*self.sigma_range)
            sample[field] = per_channel(array, channel_axis(sample, field),
                                        lambda x: ndimage.gaussian_filter(x, sigma))
        return sample


class RandomSharpen(Transform):
    """Unsharp masking: ``x + alpha * (x - blur(x))`` with a random ``alpha``.

    Implements Clara's AutoML-era ``RandomSharpen`` (arguments undocumented by Clara):
    ``fields``, ``probability`` (default 0.5), ``alpha_range`` ``[low, high]`` (default
    ``[0.5, 1.5]``, one strength per sample) and ``sigma``, the width of the blur in voxels
    (default 1.0).

    Args:
        fields: field name or list of names.
        probability: chance of applying it.
        alpha_range: range of the sharpening strength (>= 0).
        sigma: width of the Gaussian used for the mask.
    """

    clara_name = "RandomSharpen"
    is_random = True

    def __init__(self, fields: str | list[str], probability: float = 0.5,
                 alpha_range: list[float] = (0.5, 1.5), sigma: float = 1.0) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.probability = check_probability(probability, component=self.clara_name)
        self.alpha_range = _range(list(alpha_range), component=self.clara_name, arg="alpha_range")
        self.sigma = check_number(sigma, component=self.clara_name, arg="sigma", minimum=0, strict=True)
        super().__init__(fields=fields, probability=probability, alpha_range=list(alpha_range),
                         sigma=sigma)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        from scipy import ndimage  # imported here: scipy.ndimage costs ~0.3 s and few chains need it
        for field in self.fields:
            array = np.asarray(self.require(sample, field), np.float32)
            if rng.random() >= self.probability:
                continue
            alpha = np.float32(rng.uniform(*self.alpha_range))

            def sharpen(x: np.ndarray) -> np.ndarray:
                return x + alpha * (x - ndimage.gaussian_filter(x, self.sigma))

            sample[field] = per_channel(array, channel_axis(sample, field), sharpen)
        return sample


__all__ = ["ScaleIntensityOscillation", "ScaleShiftIntensity", "AddGaussianNoise",
           "AdjustContrast", "RandomGaussianSmooth", "RandomSharpen"]
