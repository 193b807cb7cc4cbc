"""The built-in scaffolds' transform chains run on the project's own synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from mmarctl.runtime.builder import ComponentBuilder
from mmarctl.synth import synthesize

SCAFFOLDS = Path(__file__).resolve().parents[2] / "scaffolds"


def chain(transforms, sample, seed=0):
    samples = [sample]
    rng = np.random.default_rng(seed)
    for transform in transforms:
        produced = []
        for item in samples:
            out = transform(item, rng)
            produced.extend(out if isinstance(out, list) else [out])
        samples = produced
    return samples


def first_item(data: Path, key: str) -> dict:
    datalist = json.loads(next(data.glob("*.json")).read_text())
    item = dict(datalist[key][0])
    return {k: str(data / v) if isinstance(v, str) else np.asarray(v, np.float32)
            for k, v in item.items()}


def corners(image) -> np.ndarray:
    """World coordinates of the two outer voxel corners: the field of view."""
    low = np.append(np.full(3, -0.5), 1)
    high = np.append(np.array(image.shape[:3]) - 0.5, 1)
    return np.stack([(image.affine @ low)[:3], (image.affine @ high)[:3]])


def test_spleen_scaffold_chains(tmp_path):
    synthesize(tmp_path / "data", task="segmentation", cases=2, size=32, show_progress=False)
    config = json.loads((SCAFFOLDS / "spleen/config/config_train.json").read_text())
    builder = ComponentBuilder("config_train.json")
    train = builder.build_list("transforms", config["train"]["pre_transforms"], "train.pre_transforms")
    patches = chain(train, first_item(tmp_path / "data", "training"))
    assert patches and all(p["image"].shape == p["label"].shape for p in patches)
    assert all(p["image"].dtype == np.float32 and p["image"].ndim == 4 for p in patches)

    validation = json.loads((SCAFFOLDS / "spleen/config/config_validation.json").read_text())
    builder = ComponentBuilder("config_validation.json")
    pre = builder.build_list("transforms", validation["pre_transforms"], "pre_transforms")
    post = builder.build_list("transforms", validation.get("post_transforms"), "post_transforms")
    writers = builder.build_list("writers", validation.get("writers"), "writers")
    item = first_item(tmp_path / "data", "validation")
    (sample,) = chain(pre, {"image": item["image"]})
    spatial = sample["image"].shape[1:]
    sample["model"] = np.stack([np.ones(spatial), np.zeros(spatial)]).astype(np.float32)
    sample["meta"]["model"] = {"channel_axis": 0}
    (sample,) = chain(post, sample)
    for writer in writers:
        path = writer.write(sample, tmp_path / "eval")
        written, source = nib.load(path), nib.load(item["image"])
        # Written on the resampled grid, covering the same field of view in world space.
        assert written.shape == sample["model"].shape[1:]
        np.testing.assert_allclose(corners(written), corners(source), atol=1e-4)


def test_classification_scaffold_chain(tmp_path):
    synthesize(tmp_path / "data", task="classification", cases=4, size=32, show_progress=False)
    config = json.loads((SCAFFOLDS / "classification/config/config_train.json").read_text())
    builder = ComponentBuilder("config_train.json")
    train = builder.build_list("transforms", config["train"]["pre_transforms"], "train.pre_transforms")
    (sample,) = chain(train, first_item(tmp_path / "data", "training"))
    assert sample["image"].shape == (1, 64, 64)
    assert 0.0 <= sample["image"].min() and sample["image"].max() <= 1.0
