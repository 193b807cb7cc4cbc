"""Image pipelines: datalist reading, caching policies, Smart Cache, batches, data checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.pipelines.classification import ClassificationImagePipeline
from mmarctl.runtime.pipelines.segmentation import SegmentationImagePipeline
from mmarctl.runtime.pipelines.smart_cache import SegmentationImagePipelineWithCache
from mmarctl.runtime.transforms.base import Transform


class Load(Transform):
    """Counts loads; the 'files' are .npy arrays."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __call__(self, sample, rng):
        self.calls += 1
        for field in ("image", "label"):
            if isinstance(sample.get(field), str):
                sample[field] = np.load(sample[field])[None].astype(np.float32)
                self.meta(sample, field).update(filename=sample["_source"], channel_axis=0)
        return sample


class Noise(Transform):
    is_random = True

    def __call__(self, sample, rng):
        sample["image"] = sample["image"] + rng.normal(size=sample["image"].shape).astype(np.float32)
        return sample


class TwoPatches(Transform):
    is_random = True

    def __call__(self, sample, rng):
        return [sample, dict(sample)]


class Broken(Transform):
    def __call__(self, sample, rng):
        raise ValueError("cannot parse header")


@pytest.fixture()
def datalist(tmp_path):
    items = []
    for i in range(6):
        np.save(tmp_path / f"img{i}.npy", np.full((4, 4, 4), i, np.float32))
        np.save(tmp_path / f"lbl{i}.npy", (np.arange(64).reshape(4, 4, 4) % 2).astype(np.float32))
        items.append({"image": f"img{i}.npy", "label": f"lbl{i}.npy"})
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"training": items, "validation": items[:2]}))
    return path


def seg(datalist, cls=SegmentationImagePipeline, **args):
    args.setdefault("output_crop_size", [4, 4, 4])
    return cls(data_list_file_path=str(datalist), data_file_base_dir=str(datalist.parent), **args)


def test_items_resolve_paths_against_base_dir(datalist):
    pipeline = seg(datalist).setup([Load()])
    items = pipeline.items()
    assert len(items) == 6
    assert items[0]["image"] == str(datalist.parent / "img0.npy")


def test_batches_are_channels_last_and_sized(datalist):
    pipeline = seg(datalist, output_batch_size=4).setup([Load()], seed=0, num_classes=2)
    shapes = pipeline.preflight()
    assert shapes == {"image": (4, 4, 4, 1), "label": (4, 4, 4, 1)}
    batches = list(pipeline.batches(0))
    assert [b["image"].shape for b in batches] == [(4, 4, 4, 4, 1), (2, 4, 4, 4, 1)]
    assert pipeline.steps_per_epoch() == 2
    pipeline.close()


def test_plain_pipeline_caches_deterministic_part(datalist):
    load = Load()
    pipeline = seg(datalist).setup([load, Noise()], seed=0)
    pipeline.preflight()
    for epoch in range(3):
        list(pipeline.samples(epoch))
    assert load.calls == 6  # loaded once per item, whatever the number of epochs
    pipeline.close()


def test_plain_pipeline_caches_nothing_over_budget(datalist, monkeypatch):
    monkeypatch.setenv("MMARCTL_CACHE_BYTES", "10")
    load = Load()
    pipeline = seg(datalist).setup([load], seed=0)
    pipeline.preflight()
    list(pipeline.samples(0))
    list(pipeline.samples(1))
    assert load.calls == 1 + 12
    pipeline.close()


def test_bad_cache_budget_is_config_error(datalist, monkeypatch):
    monkeypatch.setenv("MMARCTL_CACHE_BYTES", "lots")
    pipeline = seg(datalist).setup([Load()])
    with pytest.raises(ConfigError, match="MMARCTL_CACHE_BYTES"):
        pipeline.preflight()


