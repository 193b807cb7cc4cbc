"""`mmarctl data synth --kind spine2d`: 2-D sagittal spine slices with vertebral-body masks,
as 2-D NIfTI, 8-bit PNG or NumPy arrays."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from mmarctl import synth
from mmarctl.runtime.transforms._png import read_png
from mmarctl.synth_files import png_bytes
from mmarctl.synth_spine import spine_case

SIZE = 96


def read(path: Path) -> np.ndarray:
    if path.suffix == ".png":
        return read_png(path)
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    return np.asarray(nib.load(path).dataobj)


def pairs(root: Path):
    datalist = json.loads((root / "dataset_0.json").read_text())
    for item in datalist["training"] + datalist["validation"]:
        yield read(root / item["image"]), read(root / item["label"])


@pytest.fixture(scope="module")
def spine_sets(tmp_path_factory) -> dict[str, Path]:
    """Five slices of 96 x 96, seed 2, in each format."""
    base = tmp_path_factory.mktemp("spine")
    roots = {}
    for file_format in ("nifti", "png", "npy"):
        roots[file_format] = base / file_format
        synth.synthesize(roots[file_format], kind="spine2d", cases=5, size=SIZE, seed=2,
                         file_format=file_format, show_progress=False)
    return roots


def test_files_datalist_and_shapes(spine_sets):
    for file_format, suffix in (("nifti", ".nii.gz"), ("png", ".png"), ("npy", ".npy")):
        root = spine_sets[file_format]
        datalist = json.loads((root / "dataset_0.json").read_text())
        assert datalist["tensorImageSize"] == "2D" and datalist["modality"] == {"0": "MR"}
        assert datalist["labels"] == {"0": "background", "1": "vertebral body"}
        assert datalist["synthetic"] == {"task": "segmentation", "kind": "spine2d", "seed": 2,
                                         "size": SIZE, "format": file_format, "label_value": 1}
        assert len(datalist["training"]) == 4 and len(datalist["validation"]) == 1
        first = datalist["training"][0]
        assert first == {"image": f"imagesTr/spine_001{suffix}", "label": f"labelsTr/spine_001{suffix}"}
        for image, mask in pairs(root):
            assert image.shape == mask.shape == (SIZE, SIZE)
            assert image.dtype == mask.dtype == np.uint8
            assert set(np.unique(mask)) == {0, 1}


def test_every_format_holds_the_same_arrays(spine_sets):
    reference = list(pairs(spine_sets["nifti"]))
    for file_format in ("png", "npy"):
        for (image, mask), (ref_image, ref_mask) in zip(pairs(spine_sets[file_format]), reference):
            assert np.array_equal(image, ref_image) and np.array_equal(mask, ref_mask)


def test_nifti_slices_carry_their_spacing(spine_sets):
    datalist = json.loads((spine_sets["nifti"] / "dataset_0.json").read_text())
    image = nib.load(spine_sets["nifti"] / datalist["training"][0]["image"])
    assert image.header.get_zooms()[:2] == pytest.approx((0.9, 0.9))


def test_a_column_of_vertebral_bodies_between_bright_discs(spine_sets):
    columns = []
    for image, mask in pairs(spine_sets["nifti"]):
        bodies, count = ndimage.label(mask)
        assert count >= 4  # separate bodies, split by discs
        assert 0.03 < mask.mean() < 0.2
        # The bodies stack head to feet: their centres spread over the rows, little across.
        centres = np.array(ndimage.center_of_mass(mask, bodies, range(1, count + 1)))
        assert np.ptp(centres[:, 0]) > 0.5 * SIZE and np.ptp(centres[:, 1]) < 0.3 * SIZE
        columns.append(centres[:, 1].mean())
        # Between two bodies along the column lies a disc, brighter on T2 than the bodies.
        order = np.argsort(centres[:, 0])
        upper, lower = centres[order[1]], centres[order[2]]
        gap = np.round((upper + lower) / 2).astype(int)
        assert image[gap[0], gap[1]] > np.median(image[mask.astype(bool)]) + 30
    assert np.ptp(columns) > 1.0  # the column's place varies per case


def test_label_value_255_for_masks_kept_as_images(tmp_path):
    root = tmp_path / "d"
    synth.synthesize(root, kind="spine2d", cases=2, size=48, seed=0, file_format="npy",
                     label_value=255, show_progress=False)
    datalist = json.loads((root / "dataset_0.json").read_text())
    assert datalist["labels"] == {"0": "background", "255": "vertebral body"}
    default = tmp_path / "one"
    synth.synthesize(default, kind="spine2d", cases=2, size=48, seed=0, file_format="npy",
                     show_progress=False)
    for (image, mask), (same_image, ones) in zip(pairs(root), pairs(default)):
        assert set(np.unique(mask)) == {0, 255}
        assert np.array_equal(mask, ones * 255) and np.array_equal(image, same_image)


def test_same_seed_same_files(spine_sets, tmp_path):
    synth.synthesize(tmp_path / "again", kind="spine2d", cases=5, size=SIZE, seed=2,
                     file_format="png", show_progress=False)
    for path in sorted(spine_sets["png"].rglob("*.png")):
        assert path.read_bytes() == (tmp_path / "again" / path.relative_to(spine_sets["png"])).read_bytes()
    other_image, _ = spine_case(np.random.default_rng(99), SIZE)
    assert not np.array_equal(other_image, next(pairs(spine_sets["png"]))[0])


def test_load_png_reads_the_written_pngs(spine_sets):
    from mmarctl.runtime.transforms.loaders import LoadPng

    datalist = json.loads((spine_sets["png"] / "dataset_0.json").read_text())
    item = datalist["training"][0]
    sample = {key: str(spine_sets["png"] / value) for key, value in item.items()}
    sample = LoadPng(fields=["image", "label"])(sample, np.random.default_rng(0))
    assert sample["image"].shape == (SIZE, SIZE) and sample["meta"]["image"]["channel_axis"] is None
    assert set(np.unique(sample["label"])) == {0.0, 1.0}


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (17, 4)])
def test_png_encoder_round_trips_odd_shapes(shape):
    array = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    from mmarctl.runtime.transforms._png import _decode

    assert np.array_equal(_decode(png_bytes(array)), array)


def test_png_encoder_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="2-D uint8"):
        png_bytes(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="2-D uint8"):
        png_bytes(np.zeros((4, 4), np.float32))
