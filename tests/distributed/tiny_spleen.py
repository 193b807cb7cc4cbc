"""The spleen scaffold shrunk to seconds per epoch: a clone, synthetic data and small crops.

Used by the distributed, lock and launcher tests and benchmarks/scaling.py; shrink_spleen by
the tests about something other than training (AutoML studies, Clara's scripts, bad data,
precision). Only sizes change (crop, window, cache, epochs); the transforms, network, loss
and pipelines stay the scaffold's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def shrink_config(config: dict[str, Any], *, crop: int, patches: int, batch: int,
                  epochs: int, deterministic: bool) -> dict[str, Any]:
    """Smaller crops/window/batches; ``deterministic`` drops the random augmentations."""
    config["epochs"] = epochs
    config["num_training_epoch_per_valid"] = 1
    train = config["train"]
    kept = []
    for transform in train["pre_transforms"]:
        name = transform["name"].split("#")[0]
        if deterministic and name in ("RandomSpatialFlip", "ScaleIntensityOscillation"):
            continue
        if name == "FastCropByPosNegRatio":
            transform["args"].update(size=[crop] * 3, batch_size=patches)
        kept.append(transform)
    train["pre_transforms"] = kept
    pipeline = train["image_pipeline"]["args"]
    pipeline.update(output_crop_size=[crop] * 3, output_batch_size=batch, num_workers=1)
    if "num_cache_objects" in pipeline:
        pipeline.update(num_cache_objects=8, replace_percent=0.0)
    config["validate"]["inferer"]["args"]["roi_size"] = [crop] * 3
    return config


def shrink_spleen(root: Path, crop: int = 16) -> Path:
    """Shrink the crops, window and batches of the spleen clone at ``root`` in place (its
    epochs and every transform kept): for tests about anything but the training itself."""
    file = root / "config" / "config_train.json"
    config = json.loads(file.read_text())
    config = shrink_config(config, crop=crop, patches=2, batch=2, epochs=config["epochs"],
                           deterministic=False)
    file.write_text(json.dumps(config, indent=2))
    return root


def make_spleen(root: Path, *, cases: int = 5, size: int = 24, crop: int = 16,
                patches: int = 2, batch: int = 2, epochs: int = 2,
                deterministic: bool = False) -> Path:
    """Clone the spleen scaffold to ``root`` with ``cases`` synthetic volumes; return root."""
    from typer.testing import CliRunner

    from mmarctl.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["clone", "spleen", str(root)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["data", "synth", str(root / "data"), "--cases", str(cases),
                                 "--size", str(size), "--seed", "0"])
    assert result.exit_code == 0, result.output
    file = root / "config" / "config_train.json"
    config = shrink_config(json.loads(file.read_text()), crop=crop, patches=patches,
                           batch=batch, epochs=epochs, deterministic=deterministic)
    file.write_text(json.dumps(config, indent=2))
    return root
