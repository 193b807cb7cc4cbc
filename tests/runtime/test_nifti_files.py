"""Reading and writing NIfTI voxels fast: ISA-L's gzip, the tiled reordering copies, the
finite check.

Each shortcut must give exactly what nibabel's own read (``get_fdata(dtype=float32)`` made
C-contiguous) and write give, for every kind of file a data set holds, and fall back where
it cannot apply.
"""

from __future__ import annotations

import gzip
import sys
from unittest import mock

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmarctl.errors import DataError
from mmarctl.runtime.transforms import c_order
from mmarctl.runtime.transforms.c_order import as_c_order, as_f_order
from mmarctl.runtime.transforms.loaders import load_nifti
from mmarctl.runtime.transforms.nifti_gzip import open_nifti
from mmarctl.runtime.writers.nifti import save_nifti


def _nibabel_reference(path) -> np.ndarray:
    return np.ascontiguousarray(nib.load(str(path)).get_fdata(dtype=np.float32))


@settings(max_examples=60, deadline=None)
@given(array=hnp.arrays(np.int16, hnp.array_shapes(min_dims=1, max_dims=4, max_side=9)),
       layout=st.sampled_from(["F", "C", "reversed", "strided"]),
       dtype=st.sampled_from([np.float32, np.int16, None]))
def test_as_c_order_equals_numpys_copy(array, layout, dtype):
    """Small tiles and no size floor, so every shape is copied in several partial tiles."""
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "reversed":
        array = array.T
    elif layout == "strided":
        array = array[..., ::2]
    with mock.patch.object(c_order, "TILE", (2, 3, 4)), mock.patch.object(c_order, "SMALL", 0):
        out = as_c_order(array, dtype)
    expected = np.ascontiguousarray(array, dtype=dtype or array.dtype)
    assert out.flags.c_contiguous and out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


def test_as_f_order_is_fortran_contiguous_with_the_same_values():
    array = np.arange(130 * 100 * 90, dtype=np.int16).reshape(130, 100, 90)
    out = as_f_order(array, np.float32)
    assert out.flags.f_contiguous and out.dtype == np.float32
    np.testing.assert_array_equal(out, array)


def test_as_c_order_returns_a_c_array_itself():
    array = np.zeros((4, 5, 6), np.float32)
    assert as_c_order(array) is array


def test_a_large_fortran_array_is_copied_in_tiles():
    array = np.asfortranarray(np.arange(130 * 100 * 90, dtype=np.float32).reshape(130, 100, 90))
    assert array.nbytes >= c_order.SMALL
    out = as_c_order(array)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, array)


def _write(path, data, *, version=1, slope=None, inter=None, big_endian=False):
    image_class = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    affine = np.diag([0.8, 0.9, 2.5, 1.0])
    image = image_class(data, affine)
    if big_endian:
        image = image_class(data, affine, header=image.header.as_byteswapped(">"))
    if slope is not None:
        image.header.set_slope_inter(slope, inter)
    nib.save(image, str(path))
    return path


VOLUME = np.random.default_rng(0).integers(-1024, 2000, size=(21, 17, 9)).astype(np.int16)

FILES = {
    "int16": dict(data=VOLUME),
    "int16 scaled": dict(data=VOLUME, slope=0.37, inter=-12.5),
    "int16 big-endian": dict(data=VOLUME, big_endian=True),
    "uint8 labels": dict(data=(VOLUME > 300).astype(np.uint8)),
    "float32": dict(data=VOLUME.astype(np.float32) / 7),
    "float64": dict(data=VOLUME.astype(np.float64) / 3),
    "nifti-2": dict(data=VOLUME, version=2),
    "nifti-2 scaled big-endian": dict(data=VOLUME, version=2, slope=2.0, inter=1.0,
                                      big_endian=True),
    "4-d": dict(data=np.stack([VOLUME, -VOLUME], axis=-1)),
    "2-d": dict(data=VOLUME[:, :, 0]),
}


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
@pytest.mark.parametrize("kind", sorted(FILES))
def test_load_nifti_equals_nibabels_own_read(tmp_path, kind, suffix):
    path = _write(tmp_path / f"case{suffix}", **FILES[kind])
    data, affine, zooms, _ = load_nifti(str(path))
    expected = _nibabel_reference(path)
    assert data.flags.c_contiguous and data.dtype == np.float32
    np.testing.assert_array_equal(data, expected)
    np.testing.assert_array_equal(affine, nib.load(str(path)).affine)
    assert zooms == pytest.approx(nib.load(str(path)).header.get_zooms()[:min(data.ndim, 3)])


