"""WritePng: save a 2-D mask as a grey PNG on its input PNG's pixel grid.

A PNG has no geometry: LoadPng gives its pixels as ``(rows, cols)`` with an identity affine,
so a WriteNifti mask of a PNG input stores the rows along NIfTI's x axis, and a NIfTI viewer
shows it transposed against the PNG. WritePng writes the mask back in the PNG's own order
(row 0 at the top), so it lies on its image in any viewer and can be read by LoadPng as a
label again.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.component import Component
from mmarctl.runtime.transforms.base import Sample, case_name, channel_axis, sample_name
from mmarctl.runtime.writers.case_names import case_of

#: dtype names accepted for the written pixels (PNG grey: 8 or 16 bits).
DTYPES = ("uint8", "uint16")


def png_bytes(array: np.ndarray) -> bytes:
    """A grey PNG (8 or 16 bits, by ``array``'s dtype) of the 2-D ``array``, rows top to
    bottom; no imaging library needed, deterministic bytes."""
    height, width = array.shape
    depth = 16 if array.dtype == np.uint16 else 8
    rows = np.ascontiguousarray(array.astype(">u2" if depth == 16 else np.uint8))
    raw = b"".join(b"\x00" + rows[r].tobytes() for r in range(height))  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)  # grey, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class WritePng(Component):
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

    def __init__(self, field: str = "model", dtype: str = "uint8",
                 write_path: str | None = None) -> None:
        if not isinstance(field, str) or not field:
            raise ConfigError(f"{self.clara_name}: field must be a field name; "
                              f"Received: field={field!r}")
        if dtype not in DTYPES:
            raise ConfigError(f"{self.clara_name}: dtype must be one of {', '.join(DTYPES)}; "
                              f"Received: dtype={dtype!r}")
        if write_path is not None and not isinstance(write_path, str):
            raise ConfigError(f"{self.clara_name}: write_path must be a folder path; "
                              f"Received: write_path={write_path!r}")
        self.field, self.dtype, self.write_path = field, dtype, write_path
        super().__init__(field=field, dtype=dtype, write_path=write_path)

    def path_for(self, sample: Sample, out_dir: str | Path | None = None) -> Path:
        """Where this sample's file goes."""
        root = out_dir if out_dir is not None else self.write_path
        if root is None:
            raise ConfigError(f"{self.clara_name}: no output folder (write_path is not set)",
                              hint="set write_path to {MMAR_EVAL_OUTPUT_PATH}")
        named = case_of(sample)
        if named is not None:
            return Path(root) / named.output / f"{named.stem}_{self.field}.png"
        case = case_name(sample, "image" if "image" in sample.get("meta", {}) else None)
        return Path(root) / case / f"{case}_{self.field}.png"

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
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            partial.write_bytes(png_bytes(values.astype(self.dtype)))
            partial.replace(path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise DataError(f"cannot write PNG file: {error.strerror or error}",
                            file=str(path)) from error
        return path
