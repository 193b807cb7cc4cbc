"""Headers that used to pass check and then misled the run: a case's modalities (BraTS) on
different grids were stacked voxel by voxel; a label grid rotated against its image, or on
another spacing and shifted, was paired one to one; spacing came from pixdim while the
affine is the sform's; a file in metres was read as mm; an RGB NIfTI was called corrupt."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from mmarctl.check.images import header_problems, pair_problems

AFFINE = np.array([[-0.8, 0, 0, 120.5], [0, -0.8, 0, 95.25], [0, 0, 2.5, -310.0],
                   [0, 0, 0, 1]])
SHAPE = (8, 6, 4)


def _save(path: Path, affine: np.ndarray, data: np.ndarray | None = None) -> str:
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.float32) if data is None else data, affine),
             str(path))
    return path.name


def _flipped(affine: np.ndarray, shape=SHAPE) -> np.ndarray:
    """The same grid stored with its first two axes reversed (a right header)."""
    flipped = affine.copy()
    for axis in (0, 1):
        flipped[:, 3] += flipped[:, axis] * (shape[axis] - 1)
        flipped[:, axis] = -flipped[:, axis]
    return flipped


def _modalities(tmp_path: Path) -> list:
    names = [_save(tmp_path / f"m{i}.nii.gz", AFFINE) for i in range(3)]
    return [{"image": names}]


def test_a_modality_in_another_orientation_names_the_odd_file(tmp_path):
    items = _modalities(tmp_path)
    _save(tmp_path / "m2.nii.gz", _flipped(AFFINE))
    (line,) = header_problems(items, tmp_path, ["image"], None, reoriented=frozenset())
    assert "1 of 1 multi-file 'image' items hold a file with another orientation" in line
    assert "item 0: m2.nii.gz RAS against m0.nii.gz LPS" in line
    assert "as_closest_canonical" in line
    # Reoriented by the loader, the three are one grid.
    assert header_problems(items, tmp_path, ["image"], None,
                           reoriented=frozenset({"image"})) == []
    # Not told how the loader reads them, the header pass leaves a file stored in another
    # orientation of the same grid to the pair pass, which knows.
    known: dict = {}
    assert header_problems(items, tmp_path, ["image"], None, known) == []
    _save(tmp_path / "label.nii.gz", AFFINE)
    items[0]["label"] = "label.nii.gz"
    (line,) = pair_problems(items, tmp_path, ("image", "label"), known=known)
    assert "another orientation" in line and "item 0: m2.nii.gz RAS against m0.nii.gz LPS" in line
    assert pair_problems(items, tmp_path, ("image", "label"), known=known,
                         reoriented=frozenset({"image", "label"})) == []


def test_a_modality_of_another_shape_names_the_odd_file(tmp_path):
    items = _modalities(tmp_path)
    _save(tmp_path / "m1.nii.gz", AFFINE, np.zeros((7, 6, 4), np.float32))
    (line,) = header_problems(items, tmp_path, ["image"], None)
    assert "another shape" in line and "item 0: m1.nii.gz 7x6x4 against m0.nii.gz 8x6x4" in line


def test_modalities_on_one_grid_pass(tmp_path):
    assert header_problems(_modalities(tmp_path), tmp_path, ["image"], 3) == []


def _rotated(affine: np.ndarray, degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    turn = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    out = affine.copy()
    out[:3, :3] = turn @ affine[:3, :3]
    return out


def test_a_label_rotated_within_its_axis_codes_is_a_problem(tmp_path):
    _save(tmp_path / "image.nii.gz", AFFINE)
    _save(tmp_path / "label.nii.gz", _rotated(AFFINE, 20))
    items = [{"image": "image.nii.gz", "label": "label.nii.gz"}]
    (line,) = pair_problems(items, tmp_path, ("image", "label"))
    assert "rotated against their image" in line and "(rotated 20 deg)" in line
    _save(tmp_path / "label.nii.gz", _rotated(AFFINE, 0.001))  # rounding: not a rotation
    assert pair_problems(items, tmp_path, ("image", "label")) == []


def test_a_label_on_another_spacing_is_held_to_its_image_s_field_of_view(tmp_path):
    image = np.zeros((16, 12, 8), np.float32)
    _save(tmp_path / "image.nii.gz", AFFINE, image)
    half = AFFINE.copy()
    half[:3, :3] *= 2
    half[:3, 3] += AFFINE[:3, :3] @ [0.5, 0.5, 0.5]  # the same field of view, coarser
    _save(tmp_path / "label.nii.gz", half)
    items = [{"image": "image.nii.gz", "label": "label.nii.gz"}]
    assert pair_problems(items, tmp_path, ("image", "label")) == []
    half[0, 3] += 10  # 10 mm to the side
    _save(tmp_path / "label.nii.gz", half)
    (line,) = pair_problems(items, tmp_path, ("image", "label"))
    assert "cover another field of view than their image" in line
    assert "label.nii.gz from (" in line and "against image.nii.gz from (" in line


def test_spacing_is_the_sform_s_in_mm(tmp_path):
    """A qform (pixdim) of 1 mm beside an sform of 0.8 mm: the grid is the sform's, so a
    label saved on that sform is on its image's grid; a file in metres is read in mm."""
    image = nib.Nifti1Image(np.zeros(SHAPE, np.float32), AFFINE)
    image.header.set_sform(AFFINE, 1)
    unit = np.eye(4)
    unit[:3, 3] = AFFINE[:3, 3]
    image.header.set_qform(unit, 1)
    nib.save(image, str(tmp_path / "image.nii.gz"))
    _save(tmp_path / "label.nii.gz", AFFINE)
    metres = AFFINE.copy()
    metres[:3, :] /= 1000
    in_m = nib.Nifti1Image(np.zeros(SHAPE, np.float32), metres)
    in_m.header.set_xyzt_units("meter", "sec")
    nib.save(in_m, str(tmp_path / "metres.nii.gz"))
    items = [{"image": "image.nii.gz", "label": "label.nii.gz"},
             {"image": "metres.nii.gz", "label": "label.nii.gz"}]
    assert pair_problems(items, tmp_path, ("image", "label")) == []


