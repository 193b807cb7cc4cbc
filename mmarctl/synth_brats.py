"""Synthetic BraTS-like brain MRI: four co-registered modalities and BraTS tumour labels.

What Clara's BraTS MMARs (``SegResnet`` with ``output_image_channels: 4`` and
``ConvertToMultiChannelBasedOnBratsClasses``) load: per case one skull-stripped volume per
modality, listed in the datalist's ``image`` as ``[t1ce, t1, t2, flair]``, and a ``seg``
volume whose values are BraTS's own: 0 background, 1 necrotic and non-enhancing tumour
core, 2 peritumoral edema, 4 GD-enhancing tumour (no 3). The converter turns those into the
nested regions the metrics score: tumour core TC = {1, 4}, whole tumour WT = {1, 2, 4},
enhancing tumour ET = {4}.

The phantom: an ellipsoidal brain (outline bent by a smooth field) with a CSF rim, a grey
matter ribbon whose inner edge folds, white matter and two lateral ventricles; a tumour in
one hemisphere drawn as three nested irregular blobs (edema around an enhancing rim around
a necrotic centre) whose place, size and shape vary per case. Each tissue has its own
signal per modality, so the four channels differ in contrast as real ones do: fluid is
bright on T2 and dark on T1 and FLAIR, edema brightest on FLAIR, the rim brightest on T1ce.
Each modality then gets its own gain and smooth bias field, partial-volume blur and noise;
outside the brain every voxel is exactly 0, as in skull-stripped BraTS volumes (so
``NormalizeNonzeroIntensities`` sees the brain only). Volumes are int16 on an isotropic grid
spanning BraTS's 240 mm field of view (1 mm voxels at 240 per axis), with a RAS affine.

``layout="4d"`` writes the four modalities as one 4-D NIfTI per case instead (channels on
the fourth axis, the Medical Segmentation Decathlon's Task01 layout), with the same
0/1/2/4 labels: Task01 renumbers them 1 edema, 2 non-enhancing, 3 enhancing, which
``ConvertToMultiChannelBasedOnBratsClasses`` would misread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmarctl.synth_files import save_nifti
from mmarctl.synth_kinds import Options

#: The modalities in the order Clara's BraTS datalists list them (and the 4-D file stacks them).
MODALITIES = ("t1ce", "t1", "t2", "flair")
#: Tissue index -> name; SIGNAL's columns follow it.
TISSUES = ("csf", "grey", "white", "edema", "necrosis", "enhancing")
#: Mean signal of each tissue per modality (rows as MODALITIES), in arbitrary scanner units.
SIGNAL = np.array([
    # csf  grey white edema necro enhancing
    [160, 430, 560, 390, 190, 920],   # t1ce: gadolinium lights the rim up
    [150, 420, 560, 370, 200, 430],   # t1
    [950, 520, 370, 780, 880, 600],   # t2: fluid bright
    [110, 470, 380, 830, 430, 640],   # flair: fluid suppressed, edema bright
], dtype=np.float32)
#: BraTS label values.
NECROSIS, EDEMA, ENHANCING = 1, 2, 4
LABELS = {"0": "background", "1": "necrotic and non-enhancing tumour core",
          "2": "peritumoral edema", "4": "GD-enhancing tumour"}
FIELD_OF_VIEW_MM = 240.0
#: The coarse grid smooth fields are drawn on has at most this many cells per axis.
FIELD_CELLS = 48


def _field(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """A zero-mean, unit-SD smooth field on ``shape`` whose features span about ``scale``
    of the volume, drawn on a coarse grid and interpolated (a 240^3 volume costs no more
    than a 48^3 one)."""
    from mmarctl.synth import smooth_field, upsample

    step = max(1.0, max(shape) / FIELD_CELLS)
    coarse = tuple(max(4, round(n / step)) for n in shape)
    values = smooth_field(rng, coarse, sigma=max(0.8, scale * max(coarse)))
    return upsample(values.astype(np.float32), shape)


def brain_case(rng: np.random.Generator, shape: tuple[int, int, int],
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One case: its four modalities, its BraTS label and its affine.

    Returns:
        ``(images int16 (4, x, y, z) in MODALITIES order, label uint8 (x, y, z) with values
        0/1/2/4, affine 4x4)``.
    """
    from scipy.ndimage import gaussian_filter

    shape = tuple(int(n) for n in shape)
    # Normalised coordinates, -1..1 on each axis; x left-right, y posterior-anterior,
    # z inferior-superior. Sparse grids broadcast to the volume where they combine.
    x, y, z = np.meshgrid(*[np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape],
                          indexing="ij", sparse=True)

    # Brain: an ellipsoid, longer front to back, its outline bent by a smooth field.
    radii = np.array([0.72, 0.86, 0.78]) * rng.uniform(0.9, 1.0)
    centre = np.array([0.0, rng.uniform(-0.04, 0.04), rng.uniform(-0.1, 0.0)])
    depth = np.sqrt(((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2
                    + ((z - centre[2]) / radii[2]) ** 2) + 0.04 * _field(rng, shape, 0.12)
    brain = depth <= 1.0
    tissue = np.full(shape, -1, np.int8)
    tissue[brain] = TISSUES.index("white")
    # The grey ribbon's inner edge folds (gyri); sulcal CSF lines the surface.
    grey = brain & (depth > 0.8 + 0.05 * _field(rng, shape, 0.03))
    tissue[grey] = TISSUES.index("grey")
    tissue[brain & (depth > 0.96)] = TISSUES.index("csf")
    for side in (-1.0, 1.0):
        ventricle = (((x - centre[0] - side * 0.1 * radii[0]) / (0.09 * radii[0])) ** 2
                     + ((y - centre[1] - 0.02) / (0.32 * radii[1])) ** 2
                     + ((z - centre[2] - 0.12) / (0.16 * radii[2])) ** 2) <= 1.0
        tissue[ventricle & brain] = TISSUES.index("csf")

    # Tumour: three nested blobs in one hemisphere, each outline bent by its own field.
    side = rng.choice([-1.0, 1.0])
    spot = centre + radii * np.array([side * rng.uniform(0.25, 0.45), rng.uniform(-0.45, 0.45),
                                      rng.uniform(-0.3, 0.35)])
    stretch = rng.uniform(0.8, 1.2, size=3)
    distance = np.sqrt(((x - spot[0]) / stretch[0]) ** 2 + ((y - spot[1]) / stretch[1]) ** 2
                       + ((z - spot[2]) / stretch[2]) ** 2)
    whole_r = rng.uniform(0.2, 0.3)
    core_r = whole_r * rng.uniform(0.45, 0.6)
    necrosis_r = core_r * rng.uniform(0.35, 0.6)
    whole = brain & (depth < 0.95) & (distance + 0.25 * whole_r * _field(rng, shape, 0.06)
                                      <= whole_r)
    core = whole & (distance + 0.12 * core_r * _field(rng, shape, 0.05) <= core_r)
    necrotic = core & (distance + 0.15 * necrosis_r * _field(rng, shape, 0.04) <= necrosis_r)
    label = np.zeros(shape, np.uint8)
    label[whole] = EDEMA
    label[core] = ENHANCING
    label[necrotic] = NECROSIS
    tissue[whole] = TISSUES.index("edema")
    tissue[core] = TISSUES.index("enhancing")
    tissue[necrotic] = TISSUES.index("necrosis")

    texture = 1.0 + 0.04 * _field(rng, shape, 0.02)
    inside = tissue >= 0
    images = np.zeros((len(MODALITIES), *shape), np.int16)
    for channel in range(len(MODALITIES)):
        signal = np.zeros(shape, np.float32)
        signal[inside] = SIGNAL[channel][tissue[inside]]
        gain = rng.uniform(0.85, 1.15)
        bias = 1.0 + 0.08 * _field(rng, shape, 0.3)  # each coil sensitivity its own
        signal = gaussian_filter(signal * texture * bias * gain, sigma=0.7)
        signal += rng.normal(0.0, 0.025 * SIGNAL[channel, TISSUES.index("white")],
                             shape).astype(np.float32)
        signal[~brain] = 0.0  # skull-stripped: exactly zero outside the brain
        images[channel] = np.clip(np.rint(signal), 0, 32767).astype(np.int16)

    spacing = FIELD_OF_VIEW_MM / shape[0]
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -(np.array(shape) - 1) / 2.0 * spacing
    return images, label, affine


def write_case(rng: np.random.Generator, index: int, root: Path,
               options: Options) -> dict[str, Any]:
    """Draw case ``index`` and write it under ``root`` in ``options.layout``.

    ``files``: ``BraTS_synth_NNN/BraTS_synth_NNN_{t1ce,t1,t2,flair,seg}.nii.gz``, the item's
    image the list of the four modalities; ``4d``: ``imagesTr/`` and ``labelsTr/``.
    """
    shape = options.shape or (options.size,) * 3
    images, label, affine = brain_case(rng, shape)
    case, suffix = f"BraTS_synth_{index:03d}", options.suffix
    if options.layout == "4d":
        item: dict[str, Any] = {"image": f"imagesTr/{case}{suffix}",
                                "label": f"labelsTr/{case}{suffix}"}
        save_nifti(np.moveaxis(images, 0, -1), affine, root / item["image"])
    else:
        item = {"image": [f"{case}/{case}_{name}{suffix}" for name in MODALITIES],
                "label": f"{case}/{case}_seg{suffix}"}
        for path, volume in zip(item["image"], images):
            save_nifti(volume, affine, root / path)
    save_nifti(label, affine, root / item["label"])
    return item


def datalist_head(options: Options) -> dict[str, Any]:
    """The datalist metadata: the modalities in channel order and BraTS's label values."""
    return {"name": "SyntheticBraTS",
            "description": "Skull-stripped brain MRI (T1ce, T1, T2, FLAIR) with a glioma-like "
                           "tumour: BraTS labels 1 necrotic core, 2 edema, 4 enhancing",
            "tensorImageSize": "4D" if options.layout == "4d" else "3D",
            "modality": {str(i): name.upper() if name != "t1ce" else "T1ce"
                         for i, name in enumerate(MODALITIES)},
            "labels": dict(LABELS)}
