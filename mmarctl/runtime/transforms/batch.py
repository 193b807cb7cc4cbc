"""Batch transforms: run on a whole batch after the pipeline stacked it."""

from __future__ import annotations

import numpy as np

from mmarctl.errors import DataError
from mmarctl.runtime.transforms.base import FieldsTransform, Sample


class MergeBatchDims(FieldsTransform):
    """Merge the first two axes of each field: ``(B, N, ...)`` -> ``(B * N, ...)``.

    Implements Clara's ``MergeBatchDims`` (``train.batch_transforms``, "batch by
    transform"): when a cropper emits N patches per volume and the pipeline stacks B
    volumes' patch groups, this makes one batch of B * N patches. A field with fewer than
    two axes is a DataError naming it.

    Args:
        fields: field name or list of names (usually ``["image", "label"]``).
    """

    clara_name = "MergeBatchDims"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field))
            if array.ndim < 2:
                raise DataError(f"{self.clara_name}: field {field!r} needs a batch and a patch "
                                f"axis; it has shape {array.shape}")
            sample[field] = array.reshape((array.shape[0] * array.shape[1],) + array.shape[2:])
        return sample
