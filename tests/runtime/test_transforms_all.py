"""Every registered transform, built from its Clara name, on one channels-first case."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.runtime import registry
from mmarctl.runtime.transforms import NAMES

#: Minimal Clara args per name; the loaders and debug writer have their own tests.
ARGS = {
    "ConvertToChannelsFirst": {"fields": "image"},
    "ConvertToChannelsLast": {"fields": "image"},
    "RepeatChannel": {"fields": "image", "repeat_times": 2},
    "ScaleIntensityRange": {"fields": "image", "a_min": 0, "a_max": 1},
    "NormalizeNonzeroIntensities": {"fields": "image"},
    "CenterData": {"fields": "image"},
    "ScaleIntensityOscillation": {"fields": "image"},
    "ScaleShiftIntensity": {"fields": "image"},
    "AddGaussianNoise": {"fields": "image"},
    "AdjustContrast": {"fields": "image"},
    "RandomGaussianSmooth": {"fields": "image"},
    "RandomSharpen": {"fields": "image"},
    "ScaleByResolution": {"fields": ["image", "label"], "target_resolution": [2, 2, 2]},
    "ScaleByFactor": {"fields": ["image", "label"], "factor": 0.5},
    "ScaleToShape": {"fields": ["image", "label"], "target_shape": [6, 6, 6]},
    "RestoreOriginalShape": {"field": "model", "src_field": "image", "is_label": True},
    "RandomSpatialFlip": {"fields": ["image", "label"]},
    "RandomAxisFlip": {"fields": ["image", "label"]},
    "RandomRotate3D": {"fields": ["image", "label"]},
    "RandomZoom": {"image_field": "image", "label_field": "label"},
    "FastCropByPosNegRatio": {"size": [4, 4, 4], "fields": "image", "batch_size": 2},
    "CropByPosNegRatio": {"size": [4, 4, 4], "fields": "image"},
    "FastPosNegRatioCropROI": {"size": [4, 4, 4], "rotation": True},
    "CropFixedSizeRandomCenter": {"fields": ["image", "label"], "size": [4, 4, 4]},
    "CropSubVolumeCenter": {"fields": ["image", "label"], "size": [4, 4, 4]},
    "CropRandomSizeWithDisplacement": {"fields": ["image", "label"], "lower_size": [0.5, 0.5, 0.5]},
    "PadCropWithFixedSize": {"fields": ["image", "label"], "size": [16, 4, 4]},
    "SymmetricPadderDiv": {"fields": ["image", "label"], "div_int": 16},
    "ArgmaxAcrossChannels": {"fields": "model"},
    "ThresholdValues": {"fields": "model"},
    "CopyProperties": {"fields": "model", "from_field": "image"},
    "SplitBasedOnLabel": {"field": "label", "label_names": ["bg", "fg"]},
    "SplitAcrossChannels": {"field": "model", "channel_names": ["p0", "p1"]},
    "ConvertToMultiChannelBasedOnBratsClasses": {"fields": "label"},
    "AddExtremePointsChannel": {"sigma": 1.0},
}
SKIPPED = {"LoadNifti", "LoadPng", "SaveAsNifti", "MergeBatchDims", "RandomRotate2D",
           "ProcessMulticlassPreds"}  # need files, batches, 2-D data or vectors: own tests


def test_the_table_covers_every_name():
    assert set(ARGS) | SKIPPED == set(NAMES)


def case() -> dict:
    rng = np.random.default_rng(0)
    image = rng.random((1, 12, 10, 8)).astype(np.float32)
    label = np.zeros((1, 12, 10, 8), np.float32)
    label[0, 3:8, 3:7, 2:6] = 1
    model = np.stack([1 - label[0], label[0]]) * 0.8 + 0.1
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    meta = {f: {"channel_axis": 0, "affine": affine.copy(), "original_affine": affine.copy(),
                "pixdim": [1.0, 1.0, 1.0], "original_pixdim": [1.0, 1.0, 1.0],
                "original_shape": (12, 10, 8), "filename": f"/d/case_{f}.nii.gz",
                "index_cache": {}} for f in ("image", "label")}
    meta["model"] = {"channel_axis": 0}
    return {"image": image, "label": label, "model": model.astype(np.float32), "meta": meta}


@pytest.mark.parametrize("name", sorted(ARGS))
def test_runs_and_keeps_arrays_finite(name):
    transform = registry.lookup("transforms", name)(**ARGS[name])
    out = transform(case(), np.random.default_rng(1))
    samples = out if isinstance(out, list) else [out]
    assert samples
    for sample in samples:
        for key, value in sample.items():
            if isinstance(value, np.ndarray):
                assert np.isfinite(value).all(), f"{name} made {key} non-finite"
        assert "meta" in sample


@pytest.mark.parametrize("name", sorted(ARGS))
def test_get_config_rebuilds_an_equal_transform(name):
    cls = registry.lookup("transforms", name)
    transform = cls(**ARGS[name])
    assert cls(**transform.get_config()).get_config() == transform.get_config()
    if not transform.is_random:  # deterministic ones give the same output twice
        a, b = transform(case(), np.random.default_rng(1)), transform(case(), np.random.default_rng(2))
        a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
        for x, y in zip(a, b):
            for key in x:
                if isinstance(x[key], np.ndarray):
                    np.testing.assert_array_equal(x[key], y[key])