def test_a_compressed_file_is_read_through_isal(tmp_path):
    pytest.importorskip("isal")
    path = _write(tmp_path / "case.nii.gz", data=VOLUME)
    with mock.patch.object(nib, "load", side_effect=AssertionError("nibabel.load called")):
        image = open_nifti(str(path))
    np.testing.assert_array_equal(image.get_fdata(dtype=np.float32), _nibabel_reference(path))


def test_without_isal_nibabel_reads_it(tmp_path):
    path = _write(tmp_path / "case.nii.gz", data=VOLUME, slope=0.5, inter=3.0)
    with mock.patch.dict(sys.modules, {"isal": None, "isal.igzip": None}):
        data = load_nifti(str(path))[0]
    np.testing.assert_array_equal(data, _nibabel_reference(path))


def test_a_compressed_file_that_is_no_nifti_is_a_data_error_naming_it(tmp_path):
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"these are not voxels " * 40))
    with pytest.raises(DataError, match="cannot read NIfTI image") as caught:
        load_nifti(str(path))
    assert "notes.nii.gz" in str(caught.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_voxel_is_a_data_error(tmp_path, bad):
    data = VOLUME.astype(np.float32)
    data[3, 4, 5] = bad
    path = _write(tmp_path / "case.nii.gz", data=data)
    with pytest.raises(DataError, match="1 NaN or infinite voxel"):
        load_nifti(str(path))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_scaling_that_overflows_float32_is_a_data_error(tmp_path):
    path = _write(tmp_path / "case.nii.gz", data=VOLUME, slope=1e36, inter=0.0)
    with pytest.raises(DataError, match="NaN or infinite voxel"):
        load_nifti(str(path))


def test_an_empty_image_is_finite(tmp_path):
    path = _write(tmp_path / "case.nii", data=np.zeros((4, 0, 3), np.int16))
    assert load_nifti(str(path))[0].shape == (4, 0, 3)


MASK = (np.random.default_rng(1).random((130, 100, 90)) > 0.9).astype(np.float32)


@pytest.mark.parametrize("name", ["mask.nii.gz", "mask.nii"])
@pytest.mark.parametrize("dtype", ["uint8", "float32", None])
def test_save_nifti_writes_what_nibabel_reads_back(tmp_path, name, dtype):
    """A large C-ordered channels-first prediction, reordered in tiles on the way out."""
    affine = np.diag([0.7, 0.7, 2.0, 1.0])
    path = save_nifti(MASK[None], 0, affine, None, tmp_path / name, dtype=dtype)
    image = nib.load(str(path))
    assert image.get_data_dtype() == np.dtype(dtype or np.float32)
    np.testing.assert_array_equal(np.asarray(image.dataobj), MASK)
    np.testing.assert_allclose(image.affine, affine, rtol=1e-6)  # the header keeps float32
    if name.endswith(".gz"):  # plain gzip, whatever compressed it
        assert len(gzip.decompress(path.read_bytes())) > MASK.size
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_save_nifti_without_isal_writes_the_same_voxels(tmp_path):
    with mock.patch.dict(sys.modules, {"isal": None, "isal.igzip": None}):
        path = save_nifti(MASK, None, None, None, tmp_path / "mask.nii.gz", dtype="uint8")
    np.testing.assert_array_equal(np.asarray(nib.load(str(path)).dataobj), MASK)


@pytest.mark.parametrize("isal", [True, False])
def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, isal):
    path = save_nifti(MASK, None, None, None, tmp_path / "mask.nii.gz", dtype="uint8")
    before = path.read_bytes()
    full = OSError(28, "No space left on device")
    modules = {} if isal else {"isal": None, "isal.igzip": None}
    with mock.patch.dict(sys.modules, modules), \
            mock.patch("nibabel.Nifti1Image.to_bytes", side_effect=full), \
            mock.patch("nibabel.save", side_effect=full), \
            pytest.raises(DataError, match="cannot write NIfTI file: No space left on device"):
        save_nifti(1 - MASK, None, None, None, path, dtype="uint8")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mask.nii.gz"]
