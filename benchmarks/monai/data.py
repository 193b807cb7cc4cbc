"""The data both tools read: ``mmarctl data synth``'s spleen set, in a spleen workspace.

The benchmarks use mmarctl's own generator (:func:`mmarctl.synth.synthesize`): MSD-layout
CT-like volumes in Hounsfield units with spleen labels, anisotropic spacing that both tools
resample to the scaffold's 1.5 x 1.5 x 2 mm, and Clara's ``dataset_0.json``. MONAI reads the
very same files through :func:`read_datalist`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def make_workspace(root: Path, *, cases: int, size: int, seed: int = 0) -> Path:
    """``mmarctl clone spleen ROOT`` + ``mmarctl data synth ROOT/data``; returns ROOT.

    A quarter of the cases (at least one) form the validation list, as ``data synth`` does.
    """
    from mmarctl import clone
    from mmarctl.synth import synthesize

    clone.clone("spleen", str(root))
    synthesize(root / "data", task="segmentation", cases=cases, size=size, seed=seed,
               show_progress=False)
    return root


def datalist_path(workspace: Path) -> Path:
    """The datalist the spleen scaffold's environment.json points at."""
    return workspace / "data" / "dataset_0.json"


def read_datalist(path: Path, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of a Clara datalist with absolute paths (MONAI's dictionaries)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    base = Path(path).parent
    return [{k: str(base / v) for k, v in item.items()} for item in data[key]]


def scaffold_settings() -> dict[str, Any]:
    """What MONAI must copy from the spleen scaffold's config_train.json to run the same job.

    Read at run time, so that the MONAI side follows the scaffold when it is tuned: crop
    size, patches per item and their positive/negative ratio, batch size, ROI of the
    validation inferer, learning rate, target spacing, intensity window, oscillation
    magnitude and the Unet's args.
    """
    from mmarctl import scaffolds

    path = scaffolds.get("spleen").path / "config" / "config_train.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    train = config["train"]

    def transform(name: str) -> dict[str, Any]:
        for entry in train["pre_transforms"]:
            if entry.get("name", "").split("#")[0] == name:
                return entry.get("args", {})
        raise ValueError(f"the spleen scaffold has no {name} pre-transform ({path})")

    crop = transform("FastCropByPosNegRatio")
    window = transform("ScaleIntensityRange")
    inferer = config["validate"]["inferer"]["args"]
    return {
        "patch": tuple(crop["size"]),
        "pos": crop.get("pos", 1), "neg": crop.get("neg", 1),
        "patches_per_item": crop.get("batch_size", 1),
        "batch_size": train["image_pipeline"]["args"].get("output_batch_size", 1),
        "roi": tuple(inferer["roi_size"]),
        "overlap": inferer.get("overlap", 0.25),
        "learning_rate": float(config.get("learning_rate", 1e-4)),
        "pixdim": tuple(transform("ScaleByResolution")["target_resolution"]),
        "window": (window["a_min"], window["a_max"], window["b_min"], window["b_max"]),
        "magnitude": transform("ScaleIntensityOscillation").get("magnitude", 0.1),
        "model_args": dict(train["model"].get("args", {})),
        "skip_background": bool(train.get("loss", {}).get("args", {}).get("skip_background",
                                                                          False)),
    }
