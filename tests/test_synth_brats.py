"""`mmarctl data synth --kind brats`: four-modality brain MRI with BraTS labels, as Clara's
BraTS MMARs load it (one file per modality, or one 4-D file)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from mmarctl import synth
from mmarctl.synth_brats import MODALITIES

SIZE = 40


@pytest.fixture(scope="module")
def brats_set(tmp_path_factory) -> Path:
    """Four cases of 40^3, seed 3, one file per modality."""
    root = tmp_path_factory.mktemp("brats") / "data"
    synth.synthesize(root, kind="brats", cases=4, size=SIZE, seed=3, show_progress=False)
    return root


def items(root: Path) -> list[dict]:
    datalist = json.loads((root / "dataset_0.json").read_text())
    return datalist["training"] + datalist["validation"]


def load(root: Path, item: dict) -> tuple[np.ndarray, np.ndarray]:
    """(images (4, x, y, z), label) of one item, in the datalist's channel order."""
    images = np.stack([np.asarray(nib.load(root / path).dataobj) for path in item["image"]])
    return images, np.asarray(nib.load(root / item["label"]).dataobj)


# -- files and datalist ------------------------------------------------------------------------

def test_each_case_is_four_modality_files_and_a_seg(brats_set):
    cases = items(brats_set)
    assert len(cases) == 4
    for index, item in enumerate(cases, start=1):
        case = f"BraTS_synth_{index:03d}"
        assert item["image"] == [f"{case}/{case}_{m}.nii.gz" for m in ("t1ce", "t1", "t2", "flair")]
        assert item["label"] == f"{case}/{case}_seg.nii.gz"
        for path in [*item["image"], item["label"]]:
            image = nib.load(brats_set / path)
            assert image.shape == (SIZE, SIZE, SIZE)
            assert np.allclose(image.header.get_zooms(), 240.0 / SIZE)
        assert nib.load(brats_set / item["image"][0]).get_data_dtype() == np.int16
        assert nib.load(brats_set / item["label"]).get_data_dtype() == np.uint8


def test_datalist_names_modalities_and_brats_labels(brats_set):
    datalist = json.loads((brats_set / "dataset_0.json").read_text())
    assert datalist["modality"] == {"0": "T1ce", "1": "T1", "2": "T2", "3": "FLAIR"}
    assert datalist["labels"] == {"0": "background", "1": "necrotic and non-enhancing tumour core",
                                  "2": "peritumoral edema", "4": "GD-enhancing tumour"}
    assert datalist["tensorImageSize"] == "3D" and datalist["numTraining"] == 4
    assert len(datalist["training"]) == 3 and len(datalist["validation"]) == 1
    assert datalist["synthetic"] == {"task": "segmentation", "kind": "brats", "seed": 3,
                                     "size": SIZE, "layout": "files"}


# -- labels --------------------------------------------------------------------------------------

def test_labels_are_brats_values_nested(brats_set):
    for item in items(brats_set):
        images, label = load(brats_set, item)
        assert set(np.unique(label)) <= {0, 1, 2, 4}
        assert {2, 4} <= set(np.unique(label))  # edema and an enhancing rim in every case
        whole = label > 0
        _, blobs = ndimage.label(whole)
        assert blobs == 1  # one tumour
        assert 0.002 < whole.mean() < 0.05
        # Nested: the necrotic centre lies within the enhancing rim, which lies within
        # the edema; the tumour never reaches the background outside the brain.
        for inner, outer in ((1, {4}), (4, {1, 2})):
            region = label == inner
            if region.any():
                ring = ndimage.binary_dilation(region) & ~region
                assert np.isin(label[ring], list(outer)).mean() > 0.9, (inner, outer)
        assert (images[:, whole] > 0).all()


def test_the_tumour_moves_between_cases(brats_set):
    centres = [np.array(ndimage.center_of_mass(load(brats_set, item)[1] > 0))
               for item in items(brats_set)]
    assert np.ptp(np.array(centres), axis=0).max() > 0.1 * SIZE


# -- images ------------------------------------------------------------------------------------

