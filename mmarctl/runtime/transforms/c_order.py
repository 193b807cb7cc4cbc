"""C-ordered copies of large Fortran-ordered arrays (and back), made tile by tile.

NIfTI stores voxels in Fortran order and nibabel hands them over that way; the transforms
run 2-3x faster on C-ordered arrays, and nibabel writes a C-ordered array by the same slow
reordering (0.92 s for a 512 x 512 x 160 uint8 mask, against 0.23 s given in Fortran order). NumPy's own reordering copy (``np.ascontiguousarray``)
walks the destination in order and so reads the source with the largest stride at every
step: on a 512 x 512 x 160 CT each voxel read lands on another memory page, and the copy
took 2.8 s (AMD EPYC Zen 4). Copying cache-sized tiles keeps each tile's pages in the TLB;
the same copy takes 0.16 s.
"""

from __future__ import annotations

import itertools

import numpy as np

#: Tile edge per axis (the rest of the axes whole): 64 x 64 x 32 voxels of float32 is 512
#: KiB, and a tile touches few enough pages for the TLB (measured best of several shapes).
TILE = (64, 64, 32)
#: Below this many bytes NumPy's own copy is as fast; the tiles' Python loop is not worth it.
SMALL = 1 << 22


def as_c_order(array: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """``array`` as a C-contiguous array of ``dtype`` (default: its own), values unchanged.

    Returns ``array`` itself when it already is one; otherwise a copy, converted while it
    is copied.
    """
    dtype = np.dtype(dtype or array.dtype)
    if array.flags.c_contiguous or array.ndim < 2 or array.nbytes < SMALL:
        return np.ascontiguousarray(array, dtype=dtype)
    out = np.empty(array.shape, dtype)
    steps = [TILE[axis] if axis < len(TILE) else size for axis, size in enumerate(array.shape)]
    for corner in itertools.product(*(range(0, size, step)
                                      for size, step in zip(array.shape, steps))):
        tile = tuple(slice(start, start + step) for start, step in zip(corner, steps))
        out[tile] = array[tile]
    return out


def as_f_order(array: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """``array`` as a Fortran-contiguous array of ``dtype``: :func:`as_c_order` of its
    transpose, transposed back (a view)."""
    return as_c_order(array.T, dtype).T
