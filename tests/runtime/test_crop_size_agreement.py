"""A pipeline whose transforms give patches of another size than output_crop_size says
so at its pre-flight (the network and the exported model are built for output_crop_size)."""

from __future__ import annotations

import json
import logging

import numpy as np

from mmarctl.runtime.pipelines.segmentation import SegmentationImagePipeline
from mmarctl.runtime.transforms.base import Transform
from mmarctl.runtime.transforms.posneg import FastCropByPosNegRatio


class Load(Transform):
    """Loads the .npy files an item names (test stand-in for LoadNifti)."""

    clara_name = "Load"

    def __call__(self, sample, rng):
        base = sample["meta"]["base"] if "meta" in sample and "base" in sample["meta"] else ""
        for field in ("image", "label"):
            sample[field] = np.load(f"{base}{sample[field]}")[np.newaxis]
        return sample


def _pipeline(tmp_path, crop_size, size):
    for i in range(2):
        np.save(tmp_path / f"img{i}.npy", np.ones((8, 8, 8), np.float32))
        np.save(tmp_path / f"lbl{i}.npy", np.ones((8, 8, 8), np.float32))
    items = [{"image": str(tmp_path / f"img{i}.npy"), "label": str(tmp_path / f"lbl{i}.npy")}
             for i in range(2)]
    (tmp_path / "d.json").write_text(json.dumps({"training": items}))
    built = SegmentationImagePipeline(data_list_file_path=str(tmp_path / "d.json"),
                                      output_batch_size=1, output_crop_size=crop_size)
    return built.setup([Load(), FastCropByPosNegRatio(size=size, batch_size=1)], seed=0,
                       num_classes=2)


def test_patches_unlike_output_crop_size_are_named(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mmarctl.data"):
        _pipeline(tmp_path, [6, 6, 6], [4, 4, 4]).preflight()
    assert ("the transforms give patches of spatial shape (4, 4, 4) but output_crop_size is "
            "[6, 6, 6]") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmarctl.data"):
        _pipeline(tmp_path, [4, -1, 4], [4, 4, 4]).preflight()  # -1: the whole axis
    assert "output_crop_size" not in caplog.text
