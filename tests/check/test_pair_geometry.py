"""An image and its label must lie on one voxel grid as the pipeline loads them: a label in
another orientation, on another spacing or shifted used to pass check and be scored voxel by
voxel (the pipeline pairs voxels one to one). Rounding noise in the headers is not flagged,
and a label that LoadNifti's as_closest_canonical brings onto its image's grid is fine."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from broken_mmars import datalist_file, edit_json, problem_lines, runner
from broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check import images
from mmarctl.check.images import header_problems, pair_problems
from mmarctl.cli import app

AFFINE = np.array([[-0.8, 0, 0, 120.5], [0, -0.8, 0, 95.25], [0, 0, 2.5, -310.0],
                   [0, 0, 0, 1]])


def _save(path: Path, affine: np.ndarray, *, qform_only: bool = False,
          data: np.ndarray | None = None) -> None:
    array = np.zeros((8, 6, 4), np.float32) if data is None else data
    image = nib.Nifti1Image(array, affine)
    if qform_only:
        image.header.set_sform(None, code=0)
    nib.save(image, str(path))


def _pair(tmp_path: Path, label_affine: np.ndarray, **label) -> tuple[list, Path]:
    _save(tmp_path / "image.nii.gz", AFFINE)
    _save(tmp_path / "label.nii.gz", label_affine, **label)
    return [{"image": "image.nii.gz", "label": "label.nii.gz"}], tmp_path


def test_rounding_noise_and_a_qform_only_label_are_not_flagged(tmp_path):
    noisy = AFFINE.copy()
    noisy[:3, 3] += 1e-4  # float32 rounding of the origin
    noisy[:3, :3] *= 1 + 1e-6  # pixdim written with other digits
    items, base = _pair(tmp_path, noisy, qform_only=True)
    assert pair_problems(items, base, ("image", "label")) == []


def test_a_flipped_label_is_named_with_both_orientations(tmp_path):
    flipped = np.diag([-1.0, 1, 1, 1]) @ AFFINE
    items, base = _pair(tmp_path, flipped)
    (line,) = pair_problems(items, base, ("image", "label"))
    assert line.startswith("1 of 1 labels differ in orientation from their image")
    assert "label.nii.gz RPS against image.nii.gz LPS" in line
    assert "as_closest_canonical" in line


def test_as_closest_canonical_reconciles_a_label_stored_in_another_orientation(tmp_path):
    """The same physical label, stored RAS while the image is LPS (as a tool that writes
    canonical files leaves it): one to one, the voxels are mirrored; reoriented, they match."""
    _save(tmp_path / "image.nii.gz", AFFINE)
    label = nib.as_closest_canonical(nib.load(str(tmp_path / "image.nii.gz")))
    nib.save(label, str(tmp_path / "label.nii.gz"))
    items = [{"image": "image.nii.gz", "label": "label.nii.gz"}]
    assert len(pair_problems(items, tmp_path, ("image", "label"))) == 1
    assert pair_problems(items, tmp_path, ("image", "label"),
                         reoriented=frozenset({"image", "label"})) == []
    # Only the label reoriented: RAS against LPS again.
    (line,) = pair_problems(items, tmp_path, ("image", "label"),
                            reoriented=frozenset({"label"}))
    assert "RAS against image.nii.gz LPS" in line


def test_a_shifted_label_and_another_spacing_are_problems(tmp_path):
    shifted = AFFINE.copy()
    shifted[0, 3] += 0.8  # one voxel
    items, base = _pair(tmp_path, shifted)
    (line,) = pair_problems(items, base, ("image", "label"))
    assert "have another origin (a shifted grid) than their image of the same shape" in line
    assert "label.nii.gz (121.3, 95.25, -310) against image.nii.gz (120.5, 95.25, -310)" in line

    one_mm = AFFINE.copy()
    one_mm[:3, :3] = np.diag([-1.0, -1.0, 1.0])
    items, base = _pair(tmp_path, one_mm)
    (line,) = pair_problems(items, base, ("image", "label"))
    assert "label.nii.gz 1x1x1 mm against image.nii.gz 0.8x0.8x2.5 mm" in line


def test_a_label_without_qform_or_sform_is_taken_voxel_by_voxel(tmp_path):
    """No orientation in the header: nibabel's default affine is no evidence of a flip."""
    _save(tmp_path / "image.nii.gz", AFFINE)
    bare = nib.Nifti1Image(np.zeros((8, 6, 4), np.float32), None)
    bare.header.set_zooms((0.8, 0.8, 2.5))
    bare.header.set_qform(None, code=0)
    bare.header.set_sform(None, code=0)
    nib.save(bare, str(tmp_path / "label.nii.gz"))
    items = [{"image": "image.nii.gz", "label": "label.nii.gz"}]
    assert pair_problems(items, tmp_path, ("image", "label")) == []


def test_the_pair_check_reads_no_header_twice(tmp_path, monkeypatch):
    items, base = _pair(tmp_path, AFFINE)
    known: dict = {}
    for field in ("image", "label"):
        assert header_problems(items, base, [field], None, known) == []
    calls = []
    real = images.read_header  # check reads headers only, never nibabel.load's image
    monkeypatch.setattr(images, "read_header", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert pair_problems(items, base, ("image", "label"), known=known) == []
    assert calls == []
    assert images.read_geometry(base / "image.nii.gz") is not None and len(calls) == 1


def test_check_follows_the_config_s_as_closest_canonical(mmar):
    root = mmar
    label = datalist_file(root, "training", 0, "label")
    nib.save(_mirrored(nib.load(str(label))), str(label))
    lines = problem_lines(runner.invoke(app, ["check", str(root)]).output)
    assert len(lines) == 1 and "differ in orientation from their image" in lines[0], lines
    edit_json(root / "config" / "config_train.json", lambda c: c["train"]["pre_transforms"][0][
        "args"].update(as_closest_canonical=True))
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 0, result.output


def _mirrored(image):
    """The same physical image stored with its first axis reversed (and the header saying
    so): one to one its voxels are mirrored; reoriented, they are the original's."""
    return image.as_reoriented(np.array([[0, -1], [1, 1], [2, 1]]))
