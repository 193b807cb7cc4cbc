"""Box arithmetic shared by the croppers: crop with zero padding, and the patch's geometry."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mmarctl.runtime.transforms.base import Sample, channel_axis, spatial_axes

#: meta keys that belong to the whole volume, not to a patch cut from it
VOLUME_ONLY_KEYS = frozenset({"index_cache"})


def crop_or_pad(array: np.ndarray, axis: int | None, start: Sequence[int],
                size: Sequence[int]) -> np.ndarray:
    """The box ``[start, start + size)`` of the spatial axes; outside the array is 0.

    Always a newly allocated array, never a view of ``array`` (even when the box is the whole
    array): croppers that promise ``reads_input_only`` rely on it.
    """
    array = np.asarray(array)
    axes = spatial_axes(array, axis)
    out_shape = list(array.shape)
    src = [slice(None)] * array.ndim
    dst = [slice(None)] * array.ndim
    for a, s, n in zip(axes, start, size):
        dim = array.shape[a]
        out_shape[a] = n
        lo, hi = max(s, 0), min(s + n, dim)
        src[a] = slice(lo, max(lo, hi))
        dst[a] = slice(lo - s, lo - s + max(0, hi - lo))
    if all(lo == s and lo + n <= array.shape[a] for a, s, n, lo in
           ((a, s, n, max(s, 0)) for a, s, n in zip(axes, start, size))):
        return array[tuple(src)].copy()  # box inside the array: no padding
    out = np.zeros(out_shape, array.dtype)
    out[tuple(dst)] = array[tuple(src)]
    return out


def translated_affine(affine: Any, start: Sequence[int]) -> np.ndarray:
    """The affine of a box whose voxel 0 was voxel ``start`` of the volume."""
    affine = np.asarray(affine, np.float64)
    shift = np.eye(4)
    shift[: len(start), 3] = start
    return affine @ shift


def patch(sample: Sample, fields: Sequence[str], start: Sequence[int],
          size: Sequence[int]) -> Sample:
    """A new sample with each field cropped to the box and its meta copied and moved."""
    out = {k: v for k, v in sample.items() if k not in fields and k != "meta"}
    meta = {k: (dict(v) if isinstance(v, dict) else v) for k, v in sample.get("meta", {}).items()}
    for field in fields:
        out[field] = crop_or_pad(sample[field], channel_axis(sample, field), start, size)
        props = meta.setdefault(field, {})
        for key in VOLUME_ONLY_KEYS:
            props.pop(key, None)
        if props.get("affine") is not None:
            props["affine"] = translated_affine(props["affine"], start)
        props["crop_start"] = [int(s) for s in start]
    out["meta"] = meta
    return out


def centred_start(shape: Sequence[int], size: Sequence[int]) -> list[int]:
    """The start of a box of ``size`` centred in ``shape`` (negative: padding)."""
    return [(d - n) // 2 for d, n in zip(shape, size)]


def clamp_start(centre: Sequence[int], shape: Sequence[int], size: Sequence[int]) -> list[int]:
    """The start of a box centred on ``centre``, moved inside the volume where it fits;
    where the volume is smaller than the box, the box is centred on the volume (padding)."""
    start = []
    for c, d, n in zip(centre, shape, size):
        if d <= n:
            start.append((d - n) // 2)
        else:
            start.append(int(min(max(c - n // 2, 0), d - n)))
    return start


def resolve_size(size: Sequence[int], shape: Sequence[int]) -> list[int]:
    """``-1`` in ``size`` keeps that axis whole."""
    return [d if n == -1 else n for n, d in zip(size, shape)]
