"""How ``mmarctl data synth`` puts its arrays on disk: NIfTI, 8-bit PNG and NumPy ``.npy``.

Clara MMARs read their images through ``LoadNifti`` (3-D and 2-D NIfTI), ``LoadPng``
(2-D PNG) or, in some BYOC configs, a NumPy loader (``.npy`` per image), so a synthetic set
can be written in each. NIfTI goes through the runtime's own writer
(:mod:`mmarctl.runtime.transforms.nifti_gzip`, imported when a file is written, so the CLI
stays light). PNG is encoded by Pillow (imported when a PNG is written).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

#: File formats a synthetic set may be written in -> the suffix of its files.
SUFFIXES = {"nifti": ".nii.gz", "png": ".png", "npy": ".npy"}


def suffix(file_format: str, compress: bool = True) -> str:
    """The file suffix of ``file_format`` (``.nii`` for uncompressed NIfTI)."""
    if file_format == "nifti" and not compress:
        return ".nii"
    return SUFFIXES[file_format]


def save_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """Write ``array`` (2-D, 3-D or 4-D, C order) as NIfTI with ``affine`` as qform and sform.

    Units are millimetres and both codes say scanner coordinates, as real CT and MRI
    exports do.
    """
    import nibabel as nib

    from mmarctl.runtime.transforms.c_order import as_f_order
    from mmarctl.runtime.transforms.nifti_gzip import save_nifti_file

    image = nib.Nifti1Image(as_f_order(array), affine)  # NIfTI's own order, reordered in tiles
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)  # scanner coordinates
    image.set_sform(affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_nifti_file(image, path)


def png_bytes(array: np.ndarray) -> bytes:
    """A grey PNG of the 2-D ``array`` (rows top to bottom): 8 bits for uint8, 16 for
    uint16; deterministic bytes (Pillow writes no timestamp). WritePng writes masks with it.

    Raises:
        ValueError: ``array`` is not 2-D uint8 or uint16.
    """
    if array.ndim != 2 or array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a grey PNG needs a 2-D uint8 or uint16 array; Received: "
                         f"{array.dtype} {array.shape}")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")  # mode L, or I;16 for 16 bits
    return buffer.getvalue()


def save_2d(array: np.ndarray, path: Path, file_format: str,
            spacing: tuple[float, float] = (1.0, 1.0)) -> None:
    """Write a 2-D uint8 ``array`` to ``path`` as ``file_format`` (nifti, png or npy).

    NIfTI gets ``spacing`` in its affine; PNG and ``.npy`` carry no geometry. PNG and
    ``.npy`` are written under a temporary name and renamed, like NIfTI, so a failed write
    leaves no partial file.
    """
    if file_format == "nifti":
        save_nifti(array, np.diag([spacing[0], spacing[1], 1.0, 1.0]), path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
    try:
        if file_format == "png":
            partial.write_bytes(png_bytes(array))
        else:
            with partial.open("wb") as handle:
                np.save(handle, array, allow_pickle=False)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
