"""Window positions and blending weights for sliding-window inference (NumPy only).

The rules follow MONAI's ``sliding_window_inference`` so results can be compared with it
voxel for voxel: the scan interval along an axis is ``int(roi * (1 - overlap))`` (at least 1)
unless the window spans the axis; window ``i`` starts at ``i * interval``, moved back so it
ends inside the image; the last window is the first to reach the end. Positions enumerate
axis 0 slowest.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def scan_interval(image_size: tuple[int, ...], roi_size: tuple[int, ...],
                  overlap: float) -> tuple[int, ...]:
    """The step between window starts along each axis."""
    steps = []
    for image, roi in zip(image_size, roi_size):
        if roi == image:
            steps.append(roi)
        else:
            steps.append(max(int(roi * (1 - overlap)), 1))
    return tuple(steps)


def axis_starts(image: int, roi: int, step: int) -> list[int]:
    """Window starts along one axis of length ``image`` (``image >= roi``)."""
    count = 1
    for index in range(int(math.ceil(image / step))):
        if index * step + roi >= image:
            count = index + 1
            break
    return [index * step - max(index * step + roi - image, 0) for index in range(count)]


def window_starts(image_size: tuple[int, ...], roi_size: tuple[int, ...],
                  overlap: float) -> list[tuple[int, ...]]:
    """Start corner of every window, axis 0 varying slowest."""
    steps = scan_interval(image_size, roi_size, overlap)
    per_axis = [axis_starts(i, r, s) for i, r, s in zip(image_size, roi_size, steps)]
    return list(itertools.product(*per_axis))


def coverage(image_size: tuple[int, ...], roi_size: tuple[int, ...],
             overlap: float) -> np.ndarray:
    """How many windows cover each voxel (float32, shape ``image_size``): the windows are a
    grid, so a voxel's count is the product of its coordinates' counts along each axis."""
    steps = scan_interval(image_size, roi_size, overlap)
    total = np.ones((), dtype=np.float32)
    for axis, (image, roi, step) in enumerate(zip(image_size, roi_size, steps)):
        counts = np.zeros(image, dtype=np.float32)
        for start in axis_starts(image, roi, step):
            counts[start:start + roi] += 1.0
        total = total[..., None] * counts if axis else counts
    return total


def importance_map(roi_size: tuple[int, ...], blending: str,
                   sigma_scale: float = 0.125) -> np.ndarray:
    """Per-voxel weight of a window's prediction (float32, shape ``roi_size``).

    ``constant``: all ones. ``gaussian``: the product of 1D Gaussians centred on each axis's
    middle with sigma ``sigma_scale * roi``, floored at ``max(min, 1e-3)`` so that every
    voxel keeps a non-zero weight (as MONAI does).
    """
    if blending == "constant":
        return np.ones(roi_size, dtype=np.float32)
    weights = np.ones((), dtype=np.float32)
    for axis, size in enumerate(roi_size):
        centred = np.arange(size, dtype=np.float32) - (size - 1) / 2.0
        sigma = size * sigma_scale
        curve = np.exp(centred ** 2 / (-2.0 * sigma ** 2)).astype(np.float32)
        weights = weights[..., None] * curve if axis else curve
    floor = max(float(weights.min()), 1e-3)
    return np.maximum(weights, floor).astype(np.float32)
