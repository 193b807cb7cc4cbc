"""WritePng: save a 2-D mask as a grey PNG on its input PNG's pixel grid.

A PNG has no geometry: LoadPng gives its pixels as ``(rows, cols)`` with an identity affine,
so a WriteNifti mask of a PNG input stores the rows along NIfTI's x axis, and a NIfTI viewer
shows it transposed against the PNG. WritePng writes the mask back in the PNG's own order
(row 0 at the top), so it lies on its image in any viewer and can be read by LoadPng as a
label again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.base import Sample, channel_axis, sample_name
from mmarctl.runtime.writers.case_file import CaseFileWriter, writing_case_file
from mmarctl.synth_files import png_bytes

#: dtype names accepted for the written pixels (PNG grey: 8 or 16 bits).
DTYPES = ("uint8", "uint16")


class WritePng(CaseFileWriter):
    """Write one field of each 2-D case to ``<case>/<case>_<field>.png``.

    Implements Clara's ``WritePng`` (AIAA configs of 2-D PNG models). The names are
    WriteNifti's (see :mod:`mmarctl.runtime.writers.case_names`). The pixels are the class
    indices (0 background, 1, 2 ...; round a 0/1 threshold), as LoadPng reads a label: a
    0/1 mask looks black in an image viewer, so open it as a label or overlay.

    Args:
        field: the field to write (usually ``"model"``): one channel, two spatial axes.
        dtype: ``"uint8"`` (default) or ``"uint16"`` (more than 255 classes).
        write_path: output folder (``{MMAR_EVAL_OUTPUT_PATH}``); ``write(sample, out_dir)``
            may override it.
    """

    clara_name = "WritePng"
    suffix = ".png"
    dtypes = DTYPES

    def write(self, sample: Sample, out_dir: str | Path | None = None) -> Path:
        """Write the field; returns the file written.

        Raises:
            ConfigError: the field is not one 2-D channel of class indices (probabilities,
                several channels or a volume), naming the fix.
            DataError: the field is missing, or the file cannot be written.
        """
        if self.field not in sample:
            raise DataError(f"{self.clara_name}: field {self.field!r} is missing",
                            file=sample_name(sample) or None)
        array, axis = np.asarray(sample[self.field]), channel_axis(sample, self.field)
        if axis is not None:
            if array.shape[axis] != 1:
                raise ConfigError(f"{self.clara_name}: field {self.field!r} has "
                                  f"{array.shape[axis]} channels; it writes one mask",
                                  hint='add {"name": "ArgmaxAcrossChannels", "args": '
                                       '{"fields": "model"}} to post_transforms')
            array = np.take(array, 0, axis=axis)
        if array.ndim != 2:
            raise ConfigError(f"{self.clara_name}: field {self.field!r} has shape "
                              f"{array.shape}; a PNG holds a 2-D mask",
                              hint="use WriteNifti for volumes and "
                                   "WriteClassificationResult for class scores")
        top = np.iinfo(self.dtype).max
        values = np.rint(array) if array.dtype.kind in "fc" else array
        if (array.dtype.kind in "fc" and not np.allclose(values, array, atol=1e-3)) or (
                values.size and (values.min() < 0 or values.max() > top)):
            raise ConfigError(f"{self.clara_name}: field {self.field!r} is not class "
                              f"indices 0..{top} (values {float(array.min()):g}.."
                              f"{float(array.max()):g})",
                              hint="make a mask in post_transforms first (ArgmaxAcrossChannels "
                                   "or ThresholdValues)")
        path = self.path_for(sample, out_dir)
        partial = path.with_name(f".{path.name}.partial")
        with writing_case_file(path, "PNG"):
            try:
                partial.write_bytes(png_bytes(values.astype(self.dtype)))
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)
        return path
