"""Label volumes held as uint8 while they sit in a pipeline's cache.

Loaders and transforms give labels as float32 class indices, the dtype the losses read. A
cached case keeps its deterministic transforms' output for many epochs (Smart Cache holds a
window of them; the plain pipeline every case that fits), and there a label of class
indices 0..255 needs one byte a voxel, not four: a resampled 512 x 512 x 160 CT case's
label is about 55 MiB as float32 and 14 MiB as uint8.

:func:`compact` is applied to what goes into the cache, :func:`expand` to what comes out
of it, after the cropper cut its patches (so only patches are cast back) or, without a
cropper, to the copy of the whole case. The random transforms after it and the batches see
float32 labels exactly as without the cache.
"""

from __future__ import annotations

import numpy as np

from mmarctl.runtime.transforms.base import Sample, is_label_field

COMPACT = np.uint8


def _compacted(array: np.ndarray) -> np.ndarray | None:
    """``array`` as uint8 when that holds every value exactly, else None."""
    if array.dtype != np.float32 or array.size == 0:
        return None
    with np.errstate(invalid="ignore"):  # NaN or out-of-range values: the check below fails
        small = array.astype(COMPACT)
    return small if np.array_equal(small, array) else None


def compact(samples: list[Sample]) -> list[Sample]:
    """The samples with each float32 label field of integers 0..255 stored as uint8.

    Fields are labels by :func:`~mmarctl.runtime.transforms.base.is_label_field`; images,
    soft labels and labels with other values are left as they are.
    """
    out = []
    for sample in samples:
        sample = dict(sample)
        for field, value in sample.items():
            if isinstance(value, np.ndarray) and is_label_field(sample, field):
                small = _compacted(value)
                if small is not None:
                    sample[field] = small
        out.append(sample)
    return out


def expand(sample: Sample) -> Sample:
    """The sample with its uint8 label fields as float32 (new arrays); others untouched."""
    return {field: (value.astype(np.float32)
                    if isinstance(value, np.ndarray) and value.dtype == COMPACT
                    and is_label_field(sample, field) else value)
            for field, value in sample.items()}
