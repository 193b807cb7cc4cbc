"""Cached labels are held as uint8 and come out of the pipelines exactly as float32."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmarctl.runtime.pipelines import compact_labels
from mmarctl.runtime.pipelines.base import sample_bytes
from mmarctl.runtime.pipelines.segmentation import SegmentationImagePipeline
from mmarctl.runtime.pipelines.smart_cache import SegmentationImagePipelineWithCache
from mmarctl.runtime.transforms.base import Transform
from mmarctl.runtime.transforms.posneg import FastCropByPosNegRatio


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=4, max_side=5),
                  elements=st.one_of(st.integers(-2, 300).map(float),
                                     st.floats(-1, 1, width=32), st.just(float("nan")))))
def test_compact_then_expand_gives_the_label_back(label):
    sample = {"label": label, "meta": {}}
    (stored,) = compact_labels.compact([sample])
    whole = np.isfinite(label).all() and (label == np.round(label)).all() and (
        label.size == 0 or (label.min() >= 0 and label.max() <= 255))
    assert stored["label"].dtype == (np.uint8 if whole and label.size else np.float32)
    back = compact_labels.expand(stored)["label"]
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, label)


def test_only_label_fields_are_compacted():
    classes = np.array([0, 1, 2, 1], np.float32)
    sample = {"image": classes.copy(), "label": classes.copy(), "seg": classes.copy(),
              "liver_label": classes.copy(), "meta": {"seg": {"is_label": True}}}
    (stored,) = compact_labels.compact([sample])
    assert {k: v.dtype.name for k, v in stored.items() if k != "meta"} == {
        "image": "float32", "label": "uint8", "seg": "uint8", "liver_label": "uint8"}
    assert sample["label"].dtype == np.float32  # the input sample is not changed
    assert stored["meta"] is sample["meta"]  # meta (the cropper's index cache) stays shared


class Load(Transform):
    """'Files' are .npy volumes; labels as float32 class indices, as the loaders give them."""

    def __call__(self, sample, rng):
        for field in ("image", "label"):
            sample[field] = np.load(sample[field])[None].astype(np.float32)
            self.meta(sample, field).update(filename=sample["_source"], channel_axis=0)
        return sample


@pytest.fixture()
def datalist(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for i in range(6):
        np.save(tmp_path / f"img{i}.npy", rng.normal(size=(8, 8, 8)).astype(np.float32))
        np.save(tmp_path / f"lbl{i}.npy", rng.integers(0, 3, (8, 8, 8)).astype(np.float32))
        items.append({"image": f"img{i}.npy", "label": f"lbl{i}.npy"})
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"training": items}))
    return path


def pipeline(cls, datalist, transforms, **args):
    built = cls(data_list_file_path=str(datalist), data_file_base_dir=str(datalist.parent),
                output_batch_size=2, output_crop_size=[4, 4, 4], **args)
    return built.setup(transforms, seed=0, num_classes=3)


def batches(built, epochs=3):
    built.preflight()
    out = [batch for epoch in range(epochs) for batch in built.batches(epoch)]
    built.close()
    return out


def uncached(cls, args, monkeypatch):
    """The same pipeline keeping nothing: Smart Cache's ``caches_data: false``, or a zero
    budget for the plain pipeline."""
    if cls is SegmentationImagePipelineWithCache:
        return {**args, "caches_data": False}
    monkeypatch.setenv("MMARCTL_CACHE_BYTES", "0")
    return args


@pytest.mark.parametrize("cls,args", [
    (SegmentationImagePipelineWithCache, {"num_cache_objects": 4, "replace_percent": 0.5}),
    (SegmentationImagePipeline, {}),
])
@pytest.mark.parametrize("crop", [True, False])
def test_cached_labels_are_uint8_and_batches_equal_the_uncached_ones(datalist, cls, args, crop,
                                                                       monkeypatch):
    def chain():
        return [Load()] + ([FastCropByPosNegRatio(size=[4, 4, 4], batch_size=2)] if crop else [])

    cached = pipeline(cls, datalist, chain(), **args)
    got = batches(cached)
    (first,) = cached._deterministic(cached.window(2)[0] if hasattr(cached, "window") else 0)
    assert first["label"].dtype == np.uint8 and first["image"].dtype == np.float32
    assert sample_bytes([first]) == first["image"].nbytes + first["label"].size

    expected = batches(pipeline(cls, datalist, chain(), **uncached(cls, args, monkeypatch)))
    assert len(got) == len(expected) > 0
    for ours, theirs in zip(got, expected):
        assert ours["label"].dtype == np.float32
        np.testing.assert_array_equal(ours["label"], theirs["label"])
        np.testing.assert_array_equal(ours["image"], theirs["image"])
