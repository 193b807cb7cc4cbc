"""WriteNifti: save a prediction (or any field) as a NIfTI file aligned with its source image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.base import Sample, channel_axis, sample_name
from mmarctl.runtime.transforms.c_order import as_f_order
from mmarctl.runtime.transforms.nifti_gzip import save_nifti_file
from mmarctl.runtime.writers.case_file import CaseFileWriter, writing_case_file

#: dtype names accepted for the written voxels
DTYPES = ("uint8", "int8", "uint16", "int16", "int32", "float32", "float64")


#: What the written header's ``descrip`` says (the source's would describe the scan).
DESCRIPTION = b"mmarctl output"


def _describe_output(header: Any, dtype: np.dtype) -> None:
    """Reset what the source header says about its voxels' meaning, keeping its geometry:
    its display window (cal_min/cal_max: viewers such as FSLeyes or MRIcroGL open a file
    with it, and a -1000..1000 HU window shows a 0/1 mask blank), its intent (a t-test map
    would be shown as a statistic), description and aux file. Integer voxels are class
    indices: NIFTI_INTENT_LABEL, which viewers show as a label map."""
    header["cal_min"], header["cal_max"] = 0, 0  # 0, 0: viewers take the data's range
    header["glmin"], header["glmax"] = 0, 0
    header.set_intent("label" if np.dtype(dtype).kind in "iu" else "none", (), name="")
    header["descrip"] = DESCRIPTION
    header["aux_file"] = b""


def _on_source_grid(data: np.ndarray, affine: np.ndarray, header: Any
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``data`` (on ``affine``) on the source header's own voxel grid when the two grids
    differ only by axis order and direction: a prediction made on the reoriented copy that
    LoadNifti's ``as_closest_canonical`` gives is written voxel for voxel on the input's
    array, with its affine and qform/sform codes (the same mask in world space; a user
    comparing arrays, or a tool that ignores the affine, would see it mirrored). Any other
    grid (resampled, not restored) is written as given."""
    import nibabel as nib
    from nibabel import orientations

    if not isinstance(header, nib.Nifti1Header) or data.ndim < 3:
        return data, affine
    shape = tuple(int(n) for n in header.get_data_shape()[:3])
    source = header.get_best_affine()
    if len(shape) < 3 or not np.all(np.isfinite(affine)) or np.allclose(affine, source):
        return data, affine
    try:
        transform = orientations.ornt_transform(orientations.io_orientation(affine),
                                                orientations.io_orientation(source))
    except ValueError:  # a singular or degenerate affine: nothing to map
        return data, affine
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return data, affine  # same axes and directions: not a reorientation
    moved = orientations.apply_orientation(data, transform)
    moved_affine = affine @ orientations.inv_ornt_aff(transform, data.shape[:3])
    if moved.shape[:3] != shape or not np.allclose(moved_affine, source, rtol=1e-5, atol=1e-3):
        return data, affine
    return moved, source


def save_nifti(array: np.ndarray, axis: int | None, affine: Any, header: Any, path: Path,
               dtype: str | None = None) -> Path:
    """Write ``array`` to ``path``: channel axis of size 1 dropped, more channels last
    (NIfTI's 4th axis); the source ``header`` is reused for its geometry (affine, qform and
    sform codes, units) with its data type replaced and its display range, intent and
    description reset (:func:`_describe_output`)."""
    import nibabel as nib

    data = np.asarray(array)
    if axis is not None:
        data = np.moveaxis(data, axis, -1)
        if data.shape[-1] == 1:
            data = data[..., 0]
    if isinstance(header, nib.Nifti1Header):
        written = tuple(header.get_data_shape())
        if written[:data.ndim] == data.shape and written[data.ndim:] == (1,) * (
                len(written) - data.ndim) and len(written) <= 3:
            # A 2-D input saved as (H, W, 1) was read as 2-D: written back as it came
            data = data.reshape(written)
    if dtype is not None and np.dtype(dtype).kind in "iu" and data.dtype.kind in "fc":
        data = np.rint(data)  # class indices stored as float: round, do not truncate
    affine = np.eye(4) if affine is None else np.asarray(affine, np.float64)
    data, affine = _on_source_grid(data, affine, header)
    # NIfTI stores Fortran order: reorder tile by tile here rather than voxel by voxel in
    # nibabel's writer, converting on the way
    data = as_f_order(data, dtype)
    header = header.copy() if isinstance(header, nib.Nifti1Header) else None
    image = nib.Nifti1Image(data, affine, header=header)
    image.set_data_dtype(data.dtype)
    image.header.set_slope_inter(1, 0)  # voxels are already in output units
    _describe_output(image.header, data.dtype)
    with writing_case_file(path, "NIfTI"):
        save_nifti_file(image, path)
    return path


class WriteNifti(CaseFileWriter):
    """Write one field of each evaluated case to ``<case>/<case>_<field>.nii.gz``.

    Implements Clara's ``WriteNifti`` (validation ``writers``). ``<case>`` is the source
    image's file name without extension (``spleen_3``; for several modality files their
    common prefix), so a run over a data list gives one folder per case. When two cases of a
    validate/infer run share that name, each is written under the parent folders that tell
    them apart (``p1/ct/ct_model.nii.gz``; see :mod:`mmarctl.runtime.writers.case_names`). The file takes the field's ``affine``
    (after CopyProperties / RestoreOriginalShape), else the image's, and the source image's
    NIfTI header, so it overlays the input in any viewer.

    Args:
        field: the field to write (usually ``"model"``).
        dtype: voxel type of the file (default ``"uint8"``; integer types round values).
        write_path: output folder (``{MMAR_EVAL_OUTPUT_PATH}``); ``write(sample, out_dir)``
            may override it.
    """

    clara_name = "WriteNifti"
    suffix = ".nii.gz"
    dtypes = DTYPES

    def write(self, sample: Sample, out_dir: str | Path | None = None) -> Path:
        """Write the field; returns the file written."""
        if self.field not in sample:
            raise DataError(f"{self.clara_name}: field {self.field!r} is missing",
                            file=sample_name(sample) or None)
        meta = sample.get("meta", {})
        props, image = meta.get(self.field, {}), meta.get("image", {})
        affine = props.get("affine", image.get("affine"))
        header = props.get("header", image.get("header"))
        array, axis = np.asarray(sample[self.field]), channel_axis(sample, self.field)
        if array.ndim - (axis is not None) < 2:
            # One score per class (a classification network) would be written as a
            # one-voxel image, rounded to the integer dtype: the scores lost without a word.
            raise ConfigError(f"{self.clara_name}: field {self.field!r} has shape "
                              f"{array.shape}, no image axes (a classification network's "
                              "scores?); use WriteClassificationResult")
        return save_nifti(array, axis, affine, header, self.path_for(sample, out_dir),
                          self.dtype)