def test_modalities_differ_in_contrast_as_mri_does(brats_set):
    t1ce, t1, t2, flair = (MODALITIES.index(m) for m in ("t1ce", "t1", "t2", "flair"))
    for item in items(brats_set):
        images, label = load(brats_set, item)
        images = images.astype(float)
        brain = images[0] > 0
        normal = brain & (label == 0)

        def mean(channel, region):
            return images[channel][region].mean() / images[channel][normal].mean()

        # Gadolinium: the rim is far brighter on T1ce than on T1.
        assert mean(t1ce, label == 4) > 1.4 * mean(t1, label == 4)
        # Edema is bright on FLAIR and T2, darker than brain on T1.
        assert mean(flair, label == 2) > 1.4 and mean(t2, label == 2) > 1.2
        assert mean(t1, label == 2) < 1.0
        # Four genuinely different channels, not copies.
        flat = images[:, brain].reshape(4, -1)
        correlation = np.corrcoef(flat)
        assert correlation[np.triu_indices(4, 1)].max() < 0.95


def test_skull_stripped_background_is_exactly_zero(brats_set):
    for item in items(brats_set):
        images, label = load(brats_set, item)
        zero = images == 0
        assert (zero == zero[0]).all()  # one brain mask for all four modalities
        assert 0.5 < zero[0].mean() < 0.95
        assert images.min() == 0 and images.max() > 500


# -- determinism and the 4-D layout -----------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_arrays(brats_set, tmp_path):
    synth.synthesize(tmp_path / "again", kind="brats", cases=4, size=SIZE, seed=3,
                     show_progress=False)
    synth.synthesize(tmp_path / "other", kind="brats", cases=4, size=SIZE, seed=4,
                     show_progress=False)
    for path in sorted(p.relative_to(brats_set) for p in brats_set.rglob("*.nii.gz")):
        assert (brats_set / path).read_bytes() == (tmp_path / "again" / path).read_bytes(), path
    first = items(brats_set)[0]
    assert not np.array_equal(load(brats_set, first)[0], load(tmp_path / "other", first)[0])


def test_4d_layout_stacks_the_same_modalities_on_the_fourth_axis(brats_set, tmp_path):
    root = tmp_path / "d4"
    result = synth.synthesize(root, kind="brats", cases=4, size=SIZE, seed=3, layout="4d",
                              compress=False, show_progress=False)
    datalist = json.loads((root / "dataset_0.json").read_text())
    assert datalist["tensorImageSize"] == "4D" and datalist["synthetic"]["layout"] == "4d"
    assert len(result.files) == 8
    for stacked, separate in zip(items(root), items(brats_set)):
        assert stacked["image"].startswith("imagesTr/") and stacked["image"].endswith(".nii")
        image = np.asarray(nib.load(root / stacked["image"]).dataobj)
        assert image.shape == (SIZE, SIZE, SIZE, 4)
        images, label = load(brats_set, separate)
        assert np.array_equal(np.moveaxis(image, -1, 0), images)
        assert np.array_equal(np.asarray(nib.load(root / stacked["label"]).dataobj), label)


def test_shape_gives_every_case_that_grid(tmp_path):
    root = tmp_path / "d"
    synth.synthesize(root, kind="brats", cases=2, shape="48,40,32", seed=1, show_progress=False)
    for item in items(root):
        images, label = load(root, item)
        assert images.shape == (4, 48, 40, 32) and label.shape == (48, 40, 32)
        assert {2, 4} <= set(np.unique(label))


# -- what the BraTS MMAR's transforms make of it --------------------------------------------------

def test_clara_brats_transforms_read_four_channels_and_three_regions(brats_set):
    from mmarctl.runtime.transforms.channels import ConvertToChannelsFirst
    from mmarctl.runtime.transforms.labels import ConvertToMultiChannelBasedOnBratsClasses
    from mmarctl.runtime.transforms.loaders import LoadNifti

    item = items(brats_set)[0]
    sample = {key: (str(brats_set / value) if isinstance(value, str)
                    else [str(brats_set / v) for v in value]) for key, value in item.items()}
    rng = np.random.default_rng(0)
    for transform in (LoadNifti(fields=["image", "label"]),
                      ConvertToChannelsFirst(fields=["image", "label"]),
                      ConvertToMultiChannelBasedOnBratsClasses(fields=["label"])):
        sample = transform(sample, rng)
    assert sample["image"].shape == (4, SIZE, SIZE, SIZE)
    tc, wt, et = sample["label"].astype(bool)
    assert (tc >= et).all() and (wt >= tc).all()
    assert wt.sum() > tc.sum() >= et.sum() > 0