def test_an_rgb_nifti_is_named_as_such(tmp_path):
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, AFFINE), str(tmp_path / "rgb.nii.gz"))
    (line,) = header_problems([{"image": "rgb.nii.gz"}], tmp_path, ["image"], 1)
    assert "RGB NIfTI (datatype RGB24, 3 colour values per voxel) is not supported" in line
    assert "rgb.nii.gz" in line and "corrupt" not in line


def test_a_one_hot_label_under_a_class_index_loss(tmp_path):
    """The caller (check's data pass) says whether the loss takes class indices."""
    _save(tmp_path / "image.nii.gz", AFFINE)
    _save(tmp_path / "label.nii.gz", AFFINE, np.zeros(SHAPE + (2,), np.uint8))
    items = [{"image": "image.nii.gz", "label": "label.nii.gz"}]
    assert header_problems(items, tmp_path, ["label"], None) == []
    (line,) = header_problems(items, tmp_path, ["label"], None, class_index_labels=True)
    assert line.startswith("1 label file has several channels") and "label.nii.gz (2)" in line


def test_rgb_mask_pngs_under_a_class_index_loss(tmp_path):
    from PIL import Image

    from mmarctl.check.images import png_problems

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    items = [{"image": "grey.png", "label": "grey.png"}, {"image": "grey.png", "label": "rgb.png"}]
    assert png_problems(items, tmp_path, ["image", "label"], 1) == []
    (line,) = png_problems(items, tmp_path, ["image", "label"], 1, class_index_labels=True)
    assert "label PNGs are not grey" in line and "rgb.png (RGB)" in line


def test_other_formats_are_named_with_a_conversion(tmp_path):
    """An uncompressed NIfTI named .gz, a MetaImage or NRRD file: said, not shown raw."""
    image = nib.Nifti1Image(np.zeros(SHAPE, np.float32), AFFINE)
    nib.save(image, str(tmp_path / "plain.nii"))
    (tmp_path / "misnamed.nii.gz").write_bytes((tmp_path / "plain.nii").read_bytes())
    (tmp_path / "meta.mha").write_bytes(b"ObjectType = Image\nNDims = 3\n" + bytes(64))
    (tmp_path / "vol.nrrd").write_bytes(b"NRRD0004\ntype: float\n" + bytes(64))
    lines = header_problems([{"image": n} for n in ("misnamed.nii.gz", "meta.mha", "vol.nrrd")],
                            tmp_path, ["image"], None)
    text = "\n".join(lines)
    assert ("(not a gzip file though named .gz: an uncompressed NIfTI (name it .nii, or gzip "
            "it)): misnamed.nii.gz") in text
    assert "a MetaImage (.mha/.mhd) file, not NIfTI: convert it to NIfTI" in text
    assert "an NRRD file, not NIfTI" in text


def test_a_16_bit_png_among_8_bit_ones(tmp_path):
    from PIL import Image

    from mmarctl.check.images import png_problems

    for i in range(3):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / f"{i}.png")
    items = [{"image": f"{i}.png"} for i in range(3)]
    assert png_problems(items, tmp_path, ["image"], 1) == []
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "1.png")
    (line,) = png_problems(items, tmp_path, ["image"], 1)
    assert line.startswith("1 of 3 image PNGs are 16-bit while the others are 8-bit")
    assert "1.png" in line


def test_check_data_compares_the_modalities_as_the_pipeline_loads_them(tmp_path):
    # infer reads no label, so no pair pass: check_data must tell the header pass how the
    # pipeline loads the image, or a modality stored in another orientation went through.
    import json

    from mmarctl.check.data import DataUse, check_data

    items = _modalities(tmp_path)
    _save(tmp_path / "m2.nii.gz", _flipped(AFFINE))
    datalist = tmp_path / "dataset.json"
    datalist.write_text(json.dumps({"test": items}))

    def use(reoriented):
        return DataUse(str(datalist), str(tmp_path), "test", ("config_validation.json",
                       "pre_transforms"), ("environment.json", "DATA_ROOT"),
                       reads=(("image", "LoadNifti"),), reoriented=reoriented)

    problems, _ = check_data([use(())], str)
    assert any("m2.nii.gz RAS against m0.nii.gz LPS" in p.message for p in problems), problems
    assert check_data([use(("image",))], str)[0] == []
