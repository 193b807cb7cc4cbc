"""Per-item cost of the training pipeline's random stage on a cached CT-sized volume.

The pipeline caches each item's deterministic transforms (load, resample, window) and runs
the random ones per step. When the first random transform is a cropper that only reads its
input (``reads_input_only``, e.g. ``FastCropByPosNegRatio``), the cropper reads the cached
volume directly; otherwise every item is first copied whole so that in-place transforms
cannot reach the cache. This script times both paths side by side on the same cached item:
a ``--shape`` image and label (float32), cropped to two ``--crop`` patches by
``FastCropByPosNegRatio`` and then flipped by ``RandomSpatialFlip``, as in the spleen scaffold.

    python benchmarks/cached_crop.py                       # 256 x 256 x 128, 2 x 48^3
    python benchmarks/cached_crop.py --shape 512 512 200   # a 1 mm abdominal CT
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmarctl.runtime.pipelines.segmentation import SegmentationImagePipeline  # noqa: E402
from mmarctl.runtime.registry import lookup  # noqa: E402
from mmarctl.runtime.transforms.base import Transform  # noqa: E402
from mmarctl.runtime.transforms.posneg import FastCropByPosNegRatio  # noqa: E402


class SyntheticVolume(Transform):
    """Stands in for the cached deterministic stage: a noise image and a box label."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def __call__(self, sample, rng):
        image = np.random.default_rng(0).normal(size=(*self.shape, 1)).astype(np.float32)
        label = np.zeros_like(image)
        box = tuple(slice(n * 2 // 5, n * 3 // 5) for n in self.shape)
        label[box] = 1
        sample["image"], sample["label"] = image, label
        sample["meta"] = {"image": {"channel_axis": -1},
                          "label": {"channel_axis": -1, "index_cache": {}}}
        return sample


def per_item_ms(shape: tuple[int, ...], crop: int, items: int, read_directly: bool) -> list[float]:
    """Milliseconds per ``process`` call (one item, 2 patches), after one warm-up call."""
    with tempfile.TemporaryDirectory() as folder:
        datalist = Path(folder) / "dataset.json"
        datalist.write_text(json.dumps({"training": [{"image": "a", "label": "b"}]}))
        cropper = FastCropByPosNegRatio(size=[crop] * len(shape), batch_size=2)
        cropper.reads_input_only = read_directly  # instance attribute: this run only
        flip = lookup("transforms", "RandomSpatialFlip")(fields=["image", "label"])
        pipeline = SegmentationImagePipeline(data_list_file_path=str(datalist),
                                             data_file_base_dir=folder,
                                             output_crop_size=[crop] * len(shape))
        pipeline.setup([SyntheticVolume(shape), cropper, flip], seed=0)
        pipeline.process(0, 0)  # fills the cache and the foreground index
        times = []
        for epoch in range(1, items + 1):
            start = time.perf_counter()
            pipeline.process(0, epoch)
            times.append((time.perf_counter() - start) * 1000)
        pipeline.close()
        return times


def main(argv: list[str] | None = None) -> int:
    """Print the per-item time of both paths and the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[256, 256, 128])
    parser.add_argument("--crop", type=int, default=48)
    parser.add_argument("--items", type=int, default=30)
    args = parser.parse_args(argv)
    shape = tuple(args.shape)
    volume_mb = 2 * np.prod(shape) * 4 / 1e6
    results = {}
    for name, direct in (("copy the cached item first (baseline)", False),
                         ("cropper reads the cache directly", True)):
        results[name] = statistics.median(per_item_ms(shape, args.crop, args.items, direct))
    print(f"cached item: image + label {'x'.join(map(str, shape))} float32 ({volume_mb:.0f} MB); "
          f"2 patches of {args.crop}^3, then RandomSpatialFlip; median of {args.items} items")
    for name, ms in results.items():
        print(f"  {name:<40} {ms:8.2f} ms per item")
    baseline, ours = results.values()
    print(f"  speed-up {baseline / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
