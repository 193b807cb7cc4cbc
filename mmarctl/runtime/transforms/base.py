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

import os
import re
from typing import Any

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.component import Component

Sample = dict[str, Any]


def as_fields(fields: str | list[str] | tuple[str, ...] | None, *, component: str,
              arg: str = "fields") -> list[str]:
    """Clara accepts ``"fields": "image"`` and ``"fields": ["image", "label"]``."""
    if isinstance(fields, str) and fields:
        return [fields]
    if isinstance(fields, (list, tuple)) and fields and all(isinstance(f, str) and f for f in fields):
        return list(fields)
    raise ConfigError(f"{component}: {arg} must be a field name or a list of field names; "
                      f"Received: {arg}={fields!r}")


class Transform(Component):
    """Base class of every transform (pre, label and post transforms)."""

    #: True when the output depends on the random generator (crops, flips, noise ...).
    is_random: bool = False
    #: True when the transform never writes into its input sample (arrays or dicts; shared
    #: caches such as ForegroundIndex's excepted) and returns new samples whose transformed
    #: fields are newly allocated arrays. The pipeline then hands it the cached samples
    #: without copying whole volumes first (pipelines/base.py: ImagePipeline.process).
    reads_input_only: bool = False

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



class FieldsTransform(Transform):
    """A transform whose only Clara argument is ``fields`` (a name or a list of names)."""

    def __init__(self, fields: str | list[str]) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        super().__init__(fields=fields)


def sample_name(sample: Sample) -> str:
    """The file the sample came from, for error messages ("" when unknown)."""
    for props in sample.get("meta", {}).values():
        if isinstance(props, dict) and props.get("filename"):
            return str(props["filename"])
    return ""


# --- helpers shared by the transform modules (added with the transform catalogue) ---------

def channel_axis(sample: Sample, field: str) -> int | None:
    """Where the channel axis of ``field`` is: 0, -1, or None (no channel axis).

    Loaders record it in ``meta[field]["channel_axis"]`` and the channel converters update it.
    A field without that record (e.g. the network output ``"model"``) follows the runtime's
    own layout: channels first.
    """
    props = sample.get("meta", {}).get(field, {})
    return props.get("channel_axis", 0) if isinstance(props, dict) else 0


def spatial_axes(array: np.ndarray, axis: int | None) -> list[int]:
    """The axes of ``array`` that are not its channel axis."""
    if axis is None:
        return list(range(array.ndim))
    axis %= array.ndim
    return [a for a in range(array.ndim) if a != axis]


def spatial_shape(array: np.ndarray, axis: int | None) -> tuple[int, ...]:
    """The shape of ``array`` without its channel axis."""
    return tuple(array.shape[a] for a in spatial_axes(array, axis))


def per_channel(array: np.ndarray, axis: int | None, fn) -> np.ndarray:
    """Apply ``fn`` (spatial array -> spatial array) to each channel and restack."""
    if axis is None:
        return fn(array)
    moved = np.moveaxis(array, axis, 0)
    out = np.stack([fn(channel) for channel in moved], axis=0)
    return np.moveaxis(out, 0, axis)


def is_label_field(sample: Sample, field: str) -> bool:
    """Whether ``field`` holds class indices, so resampling must use nearest neighbour.

    ``meta[field]["is_label"]`` decides when set (``ScaleByResolution(is_label=true)`` sets
    it); otherwise a field named ``label``, ``*_label`` or ``label_*`` is a label. Clara's
    transforms that take only ``fields`` left this undocumented; this is mmarctl's rule.
    """
    props = sample.get("meta", {}).get(field, {})
    if isinstance(props, dict) and "is_label" in props:
        return bool(props["is_label"])
    return field == "label" or field.endswith("_label") or field.startswith("label_")


