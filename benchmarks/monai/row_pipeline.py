"""Row 3: the spleen training input pipeline alone, mmarctl against MONAI (patches/s).

mmarctl: the spleen scaffold's ``train`` section as ``mmarctl train`` builds it (the same
ComponentBuilder calls as :mod:`mmarctl.runtime.plan`): LoadNifti, ConvertToChannelsFirst,
ScaleByResolution (image, label) to 1.5 x 1.5 x 2 mm, ScaleIntensityRange -57..164 -> 0..1
(cached), then per step FastCropByPosNegRatio (pos 1, neg 1, 2 patches per item),
RandomSpatialFlip, ScaleIntensityOscillation 0.1, through SegmentationImagePipelineWithCache
(2 worker threads, batches of 2) and its ``tf.data`` dataset, which the training step reads.

MONAI: the same chain as its spleen tutorial writes it: LoadImaged, EnsureChannelFirstd,
Spacingd (bilinear / nearest), ScaleIntensityRanged in a CacheDataset (cache_rate 1), then
RandCropByPosNegLabeld (pos 1, neg 1, num_samples 2), RandFlipd on each axis (p 0.5),
RandScaleIntensityd (factors 0.1, p 1), DataLoader with 2 worker processes and
``list_data_collate`` (a batch holds the 2 patches of one item, as mmarctl's batch of 2).
Crop size, spacing, window and ratios are read from the scaffold
(:func:`.data.scaffold_settings`), so both sides follow its tuning.

Both: every training item cached (the scaffold's Smart Cache holds 8 objects), one untimed
epoch first (cache fill, worker start-up, tf.data tracing), then ``epochs`` timed epochs.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.monai.data import datalist_path, read_datalist, scaffold_settings
from benchmarks.monai.harness import COST, RATE, Figure, isolated_pair

ROW = "3 input pipeline"


def build_mmarctl_pipeline(workspace: Path, seed: int = 0):
    """The scaffold's training pipeline with its transforms, set up and preflighted."""
    from mmarctl.runtime.builder import ComponentBuilder
    from mmarctl.workspace import Workspace

    ws = Workspace.locate(workspace)
    resolved = ws.resolve("config_train.json", {})
    train = resolved.data["train"]
    builder = ComponentBuilder(resolved.file, ws.root)
    transforms = builder.build_list("transforms", train["pre_transforms"], "train.pre_transforms")
    pipeline = builder.build("pipelines", train["image_pipeline"], "train.image_pipeline")
    pipeline.setup(transforms, seed=seed, num_classes=2, spatial_dims=3)
    shapes = pipeline.preflight()
    return pipeline, shapes


def speed_mmarctl(args: dict) -> dict:
    """(In a worker) seconds for ``epochs`` epochs of training batches, after one warm-up."""
    import tensorflow  # noqa: F401  (framework import time is not the pipeline's)

    start = time.perf_counter()
    pipeline, _ = build_mmarctl_pipeline(Path(args["workspace"]))
    try:
        for batch in pipeline.dataset(0):  # warm-up: fills the cache
            pass
        warmup = time.perf_counter() - start
        patches = 0
        start = time.perf_counter()
        for epoch in range(1, args["epochs"] + 1):
            for batch in pipeline.dataset(epoch):
                patches += int(batch["image"].shape[0])
        seconds = time.perf_counter() - start
    finally:
        pipeline.close()
    return {"seconds": seconds, "patches": patches, "warmup": warmup,
            "shape": list(batch["image"].shape)}


def monai_deterministic(settings: dict) -> list:
    """Load, channel first, resample, intensity window: the part both tools cache."""
    from monai import transforms as T

    keys = ["image", "label"]
    a_min, a_max, b_min, b_max = settings["window"]
    return [T.LoadImaged(keys=keys, image_only=True),
            T.EnsureChannelFirstd(keys=keys),
            T.Spacingd(keys=keys, pixdim=settings["pixdim"], mode=("bilinear", "nearest")),
            T.ScaleIntensityRanged(keys="image", a_min=a_min, a_max=a_max, b_min=b_min,
                                   b_max=b_max, clip=True)]


def monai_loader(workspace: Path, num_workers: int = 2, seed: int = 0):
    """MONAI's CacheDataset + DataLoader doing what the scaffold's pipeline does.

    A batch holds the patches of ``output_batch_size / patches_per_item`` items, so its
    size equals the scaffold's ``output_batch_size``.
    """
    from monai import transforms as T
    from monai.data import CacheDataset, DataLoader, list_data_collate
    from monai.utils import set_determinism

    settings = scaffold_settings()
    set_determinism(seed=seed)
    keys = ["image", "label"]
    chain = T.Compose(monai_deterministic(settings) + [
        # Resampled volumes can be thinner than a crop; mmarctl's cropper pads, MONAI's
        # raises, so pad first (deterministic: cached with the rest).
        T.SpatialPadd(keys=keys, spatial_size=settings["patch"]),
        T.RandCropByPosNegLabeld(keys=keys, label_key="label", spatial_size=settings["patch"],
                                 pos=settings["pos"], neg=settings["neg"],
                                 num_samples=settings["patches_per_item"], image_key="image",
                                 image_threshold=0),
        T.RandFlipd(keys=keys, prob=0.5, spatial_axis=0),
        T.RandFlipd(keys=keys, prob=0.5, spatial_axis=1),
        T.RandFlipd(keys=keys, prob=0.5, spatial_axis=2),
        T.RandScaleIntensityd(keys="image", factors=settings["magnitude"], prob=1.0),
    ])
    items_per_batch = max(1, settings["batch_size"] // settings["patches_per_item"])
    items = read_datalist(datalist_path(workspace), "training")
    dataset = CacheDataset(items, chain, cache_rate=1.0, num_workers=num_workers,
                           progress=False)
    return DataLoader(dataset, batch_size=items_per_batch, shuffle=True, num_workers=num_workers,
                      collate_fn=list_data_collate, persistent_workers=num_workers > 0)


def speed_monai(args: dict) -> dict:
    """(In a worker) seconds for ``epochs`` epochs of the DataLoader, after one warm-up."""
    import monai.data  # noqa: F401  (framework import time is not the pipeline's)
    import monai.transforms  # noqa: F401

    start = time.perf_counter()
    loader = monai_loader(Path(args["workspace"]))
    for batch in loader:
        pass
    warmup = time.perf_counter() - start
    patches = 0
    start = time.perf_counter()
    for _ in range(args["epochs"]):
        for batch in loader:
            patches += int(batch["image"].shape[0])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "patches": patches, "warmup": warmup,
            "shape": list(batch["image"].shape)}


def run(config: dict) -> list[Figure]:
    """Patches per second over the timed epochs, and the warm-up (cache fill) time."""
    epochs = int(config.get("pipeline_epochs", 6))
    best = isolated_pair("row_pipeline", {"workspace": str(config["workspace"]),
                                          "epochs": epochs},
                         rounds=int(config.get("rounds", 1)))
    ours, theirs = best["mmarctl"], best["monai"]
    note = (f"{ours['patches'] // epochs} patches/epoch, {epochs} epochs, 2 workers; "
            f"batch {ours['shape']} vs {theirs['shape']}")
    return [Figure(ROW, "patches/s (cached, augmenting)", "patches/s", RATE,
                   ours["patches"] / ours["seconds"], theirs["patches"] / theirs["seconds"],
                   note=note),
            Figure(ROW, "start-up: cache fill + first epoch", "s", COST, ours["warmup"],
                   theirs["warmup"], note="framework imports excluded")]
