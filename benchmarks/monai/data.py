"""The synthetic spleen data both tools read: MSD-layout NIfTI files and a Clara datalist.

mmarctl ships its own generator (``mmarctl data synth``, :mod:`mmarctl.synth`); when it is
importable the benchmarks use it, so they measure what a user would run. Otherwise
:func:`write_standin` writes a comparable set: CT-like volumes in Hounsfield units (air,
a body ellipse of soft tissue, a brighter liver-like blob) with a spleen-like ellipsoid
label, non-isotropic spacing (so both tools really resample) and a plausible affine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

#: Voxel spacing of the raw volumes (mm); the spleen scaffold resamples to 1.5 x 1.5 x 2.
RAW_SPACING = (1.0, 1.0, 2.5)


def make_dataset(root: Path, *, n_train: int, n_val: int, shape: tuple[int, int, int],
                 seed: int = 0) -> Path:
    """Write a data set under ``root``; returns the datalist (``dataset_0.json``) path.

    The datalist is Clara's format: ``{"training": [{"image": ..., "label": ...}, ...],
    "validation": [...]}`` with paths relative to ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    synth = _mmarctl_synth()
    if synth is not None:
        return synth(root, n_train=n_train, n_val=n_val, shape=shape, seed=seed)
    return write_standin(root, n_train=n_train, n_val=n_val, shape=shape, seed=seed)


def _mmarctl_synth():
    """mmarctl's own generator as ``f(root, n_train, n_val, shape, seed) -> datalist``, or None."""
    try:
        from mmarctl import synth  # noqa: F401  (lands separately; optional here)
    except ImportError:
        return None
    write = getattr(synth, "write_dataset", None) or getattr(synth, "synthesize", None)
    if write is None:
        return None

    def call(root: Path, *, n_train: int, n_val: int, shape, seed: int) -> Path:
        result = write(root, n_train=n_train, n_val=n_val, shape=tuple(shape), seed=seed)
        listed = Path(result) if result else root / "dataset_0.json"
        return listed if listed.suffix == ".json" else root / "dataset_0.json"

    return call


def write_standin(root: Path, *, n_train: int, n_val: int, shape: tuple[int, int, int],
                  seed: int = 0) -> Path:
    """Write ``n_train + n_val`` synthetic CT cases and ``dataset_0.json`` under ``root``."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, str]] = []
    affine = np.diag([-RAW_SPACING[0], -RAW_SPACING[1], RAW_SPACING[2], 1.0])
    affine[:3, 3] = [200.0, 180.0, -300.0]
    for index in range(n_train + n_val):
        image, label = synthetic_case(shape, rng)
        name = f"spleen_{index:03d}.nii.gz"
        for folder, array, dtype in (("imagesTr", image, np.int16), ("labelsTr", label, np.uint8)):
            img = nib.Nifti1Image(array.astype(dtype), affine)
            img.header.set_zooms(RAW_SPACING)
            nib.save(img, root / folder / name)
        entries.append({"image": f"imagesTr/{name}", "label": f"labelsTr/{name}"})
    datalist = {"training": entries[:n_train], "validation": entries[n_train:]}
    path = root / "dataset_0.json"
    path.write_text(json.dumps(datalist, indent=2), encoding="utf-8")
    return path


def synthetic_case(shape: tuple[int, int, int], rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """One CT-like volume (HU, int16 range) and its 0/1 spleen label, shape ``(x, y, z)``."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in shape], indexing="ij"))
    image = np.full(shape, -1000.0, dtype=np.float32)  # air
    body = _ellipsoid(grid, (0.0, 0.0, 0.0), (0.9, 0.75, 1.2))
    image[body] = 40.0  # soft tissue
    liver = _ellipsoid(grid, (-0.35, 0.05, 0.0), (0.35, 0.4, 0.6))
    image[liver & body] = 70.0
    centre = (0.4 + rng.uniform(-0.08, 0.08), 0.1 + rng.uniform(-0.1, 0.1), rng.uniform(-0.2, 0.2))
    radii = tuple(r * rng.uniform(0.85, 1.15) for r in (0.22, 0.28, 0.35))
    spleen = _ellipsoid(grid, centre, radii) & body
    image[spleen] = 115.0
    image += rng.normal(0.0, 18.0, size=shape).astype(np.float32)
    return np.clip(image, -1024, 3071), spleen.astype(np.uint8)


def _ellipsoid(grid: np.ndarray, centre: tuple[float, ...], radii: tuple[float, ...]
               ) -> np.ndarray:
    distance = sum(((grid[i] - c) / r) ** 2 for i, (c, r) in enumerate(zip(centre, radii)))
    return distance <= 1.0


def read_datalist(path: Path, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of a datalist with absolute paths (for MONAI's dictionaries)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    base = Path(path).parent
    return [{k: str(base / v) for k, v in item.items()} for item in data[key]]