def test_random_transforms_are_seeded_per_epoch_and_item(datalist):
    def run(seed, epoch):
        pipeline = seg(datalist).setup([Load(), Noise()], seed=seed)
        out = [s["image"] for s in pipeline.samples(epoch)]
        pipeline.close()
        return out

    a, b, c = run(1, 0), run(1, 0), run(1, 1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_random_draws_follow_the_position_in_the_full_list(datalist):
    """Rank r of 2 trains on items r, r+2, ...: seeds come from those global positions."""
    from mmarctl.runtime.distributed import shard_items

    def noise(rank=None):
        shard = None if rank is None else (lambda items: shard_items(items, rank, 2))
        pipeline = seg(datalist, shuffle=False).setup([Load(), Noise()], seed=5, shard=shard)
        # Subtract the item's constant image so only the random draw is left.
        out = [s["image"] - float(s["image"].mean().round()) for s in pipeline.samples(1)]
        positions = [pipeline.position(i) for i in range(len(pipeline.items()))]
        pipeline.close()
        return out, positions

    alone, _ = noise()
    rank0, positions0 = noise(0)
    rank1, positions1 = noise(1)
    assert positions0 == [0, 2, 4] and positions1 == [1, 3, 5]
    for local, position in enumerate(positions1):
        np.testing.assert_array_equal(rank1[local], alone[position])
    # The ranks' first items (positions 0 and 1) draw different noise.
    assert not np.allclose(rank0[0], rank1[0])


def test_seeded_single_process_pipeline_is_repeatable(datalist):
    def run():
        pipeline = seg(datalist).setup([Load(), Noise()], seed=2)
        out = [s["image"] for s in pipeline.samples(3)]
        pipeline.close()
        return out

    assert all(np.array_equal(a, b) for a, b in zip(run(), run()))


def test_cached_sample_not_mutated_by_random_transforms(datalist):
    pipeline = seg(datalist, shuffle=False).setup([Load(), Noise()], seed=0)
    list(pipeline.samples(0))
    np.testing.assert_array_equal(pipeline._cache[0][0]["image"], np.zeros((1, 4, 4, 4)))
    pipeline.close()


def test_patches_per_item_counted(datalist):
    pipeline = seg(datalist, output_batch_size=3).setup([Load(), TwoPatches()])
    pipeline.preflight()
    assert pipeline.patches_per_item == 2
    assert pipeline.steps_per_epoch() == 4
    assert sum(b["image"].shape[0] for b in pipeline.batches(0)) == 12
    pipeline.close()


def test_smart_cache_window_replaces_share_per_epoch(datalist):
    pipeline = seg(datalist, cls=SegmentationImagePipelineWithCache, num_cache_objects=4,
                   replace_percent=0.5).setup([Load()], seed=3)
    w0, w1, w2 = (pipeline.window(e) for e in range(3))
    assert len(w0) == 4 and len(set(w0) & set(w1)) == 2 and len(set(w1) & set(w2)) == 2
    seen = set()
    for epoch in range(3):
        ids = {s["meta"]["image"]["filename"] for s in pipeline.samples(epoch)}
        assert len(ids) == 4
        seen |= ids
        assert set(pipeline._cache) <= set(pipeline.window(epoch)) | set(pipeline.window(epoch + 1))
    assert len(seen) == 6  # every item passed through the cache
    assert pipeline.steps_per_epoch() == 4
    pipeline.close()


def test_smart_cache_zero_replace_keeps_window(datalist):
    pipeline = seg(datalist, cls=SegmentationImagePipelineWithCache, num_cache_objects=3,
                   replace_percent=0).setup([Load()])
    assert pipeline.window(0) == pipeline.window(5)


def test_smart_cache_loads_each_item_once_while_cached(datalist):
    load = Load()
    pipeline = seg(datalist, cls=SegmentationImagePipelineWithCache, num_cache_objects=6,
                   replace_percent=0).setup([load, Noise()])
    for epoch in range(3):
        list(pipeline.samples(epoch))
    assert load.calls == 6
    pipeline.close()


@pytest.mark.parametrize("args, match", [
    ({"replace_percent": 1.5}, "replace_percent"),
    ({"num_cache_objects": 0}, "num_cache_objects"),
    ({"caches_data": "maybe"}, "caches_data"),
])
def test_smart_cache_bad_args(datalist, args, match):
    with pytest.raises(ConfigError, match=match):
        seg(datalist, cls=SegmentationImagePipelineWithCache, **args)


@pytest.mark.parametrize("args, match", [
    ({"output_batch_size": 0}, "output_batch_size"),
    ({"num_workers": "two"}, "num_workers"),
    ({"data_list_key": 3}, "data_list_key"),
])
def test_pipeline_bad_args(datalist, args, match):
    with pytest.raises(ConfigError, match=match):
        seg(datalist, **args)


def test_unknown_arg_rejected(datalist):
    with pytest.raises(TypeError):
        seg(datalist, output_crop_sizes=[4, 4, 4])


def test_missing_datalist(tmp_path):
    pipeline = SegmentationImagePipeline(data_list_file_path=str(tmp_path / "none.json"))
    with pytest.raises(DataError, match="datalist not found"):
        pipeline.setup([Load()]).items()


def test_missing_datalist_key(datalist):
    pipeline = seg(datalist, data_list_key="testing").setup([Load()])
    with pytest.raises(DataError, match="no key 'testing'") as info:
        pipeline.items()
    assert "training" in info.value.hint


def test_label_values_beyond_num_classes(datalist, tmp_path):
    np.save(tmp_path / "lbl0.npy", np.full((4, 4, 4), 3, np.float32))
    pipeline = seg(datalist, shuffle=False).setup([Load()], num_classes=2)
    with pytest.raises(DataError, match=r"label values 3..3 are outside 0..1 \(num_classes=2\)"):
        pipeline.preflight()


def test_image_label_shape_mismatch(datalist, tmp_path):
    np.save(tmp_path / "lbl0.npy", np.zeros((4, 4, 3), np.float32))
    pipeline = seg(datalist, shuffle=False).setup([Load()])
    with pytest.raises(DataError, match=r"image shape \(4, 4, 4\) and label shape \(4, 4, 3\)"):
        pipeline.preflight()


def test_transform_failure_names_transform_and_case(datalist):
    pipeline = seg(datalist).setup([Broken()])
    with pytest.raises(DataError, match="Broken failed on .*img0.npy: cannot parse header"):
        pipeline.preflight()


@pytest.mark.parametrize("reader", ["batches", "dataset"])
def test_variable_shapes_in_one_batch_are_reported(datalist, tmp_path, reader):
    """Also through ``dataset`` (the training loop's): the pipeline's own DataError, unwrapped."""
    if reader == "dataset":
        pytest.importorskip("tensorflow")
    np.save(tmp_path / "img1.npy", np.zeros((4, 4, 2), np.float32))
    np.save(tmp_path / "lbl1.npy", np.zeros((4, 4, 2), np.float32))
    pipeline = seg(datalist, output_batch_size=6, output_crop_size=[-1, -1, -1],
                   shuffle=False).setup([Load()])
    with pytest.raises(DataError, match="differ in shape"):
        list(getattr(pipeline, reader)(0))
    pipeline.close()


def test_dataset_gives_tensor_batches(datalist):
    tf = pytest.importorskip("tensorflow")
    pipeline = seg(datalist, output_batch_size=2).setup([Load()])
    pipeline.preflight()
    batches = list(pipeline.dataset(0))
    assert len(batches) == 3 and tuple(batches[0]["image"].shape) == (2, 4, 4, 4, 1)
    assert all(isinstance(v, tf.Tensor) and v.dtype == tf.float32
               for batch in batches for v in batch.values())
    pipeline.close()


def test_classification_labels_are_vectors(tmp_path):
    for i in range(2):
        np.save(tmp_path / f"x{i}.npy", np.zeros((3, 5, 5), np.float32))
    (tmp_path / "d.json").write_text(json.dumps({"training": [
        {"image": "x0.npy", "label": [0, 1, 0]}, {"image": "x1.npy", "label": [1, 0, 0]}]}))

    class LoadImage(Transform):
        def __call__(self, sample, rng):
            sample["image"] = np.load(sample["image"])
            self.meta(sample, "image").update(filename="x", channel_axis=0)
            return sample

    pipeline = ClassificationImagePipeline(data_list_file_path=str(tmp_path / "d.json"),
                                           output_crop_size=[5, 5], output_image_channels=3,
                                           output_batch_size=2)
    pipeline.setup([LoadImage()])
    assert pipeline.preflight() == {"image": (5, 5, 3), "label": (3,)}
    batch = next(pipeline.batches(0))
    assert batch["label"].shape == (2, 3)
    pipeline.close()


def test_shape_check_follows_recorded_channel_axis(datalist):
    pipeline = seg(datalist, output_crop_size=[8, 8]).setup([Load()], num_classes=2)
    sample = {"image": np.zeros((8, 8, 3), np.float32), "label": np.zeros((8, 8, 1), np.float32),
              "meta": {"image": {"channel_axis": -1}, "label": {"channel_axis": -1}}}
    pipeline.check(sample)  # channels last: spatial (8, 8) on both
    sample["label"] = np.zeros((8, 7, 1), np.float32)
    with pytest.raises(DataError, match=r"image shape \(8, 8\) and label shape \(8, 7\)"):
        pipeline.check(sample)
    assert pipeline.batch_arrays({**sample, "label": np.zeros((8, 8, 1), np.float32)})[
        "image"].shape == (8, 8, 3)


class InPlaceScale(Transform):
    """A random transform that writes into its input arrays (allowed for any transform)."""

    is_random = True

    def __call__(self, sample, rng):
        for field in ("image", "label", "extra"):
            if isinstance(sample.get(field), np.ndarray):
                sample[field] *= 2
        return sample


class AddExtra(Transform):
    """A deterministic field that no cropper touches (passed through by reference)."""

    def __call__(self, sample, rng):
        sample["extra"] = np.ones(3, np.float32)
        return sample


def cropper():
    from mmarctl.runtime.transforms.posneg import FastCropByPosNegRatio

    return FastCropByPosNegRatio(size=[2, 2, 2], batch_size=2)


def test_cropper_first_reads_the_cache_without_copying_and_never_changes_it(datalist):
    pipeline = seg(datalist, shuffle=False, output_crop_size=[2, 2, 2])
    pipeline.setup([Load(), AddExtra(), cropper(), InPlaceScale()], seed=0)
    before = {k: v.copy() for k, v in pipeline._deterministic(3)[0].items()
              if isinstance(v, np.ndarray)}
    for epoch in range(3):
        patches = pipeline.process(3, epoch)
        assert [p["image"].shape for p in patches] == [(1, 2, 2, 2)] * 2
        np.testing.assert_array_equal(patches[0]["image"], np.full((1, 2, 2, 2), 6.0))
        np.testing.assert_array_equal(patches[0]["extra"], np.full(3, 2.0))
    cached = pipeline._deterministic(3)[0]
    for key, value in before.items():  # the in-place transform reached no cached array
        np.testing.assert_array_equal(cached[key], value)
    pipeline.close()


def test_reading_the_cache_directly_gives_the_same_patches_as_copying(datalist, monkeypatch):
    from mmarctl.runtime.transforms.posneg import FastCropByPosNegRatio

    def patches():
        pipeline = seg(datalist, shuffle=False, output_crop_size=[2, 2, 2])
        pipeline.setup([Load(), cropper(), Noise()], seed=5)
        out = [p["image"] for epoch in range(2) for p in pipeline.process(2, epoch)]
        pipeline.close()
        return out

    direct = patches()
    monkeypatch.setattr(FastCropByPosNegRatio, "reads_input_only", False)
    for ours, copied in zip(direct, patches(), strict=True):
        np.testing.assert_array_equal(ours, copied)


@pytest.mark.parametrize("name,args", [
    ("FastCropByPosNegRatio", {"size": [4, 4, 4], "batch_size": 2}),
    ("CropByPosNegRatio", {"size": [8, 8, 8]}),  # the whole volume: still a new array
    ("FastPosNegRatioCropROI", {"size": [4, 4, 4], "rotation": True, "deform": True}),
])
def test_read_only_transforms_neither_write_their_input_nor_return_views_of_it(name, args):
    from mmarctl.runtime.registry import lookup

    transform = lookup("transforms", name)(**args)
    assert transform.reads_input_only
    image = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype(np.float32)
    label = np.zeros((8, 8, 8, 1), np.float32)
    label[2:5, 2:5, 2:5] = 1
    sample = {"image": image, "label": label,
              "meta": {"image": {"channel_axis": -1}, "label": {"channel_axis": -1}}}
    originals = (image.copy(), label.copy())
    out = transform(sample, np.random.default_rng(1))
    for patch in out if isinstance(out, list) else [out]:
        for field, array in (("image", image), ("label", label)):
            assert not np.may_share_memory(patch[field], array), field
    np.testing.assert_array_equal(image, originals[0])
    np.testing.assert_array_equal(label, originals[1])
