"""AddExtremePointsChannel and the CropByPosNegRatio name."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.extreme_points import (AddExtremePointsChannel, extreme_points,
                                                       gaussian_heatmap)
from mmarctl.runtime.transforms.posneg import CropByPosNegRatio


def case(shape=(1, 20, 20, 10)):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    label = np.zeros(shape, np.float32)
    label[0, 5:12, 6:15, 2:8] = 1
    return {"image": image, "label": label,
            "meta": {"image": {"channel_axis": 0}, "label": {"channel_axis": 0}}}


def test_extreme_points_of_a_box():
    mask = np.zeros((6, 6), bool)
    mask[1:4, 2:5] = True
    assert extreme_points(mask) == [(1, 2), (3, 2), (1, 2), (1, 4)]


def test_gaussian_heatmap_peaks_at_points_and_decays():
    heat = gaussian_heatmap((25, 25), [(5, 5)], sigma=2.0)
    assert heat[5, 5] == pytest.approx(1.0)
    assert heat[5, 7] == pytest.approx(np.exp(-4 / 8), rel=1e-5)
    assert heat[0, 0] == pytest.approx(np.exp(-50 / 8), rel=1e-5)
    assert heat[20, 5] == 0  # beyond 4 sigma: not computed (below 3.4e-4 anyway)


def test_adds_a_rescaled_channel_with_peaks_on_the_label_extremes():
    sample = AddExtremePointsChannel(sigma=1.5)(case(), np.random.default_rng(0))
    assert sample["image"].shape == (2, 20, 20, 10) and sample["image"].dtype == np.float32
    points = sample["image"][1]
    assert points.min() == pytest.approx(-1.0) and points.max() == pytest.approx(1.0)
    assert points[5, 6, 2] == pytest.approx(1.0)  # lowest voxel along axis 0 (first tie)
    assert sample["meta"]["image"]["channel_axis"] == 0


def test_image_without_channel_axis_and_points_field():
    sample = case()
    sample["image"] = sample["image"][0]
    sample["meta"]["image"]["channel_axis"] = None
    out = AddExtremePointsChannel(points_channel_field="points", rescale_min=0, rescale_max=1,
                                  dtype="float16")(sample, np.random.default_rng(0))
    assert out["image"].shape == (2, 20, 20, 10) and out["image"].dtype == np.float16
    assert out["points"].shape == (1, 20, 20, 10) and float(out["points"].min()) == 0.0


def test_permutation_is_random_seeded_and_stays_within_its_reach():
    t = AddExtremePointsChannel(permutation=True, sigma=1.0)  # earlier configs: true = 2 voxels
    assert t.is_random and t.permutation == 2
    a = t(case(), np.random.default_rng(1))["image"][1]
    b = t(case(), np.random.default_rng(1))["image"][1]
    np.testing.assert_array_equal(a, b)
    peaks = np.argwhere(a == a.max())
    assert all(3 <= x < 14 and 4 <= y < 17 and 0 <= z < 10 for x, y, z in peaks)


@pytest.mark.parametrize("value, perturbation, random", [
    (0, 0.0, False), (5, 5.0, True), (2.5, 2.5, True), (False, 0.0, False)])
def test_permutation_is_clara_s_number_of_voxels(value, perturbation, random):
    t = AddExtremePointsChannel(permutation=value, sigma=1.0)
    assert t.permutation == perturbation and t.is_random is random
    out = t(case(), np.random.default_rng(3))["image"][1]
    assert out.shape == (20, 20, 10)


def test_points_move_by_up_to_permutation_voxels_and_stay_in_the_image():
    t = AddExtremePointsChannel(permutation=30, sigma=0.5, points_channel_field="pts")
    moved = set()
    for seed in range(5):
        pts = t(case(), np.random.default_rng(seed))["pts"][0]
        moved |= {tuple(p) for p in np.argwhere(pts == pts.max())}
    assert len(moved) > 6  # random positions, clamped to the image (no IndexError)
    assert all(0 <= x < 20 and 0 <= y < 20 and 0 <= z < 10 for x, y, z in moved)


def test_heat_map_is_min_max_rescaled_on_a_small_patch():
    # on a 10x8x6 patch the blobs of sigma 3 cover every voxel: the minimum is above 0
    image = np.zeros((1, 10, 8, 6), np.float32)
    label = np.zeros_like(image)
    label[0, 2:6, 2:5, 1:4] = 1
    sample = {"image": image, "label": label,
              "meta": {"image": {"channel_axis": 0}, "label": {"channel_axis": 0}}}
    channel = AddExtremePointsChannel()(sample, np.random.default_rng(0))["image"][1]
    assert channel.min() == pytest.approx(-1.0) and channel.max() == pytest.approx(1.0)


def test_empty_label_is_a_data_error():
    sample = case()
    sample["label"][:] = 0
    sample["meta"]["image"]["filename"] = "/d/heart_3.nii.gz"
    with pytest.raises(DataError, match="no foreground") as info:
        AddExtremePointsChannel()(sample, np.random.default_rng(0))
    assert info.value.file == "/d/heart_3.nii.gz"


def test_missing_label_field_names_field_and_component():
    sample = case()
    del sample["label"]
    with pytest.raises(DataError, match="AddExtremePointsChannel: field 'label' is missing"):
        AddExtremePointsChannel()(sample, np.random.default_rng(0))


@pytest.mark.parametrize("args, message", [
    ({"sigma": 0}, "Received: sigma=0"),
    ({"dtype": "pixels"}, "Received: dtype='pixels'"),
    ({"permutation": -1}, "Received: permutation=-1"),
    ({"permutation": "2"}, "Received: permutation='2'"),
    ({"rescale_min": "low"}, "Received: rescale_min='low'"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        AddExtremePointsChannel(**args)


def test_get_config_round_trip():
    t = AddExtremePointsChannel(image_field="image", label_field="label", dtype="float32", sigma=2,
                                permutation=True, rescale_min=0, rescale_max=1,
                                points_channel_field="pts")
    assert AddExtremePointsChannel(**t.get_config()).get_config() == t.get_config()


def test_crop_by_pos_neg_ratio_behaves_like_the_fast_one():
    from mmarctl.runtime.transforms.posneg import FastCropByPosNegRatio

    args = {"size": [4, 4, 4], "fields": "image", "label_field": "label", "batch_size": 3}
    slow = CropByPosNegRatio(**args)(case(), np.random.default_rng(4))
    fast = FastCropByPosNegRatio(**args)(case(), np.random.default_rng(4))
    assert [p["meta"]["image"]["crop_start"] for p in slow] == [p["meta"]["image"]["crop_start"] for p in fast]
    assert CropByPosNegRatio.clara_name == "CropByPosNegRatio"