def cast_as(array: np.ndarray, dtype: np.dtype | str) -> np.ndarray:
    """``array`` converted to ``dtype``; for integer and bool types rounded first and clipped
    to the type's range (``astype`` alone truncates: an interpolated 0.99 would become 0)."""
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(array), info.min, info.max).astype(dtype)
    if dtype.kind == "b":
        return np.rint(array) != 0
    return array.astype(dtype)


def case_name(sample: Sample, field: str | None = None) -> str:
    """A short case name: the file name without folder and NIfTI/PNG extension.

    For a multi-file image (BraTS modalities ``BraTS_7_t1.nii.gz``, ``BraTS_7_t2.nii.gz``
    ...) it is the names' common prefix (``BraTS_7``) when that is not empty.
    """
    props: Any = {}
    if field is not None:
        props = sample.get("meta", {}).get(field, {})
    if not (isinstance(props, dict) and props.get("filename")):
        props = next((p for p in sample.get("meta", {}).values()
                      if isinstance(p, dict) and p.get("filename")), {})
    files = props.get("filenames") or [props.get("filename") or ""]
    stems = [_stem(f) for f in files]
    if len(stems) > 1:
        # cut back to a separator: BraTS_7_t1 / BraTS_7_t2 share "BraTS_7_t", the case is BraTS_7
        common = re.split(r"[_\-. ](?=[^_\-. ]*$)", os.path.commonprefix(stems))
        if len(common) == 2 and common[0]:
            return common[0]
    return stems[0] or "case"


def _stem(path: Any) -> str:
    base = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".nii.gz", ".nii", ".png", ".npy", ".gz"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


def check_probability(value: Any, *, component: str, arg: str = "probability") -> float:
    """A probability in [0, 1], or a ConfigError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{component}: {arg} must be a number in [0, 1]; Received: {arg}={value!r}")
    return float(value)


def check_number(value: Any, *, component: str, arg: str, minimum: float | None = None,
                 strict: bool = False) -> float:
    """A real number (not bool), optionally bounded below; ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ConfigError(f"{component}: {arg} must be a number; Received: {arg}={value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        bound = ">" if strict else ">="
        raise ConfigError(f"{component}: {arg} must be {bound} {minimum}; Received: {arg}={value!r}")
    return float(value)


def check_sizes(value: Any, *, component: str, arg: str = "size", allow_minus_one: bool = False,
                integer: bool = True) -> list:
    """A non-empty list of positive sizes (``-1`` = keep that axis when allowed)."""
    ok = isinstance(value, (list, tuple)) and 1 <= len(value) <= 3
    if ok:
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                ok = False
            elif integer and int(v) != v:
                ok = False
            elif not (v > 0 or (allow_minus_one and v == -1)):
                ok = False
    if not ok:
        kind = "positive integers" if integer else "positive numbers"
        extra = " (or -1 to keep an axis)" if allow_minus_one else ""
        raise ConfigError(f"{component}: {arg} must be a list of 1 to 3 {kind}{extra}; "
                          f"Received: {arg}={value!r}")
    return [int(v) if integer else float(v) for v in value]


def check_bool(value: Any, *, component: str, arg: str) -> bool:
    """A JSON boolean, or a ConfigError (a string "false" would silently be true)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{component}: {arg} must be true or false; Received: {arg}={value!r}")
    return value


def common_spatial_shape(transform: Transform, sample: Sample, fields: list[str]) -> tuple[int, ...]:
    """The spatial shape all ``fields`` share; a DataError naming the case when they differ
    (an image and its label on different grids)."""
    shapes = {}
    for field in fields:
        array = np.asarray(transform.require(sample, field))
        shapes[field] = spatial_shape(array, channel_axis(sample, field))
    if len(set(shapes.values())) > 1:
        listing = ", ".join(f"{f}={s}" for f, s in shapes.items())
        case = sample_name(sample)
        raise DataError(f"{type(transform).__name__}: fields differ in spatial shape ({listing})"
                        + (f" in case {case}" if case else ""),
                        file=case or None, hint="image and label must be on the same voxel grid")
    return next(iter(shapes.values()))
