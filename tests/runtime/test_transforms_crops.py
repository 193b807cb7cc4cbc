"""Croppers: pos/neg patch sampling, fixed and random crops, divisible padding."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.crops import (CropFixedSizeRandomCenter,
                                              CropRandomSizeWithDisplacement, CropSubVolumeCenter,
                                              PadCropWithFixedSize, SymmetricPadderDiv)
from mmarctl.runtime.transforms.posneg import FastCropByPosNegRatio, FastPosNegRatioCropROI


def volume(shape=(40, 40, 30), box=(slice(15, 25), slice(15, 25), slice(10, 20)), name="spleen_4"):
    image = np.random.default_rng(0).random((1,) + shape).astype(np.float32)
    label = np.zeros((1,) + shape, np.float32)
    label[(0,) + box] = 1
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    meta = {f: {"channel_axis": 0, "affine": affine.copy(), "filename": f"/d/{name}.nii.gz",
                "index_cache": {}} for f in ("image", "label")}
    return {"image": image, "label": label, "meta": meta}


def centre_label(patch, size):
    return patch["label"][(0,) + tuple(n // 2 for n in size)]


@pytest.mark.parametrize("pos, neg, expected", [(1, 0, 1.0), (0, 1, 0.0)])
def test_pos_neg_centres_fall_in_the_requested_class(pos, neg, expected):
    crop = FastCropByPosNegRatio(size=[8, 8, 8], fields="image", label_field="label", pos=pos,
                                 neg=neg, batch_size=6)
    patches = crop(volume(), np.random.default_rng(0))
    assert len(patches) == 6
    assert all(p["image"].shape == (1, 8, 8, 8) and p["label"].shape == (1, 8, 8, 8) for p in patches)
    assert {float(centre_label(p, [8, 8, 8])) for p in patches} == {expected}


def test_pos_neg_ratio_is_respected_on_average():
    crop = FastCropByPosNegRatio(size=[4, 4, 4], pos=3, neg=1, batch_size=400)
    patches = crop(volume(), np.random.default_rng(1))
    share = np.mean([centre_label(p, [4, 4, 4]) for p in patches])
    assert 0.68 < share < 0.82


def test_patch_contents_match_the_volume_and_affine_moves():
    sample = volume()
    patch = FastCropByPosNegRatio(size=[8, 8, 8], pos=1, neg=0)(sample, np.random.default_rng(2))[0]
    start = patch["meta"]["image"]["crop_start"]
    box = tuple(slice(s, s + 8) for s in start)
    np.testing.assert_array_equal(patch["image"][0], sample["image"][(0,) + box])
    np.testing.assert_allclose(patch["meta"]["image"]["affine"][:3, 3], np.array(start) * [2, 2, 3])
    assert "fg_indices" not in patch["meta"]["label"]  # volume-only cache not copied


def step_copy(sample):
    """What a pipeline hands to random transforms each step: arrays and meta dicts copied."""
    return {k: ({f: dict(p) for f, p in v.items()} if k == "meta" else v.copy())
            for k, v in sample.items()}


def test_foreground_index_is_computed_once_and_shared_by_step_copies():
    cached = volume()
    crop = FastCropByPosNegRatio(size=[8, 8, 8], batch_size=2)
    crop(step_copy(cached), np.random.default_rng(0))
    index = cached["meta"]["label"]["index_cache"]["fg_indices"]
    assert index.dtype == np.int32 and len(index) == 1000
    patches = crop(step_copy(cached), np.random.default_rng(1))
    assert cached["meta"]["label"]["index_cache"]["fg_indices"] is index
    assert all("index_cache" not in p["meta"]["label"] for p in patches)  # volume-only


def test_stale_index_after_a_random_transform_is_rebuilt():
    cached = volume()
    crop = FastCropByPosNegRatio(size=[4, 4, 4], pos=1, neg=0, batch_size=20)
    crop(step_copy(cached), np.random.default_rng(0))
    moved = step_copy(cached)
    moved["label"][:] = 0
    moved["label"][0, 1:4, 30:34, 20:25] = 1  # foreground now somewhere else entirely
    patches = crop(moved, np.random.default_rng(1))
    assert all(p["label"].sum() > 0 for p in patches)
    assert len(cached["meta"]["label"]["index_cache"]["fg_indices"]) == 60


def test_mostly_foreground_volume_caches_the_background_instead():
    sample = volume()
    sample["label"][:] = 1
    sample["label"][0, 10:30, 10:30, 12:18] = 0  # background only in the middle
    patches = FastCropByPosNegRatio(size=[4, 4, 4], pos=0, neg=1, batch_size=5)(
        sample, np.random.default_rng(0))
    cache = sample["meta"]["label"]["index_cache"]
    assert "bg_indices" in cache and "fg_indices" not in cache
    assert all(centre_label(p, [4, 4, 4]) == 0 for p in patches)


def test_foreground_by_rejection_when_background_is_cached():
    sample = volume()
    sample["label"][:] = 1
    sample["label"][0, 10:30, 10:30, 12:18] = 0
    patches = FastCropByPosNegRatio(size=[4, 4, 4], pos=1, neg=0, batch_size=5)(
        sample, np.random.default_rng(0))
    assert all(centre_label(p, [4, 4, 4]) == 1 for p in patches)


def test_volume_without_foreground_falls_back_to_background():
    sample = volume(box=(slice(0, 0),) * 3)
    patches = FastCropByPosNegRatio(size=[4, 4, 4], pos=1, neg=0, batch_size=3)(
        sample, np.random.default_rng(0))
    assert len(patches) == 3


def test_volume_smaller_than_the_patch_is_zero_padded():
    sample = volume(shape=(6, 6, 4), box=(slice(2, 4),) * 3)
    patch = FastCropByPosNegRatio(size=[8, 8, 8], pos=1, neg=0)(sample, np.random.default_rng(0))[0]
    assert patch["image"].shape == (1, 8, 8, 8)
    np.testing.assert_array_equal(patch["image"][0, 1:7, 1:7, 2:6], sample["image"][0])
    assert patch["image"][0, 0].sum() == 0


def test_seeded_patches_are_reproducible():
    crop = FastCropByPosNegRatio(size=[8, 8, 8], batch_size=4)
    a = crop(volume(), np.random.default_rng(9))
    b = crop(volume(), np.random.default_rng(9))
    assert [p["meta"]["image"]["crop_start"] for p in a] == [p["meta"]["image"]["crop_start"] for p in b]


def test_image_label_shape_mismatch_names_the_case():
    sample = volume()
    sample["label"] = sample["label"][:, :, :, :20]
    with pytest.raises(DataError, match="spatial shape.*in case /d/spleen_4.nii.gz") as info:
        FastCropByPosNegRatio(size=[8, 8, 8])(sample, np.random.default_rng(0))
    assert info.value.file == "/d/spleen_4.nii.gz"


def test_size_rank_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="size has 2 values"):
        FastCropByPosNegRatio(size=[8, 8])(volume(), np.random.default_rng(0))


def test_image_field_alias_is_cropped():
    crop = FastCropByPosNegRatio(size=[8, 8, 8], image_field="image")
    assert crop.fields == ["image"]
    assert crop.get_config() == {"size": [8, 8, 8], "label_field": "label", "pos": 1, "neg": 1,
                                 "batch_size": 1, "batches_to_gen_at_once": 1, "image_field": "image"}


@pytest.mark.parametrize("args, message", [
    ({"size": [8, 8, 0]}, "Received: size=\\[8, 8, 0\\]"),
    ({"size": [8, 8, 8], "pos": 0, "neg": 0}, "pos \\+ neg must be > 0"),
    ({"size": [8, 8, 8], "pos": -1}, "Received: pos=-1"),
    ({"size": [8, 8, 8], "batch_size": 0}, "Received: batch_size=0"),
    ({"size": [8, 8, 8], "batches_to_gen_at_once": 2.5}, "Received: batches_to_gen_at_once=2.5"),
])
def test_fast_crop_rejects_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        FastCropByPosNegRatio(**args)


def test_missing_label_field_names_field_and_component():
    sample = volume()
    del sample["label"]
    with pytest.raises(DataError, match="FastCropByPosNegRatio: field 'label' is missing"):
        FastCropByPosNegRatio(size=[8, 8, 8])(sample, np.random.default_rng(0))


def test_crop_roi_plain_and_augmented():
    plain = FastPosNegRatioCropROI(size=[8, 8, 8], pos=1, neg=0, batch_size=2)
    patches = plain(volume(), np.random.default_rng(0))
    assert len(patches) == 2 and all(centre_label(p, [8, 8, 8]) == 1 for p in patches)
    warped = FastPosNegRatioCropROI(size=[8, 8, 8], rotation=True, scale=True, deform=True,
                                    rotation_degree=20, scale_factor=0.1, pos=1, neg=0)
    patch = warped(volume(), np.random.default_rng(0))[0]
    assert patch["image"].shape == (1, 8, 8, 8)
    assert set(np.unique(patch["label"])) <= {0.0, 1.0} and patch["label"].sum() > 0
    again = warped(volume(), np.random.default_rng(0))[0]
    np.testing.assert_array_equal(patch["image"], again["image"])


@pytest.mark.parametrize("args, message", [
    ({"size": [8, 8, 8], "deform": "no"}, "Received: deform='no'"),
    ({"size": [8, 8, 8], "scale_factor": 1.5}, "Received: scale_factor=1.5"),
    ({"size": [8, 8, 8], "rotation_degree": -5}, "Received: rotation_degree=-5"),
])
def test_crop_roi_rejects_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        FastPosNegRatioCropROI(**args)


@pytest.mark.parametrize("cls", [CropSubVolumeCenter, PadCropWithFixedSize])
@pytest.mark.parametrize("size, expected_shape, inner", [
    ([20, 20, 10], (1, 20, 20, 10), (slice(10, 30), slice(10, 30), slice(10, 20))),
    ([-1, 20, -1], (1, 40, 20, 30), (slice(0, 40), slice(10, 30), slice(0, 30))),
])
def test_centre_crop_table(cls, size, expected_shape, inner):
    sample = volume()
    original = sample["image"].copy()
    cls(["image", "label"], size=size)(sample, np.random.default_rng(0))
    assert sample["image"].shape == expected_shape and sample["label"].shape == expected_shape
    np.testing.assert_array_equal(sample["image"][0], original[(0,) + inner])


def test_centre_crop_pads_when_larger():
    sample = volume(shape=(4, 4, 4), box=(slice(1, 2),) * 3)
    CropSubVolumeCenter("image", size=[6, 4, 4])(sample, np.random.default_rng(0))
    assert sample["image"].shape == (1, 6, 4, 4)
    assert sample["image"][0, 0].sum() == 0 and sample["image"][0, 5].sum() == 0


def test_random_fixed_crop_stays_inside_and_is_seeded():
    for seed in range(5):
        sample = volume()
        original = sample["image"].copy()
        CropFixedSizeRandomCenter(["image", "label"], size=[10, 10, 10])(sample, np.random.default_rng(seed))
        start = sample["meta"]["image"]["crop_start"]
        assert all(0 <= s <= d - 10 for s, d in zip(start, (40, 40, 30)))
        box = (0,) + tuple(slice(s, s + 10) for s in start)
        np.testing.assert_array_equal(sample["image"][0], original[box])
        assert sample["meta"]["label"]["crop_start"] == start


def test_random_size_crop_respects_lower_size_and_displacement():
    for seed in range(10):
        sample = volume(shape=(40, 40, 30))
        CropRandomSizeWithDisplacement("image", lower_size=[0.5, 0.9, 1.0], max_displacement=3)(
            sample, np.random.default_rng(seed))
        _, x, y, z = sample["image"].shape
        assert 20 <= x <= 40 and 36 <= y <= 40 and z == 30


@pytest.mark.parametrize("args, message", [
    ({"lower_size": [1.5, 1]}, "fractions in \\(0, 1\\]"),
    ({"lower_size": [0.5, 0.5], "max_displacement": -1}, "Received: max_displacement=-1"),
])
def test_random_size_crop_rejects_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        CropRandomSizeWithDisplacement("image", **args)


def test_symmetric_padder_div_pads_and_records_padding():
    sample = volume(shape=(30, 32, 17))
    original = sample["image"].copy()
    SymmetricPadderDiv(["image", "label"], div_int=16)(sample, np.random.default_rng(0))
    assert sample["image"].shape == (1, 32, 32, 32)
    assert sample["meta"]["image"]["padding"] == [[1, 1], [0, 0], [7, 8]]
    np.testing.assert_array_equal(sample["image"][0, 1:31, :, 7:24], original[0])
    np.testing.assert_allclose(sample["meta"]["image"]["affine"][:3, 3], [-2, 0, -21])


@pytest.mark.parametrize("value", [0, 2.0, "16", True])
def test_symmetric_padder_rejects_bad_div_int(value):
    with pytest.raises(ConfigError, match=f"Received: div_int={value!r}"):
        SymmetricPadderDiv("image", div_int=value)


@pytest.mark.parametrize("cls, args", [
    (CropSubVolumeCenter, {"fields": ["image", "label"], "size": [4, 4, -1]}),
    (PadCropWithFixedSize, {"fields": "image", "size": [4, 4]}),
    (CropFixedSizeRandomCenter, {"fields": "image", "size": [4, 4, 4]}),
    (CropRandomSizeWithDisplacement, {"fields": "image", "lower_size": [0.9, 0.9], "max_displacement": 200}),
    (SymmetricPadderDiv, {"fields": "image", "div_int": 32}),
    (FastCropByPosNegRatio, {"size": [96, 96, 96], "fields": "image", "label_field": "label",
                             "pos": 1, "neg": 1, "batch_size": 3, "batches_to_gen_at_once": 48}),
    (FastPosNegRatioCropROI, {"size": [64, 64, 64], "image_field": "image", "label_field": "label",
                              "deform": False, "rotation": False, "rotation_degree": 20,
                              "scale": False, "scale_factor": 0.1, "pos": 1, "neg": 1,
                              "fast_crop": True, "batch_size": 1}),
])
def test_get_config_round_trip(cls, args):
    t = cls(**args)
    assert t.get_config() == args
    assert cls(**t.get_config()).get_config() == args


def test_worker_threads_share_one_index_build():
    from concurrent.futures import ThreadPoolExecutor

    cached = volume(shape=(60, 60, 40), box=(slice(20, 40), slice(20, 40), slice(10, 30)))
    crop = FastCropByPosNegRatio(size=[8, 8, 8], pos=1, neg=0, batch_size=2)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda seed: crop(step_copy(cached), np.random.default_rng(seed)),
                                range(16)))
    assert all(centre_label(p, [8, 8, 8]) == 1 for patches in results for p in patches)
    assert len(cached["meta"]["label"]["index_cache"]["fg_indices"]) == 20 * 20 * 20


@pytest.mark.parametrize("layout", ["none", "first", "last"])
def test_label_layouts_give_the_same_foreground_centres(layout):
    sample = volume()
    label = sample["label"][0]
    sample["label"] = {"none": label, "first": label[None], "last": label[..., None]}[layout]
    sample["meta"]["label"]["channel_axis"] = {"none": None, "first": 0, "last": -1}[layout]
    sample["image"] = sample["image"][0]
    sample["meta"]["image"]["channel_axis"] = None
    patches = FastCropByPosNegRatio(size=[4, 4, 4], pos=1, neg=0, batch_size=8)(
        sample, np.random.default_rng(0))
    starts = [p["meta"]["image"]["crop_start"] for p in patches]
    reference = FastCropByPosNegRatio(size=[4, 4, 4], pos=1, neg=0, batch_size=8)(
        volume(), np.random.default_rng(0))
    assert starts == [p["meta"]["image"]["crop_start"] for p in reference]
    assert all(np.asarray(p["label"]).sum() > 0 for p in patches)


@pytest.mark.parametrize("transform", [
    CropSubVolumeCenter("image", size=[3, 3]), CropFixedSizeRandomCenter("image", size=[3, 3]),
    CropRandomSizeWithDisplacement("image", lower_size=[0.5, 0.5]), SymmetricPadderDiv("image", 4),
    FastCropByPosNegRatio(size=[3, 3], fields="image", label_field="image"),
])
def test_croppers_accept_a_sample_without_meta(transform):
    out = transform({"image": np.ones((1, 5, 5), np.float32)}, np.random.default_rng(0))
    patch = out[0] if isinstance(out, list) else out
    assert patch["image"].ndim == 3 and "image" in patch["meta"]
