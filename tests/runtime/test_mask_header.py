"""What a written mask keeps of its source image's header: the geometry (affine, qform and
sform codes, units), not what the header says of the scan's voxels (display window, intent,
description), and the source's own voxel grid when the prediction was made on a
reoriented copy of it (LoadNifti ``as_closest_canonical``)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from mmarctl.runtime.writers.nifti import save_nifti


def ct(tmp_path, affine=None):
    """A CT-like source whose header carries a display window, an intent and a description."""
    affine = np.diag([0.8, 0.8, 2.5, 1.0]) if affine is None else affine
    image = nib.Nifti1Image(np.arange(8 * 7 * 5, dtype=np.float32).reshape(8, 7, 5), affine)
    header = image.header
    header["cal_min"], header["cal_max"] = -1000, 1000
    header["descrip"] = b"CT abdomen"
    header["aux_file"] = b"ct.lut"
    header.set_intent("t test", (10,))
    header.set_xyzt_units("mm", "sec")
    header.set_sform(affine, 1)
    header.set_qform(affine, 1)
    return image


def test_a_mask_does_not_inherit_the_scans_display_range_intent_or_description(tmp_path):
    source = ct(tmp_path)
    mask = (source.get_fdata() > 100).astype(np.float32)
    written = nib.load(save_nifti(mask, None, source.affine, source.header,
                                  tmp_path / "m.nii.gz", "uint8"))
    header = written.header
    assert (float(header["cal_min"]), float(header["cal_max"])) == (0.0, 0.0)
    assert header.get_intent()[0] == "label"  # class indices: a label map in viewers
    assert header["descrip"].tobytes().rstrip(b"\0") == b"mmarctl output"
    assert header["aux_file"].tobytes().rstrip(b"\0") == b""
    # the geometry is the source's
    np.testing.assert_allclose(written.affine, source.affine)
    assert (int(header["sform_code"]), int(header["qform_code"])) == (1, 1)
    assert header.get_xyzt_units() == ("mm", "sec")
    # probabilities are no label map
    header = nib.load(save_nifti(mask, None, source.affine, source.header,
                                 tmp_path / "p.nii.gz", "float32")).header
    assert header.get_intent()[0] == "none"


def test_a_mask_predicted_on_the_canonical_grid_is_written_on_the_sources(tmp_path):
    lps = np.diag([-0.8, -0.8, 2.5, 1.0])
    lps[:3, 3] = [40, 30, -10]
    source = ct(tmp_path, lps)
    canonical = nib.as_closest_canonical(source)  # what LoadNifti(as_closest_canonical) sees
    assert nib.aff2axcodes(canonical.affine) == ("R", "A", "S")
    prediction = (canonical.get_fdata() > 100).astype(np.float32)
    written = nib.load(save_nifti(prediction, None, canonical.affine, source.header,
                                  tmp_path / "m.nii.gz", "uint8"))
    # voxel for voxel on the input's array, with the input's affine and codes
    np.testing.assert_allclose(written.affine, source.affine)
    np.testing.assert_array_equal(np.asarray(written.dataobj), source.get_fdata() > 100)
    assert (int(written.header["sform_code"]), int(written.header["qform_code"])) == (1, 1)
    # a grid that is no reorientation of the source's (resampled, not restored) is kept
    coarse = np.diag([1.6, 1.6, 2.5, 1.0])
    written = nib.load(save_nifti(np.zeros((4, 4, 5), np.float32), None, coarse, source.header,
                                  tmp_path / "c.nii.gz", "uint8"))
    np.testing.assert_allclose(written.affine, coarse)
    assert written.shape == (4, 4, 5)


def test_loadnifti_canonical_then_the_writer_gives_the_inputs_grid(tmp_path):
    # LoadNifti(as_closest_canonical) hands the writer the header as stored: the mask it
    # wrote was on the RAS+ grid (voxels mirrored against an LPS input, sform 2, no qform).
    from mmarctl.runtime.transforms.loaders import LoadNifti

    lps = np.diag([-0.8, -0.8, 2.5, 1.0])
    lps[:3, 3] = [40, 30, -10]
    path = tmp_path / "ct.nii.gz"
    nib.save(ct(tmp_path, lps), str(path))
    sample = LoadNifti("image", as_closest_canonical=True)({"image": str(path)},
                                                           np.random.default_rng(0))
    meta = sample["meta"]["image"]
    assert nib.aff2axcodes(meta["affine"]) == ("R", "A", "S")  # what the network sees
    prediction = (np.asarray(sample["image"]) > 100).astype(np.float32)
    written = nib.load(save_nifti(prediction, None, meta["affine"], meta["header"],
                                  tmp_path / "m.nii.gz", "uint8"))
    source = nib.load(str(path))
    np.testing.assert_allclose(written.affine, source.affine)
    np.testing.assert_array_equal(np.asarray(written.dataobj), source.get_fdata() > 100)
    assert (int(written.header["sform_code"]), int(written.header["qform_code"])) == (1, 1)
