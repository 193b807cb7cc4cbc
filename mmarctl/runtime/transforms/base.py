"""The transform contract: a Clara transform maps a sample dict to a sample dict.

A *sample* is a ``dict``: each field (``"image"``, ``"label"``, ``"model"`` ...) holds a NumPy
array, and ``sample["meta"][field]`` holds that field's properties (``affine``, ``pixdim``,
``filename``, ``original_shape``, ``header``). Arrays follow Clara's layout: spatial axes as
loaded from NIfTI (x, y, z), with the channel axis first once ConvertToChannelsFirst ran.

A transform is called as ``transform(sample, rng)`` where ``rng`` is a
``numpy.random.Generator`` owned by the pipeline (so a seed makes a run repeatable). It
returns the sample (it may modify it in place) or, for croppers that emit several patches, a
list of samples. ``is_random`` tells the pipeline which transforms must run per step; the
deterministic ones before the first random one are cached (Smart Cache).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.component import Component

Sample = dict[str, Any]


def as_fields(fields: str | list[str] | tuple[str, ...] | None, *, component: str,
              arg: str = "fields") -> list[str]:
    """Clara accepts ``"fields": "image"`` and ``"fields": ["image", "label"]``."""
    if isinstance(fields, str):
        return [fields]
    if isinstance(fields, (list, tuple)) and fields and all(isinstance(f, str) for f in fields):
        return list(fields)
    raise ConfigError(f"{component}: {arg} must be a field name or a list of field names; "
                      f"Received: {arg}={fields!r}")


class Transform(Component):
    """Base class of every transform (pre, label and post transforms)."""

    #: True when the output depends on the random generator (crops, flips, noise ...).
    is_random: bool = False

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample | list[Sample]:
        raise NotImplementedError

    def require(self, sample: Sample, field: str) -> np.ndarray:
        """The array in ``field``, or a DataError naming the field, this component and the case."""
        if field not in sample:
            case = sample_name(sample)
            raise DataError(f"{type(self).__name__}: field {field!r} is missing"
                            + (f" in case {case}" if case else "")
                            + f" (fields present: {', '.join(sorted(k for k in sample if k != 'meta'))})")
        return sample[field]

    @staticmethod
    def meta(sample: Sample, field: str) -> dict[str, Any]:
        """The properties dict of ``field`` (created empty when absent)."""
        return sample.setdefault("meta", {}).setdefault(field, {})


def sample_name(sample: Sample) -> str:
    """The file the sample came from, for error messages ("" when unknown)."""
    for props in sample.get("meta", {}).values():
        if isinstance(props, dict) and props.get("filename"):
            return str(props["filename"])
    return ""
