"""Synthetic 2-D spine MRI: sagittal T2-like slices with a vertebral-body mask.

What 2-D segmentation MMARs such as trainingdata's ``vertebra2d`` (a 2-D ``Unet``,
``output_data_dims: 2``) load: one grey image and one mask per item, ``image`` and
``label`` in the datalist, as 2-D NIfTI, 8-bit PNG (``LoadPng``) or NumPy ``.npy`` (the
BYOC ``NumpyLoader`` of vertebra2d, which reads arrays of shape ``HW``).

The phantom is a midline sagittal slice, rows head to feet and columns front to back: a
column of five to seven vertebral bodies (rounded blocks of intermediate marrow signal in a
dark cortical rim) separated by bright intervertebral discs, following a gently curved
(lordotic) centre line; the bright CSF of the spinal canal behind them; spinous processes
further back; muscle and a bright subcutaneous fat layer, and air around the body. The
column's place, curve, the bodies' size and count and the signal levels vary per case.
The mask marks the vertebral bodies: ``label_value`` (1 by default; 255 for masks stored
as 8-bit images, as vertebra2d's loader divides labels by 255) on 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmarctl.synth_files import save_2d
from mmarctl.synth_kinds import Options

#: In-plane pixel spacing written into NIfTI files (PNG and .npy carry none).
SPACING_MM = (0.9, 0.9)


def spine_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One ``size x size`` slice and its vertebral-body mask.

    Returns:
        ``(image uint8 (rows, cols) 0..255, mask bool (rows, cols))``.
    """
    from scipy.ndimage import gaussian_filter

    from mmarctl.synth import smooth_field

    # v runs head (-1) to feet (+1) down the rows; u front (-1) to back (+1) across columns.
    v, u = np.meshgrid(np.linspace(-1.0, 1.0, size), np.linspace(-1.0, 1.0, size),
                       indexing="ij")
    image = np.full((size, size), 8.0)  # air
    body_edge = rng.uniform(0.8, 0.9)
    inside = np.abs(u + 0.05) <= body_edge
    image[inside] = rng.uniform(85, 100)  # abdominal soft tissue
    # Back muscles, then the subcutaneous fat under the skin of the back.
    image[inside & (u > 0.3)] = rng.uniform(60, 75)
    image[inside & (u > body_edge - 0.17)] = rng.uniform(165, 185)

    # The column's centre line: a gentle curve, its bodies' centres spaced evenly along v.
    offset, tilt, bend = rng.uniform(-0.12, 0.0), rng.uniform(-0.08, 0.08), rng.uniform(0.05, 0.2)
    centre = offset + tilt * v - bend * v ** 2
    across = u - centre  # distance from the column's front-back centre line
    count = int(rng.integers(5, 8))
    pitch = 2.3 / count
    first = -1.15 + pitch / 2 + rng.uniform(-0.3, 0.3) * pitch
    width = rng.uniform(0.24, 0.3)  # front to back
    height = pitch * rng.uniform(0.68, 0.76)
    marrow, cortex = rng.uniform(105, 125), rng.uniform(35, 50)

    mask = np.zeros((size, size), bool)
    discs = np.zeros((size, size), bool)
    for k in range(count + 1):
        level = first + k * pitch
        scale = rng.uniform(0.94, 1.06)  # bodies differ a little in size
        shape = ((np.abs(across) / (width / 2 * scale)) ** 4
                 + (np.abs(v - level) / (height / 2 * scale)) ** 4)
        mask |= shape <= 1.0
        disc_level = level + pitch / 2
        discs |= ((np.abs(across) / (width / 2 * 0.92)) ** 2
                  + (np.abs(v - disc_level) / ((pitch - height) / 2 + 0.01)) ** 2) <= 1.0
    discs &= ~mask
    # The canal behind the bodies, then the spinous processes at each body's level.
    canal = (across > width / 2 + 0.03) & (across < width / 2 + 0.12)
    image[canal] = rng.uniform(215, 235)
    for k in range(count + 1):
        level = first + k * pitch
        process = ((across - width / 2 - 0.24) / 0.1) ** 2 + ((v - level) / (height / 2.6)) ** 2
        image[process <= 1.0] = rng.uniform(70, 90)
    image[discs] = rng.uniform(170, 200)
    image[mask] = cortex
    core = np.zeros_like(mask)
    for k in range(count + 1):  # marrow within a rim about 4 % of a body's width
        level = first + k * pitch
        core |= ((np.abs(across) / (width / 2 * 0.86)) ** 4
                 + (np.abs(v - level) / (height / 2 * 0.82)) ** 4) <= 1.0
    image[core & mask] = marrow
    image *= 1.0 + 0.06 * smooth_field(rng, (size, size), size / 6)  # coil sensitivity
    image = gaussian_filter(image, sigma=0.6) + rng.normal(0.0, 4.0, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def write_case(rng: np.random.Generator, index: int, root: Path,
               options: Options) -> dict[str, Any]:
    """Draw slice ``index`` and write it and its mask under ``imagesTr/`` and ``labelsTr/``."""
    image, mask = spine_case(rng, options.size)
    item = {"image": f"imagesTr/spine_{index:03d}{options.suffix}",
            "label": f"labelsTr/spine_{index:03d}{options.suffix}"}
    save_2d(image, root / item["image"], options.file_format, SPACING_MM)
    save_2d(mask.astype(np.uint8) * np.uint8(options.label_value), root / item["label"],
            options.file_format, SPACING_MM)
    return item


def datalist_head(options: Options) -> dict[str, Any]:
    """The datalist metadata; ``labels`` names the value the masks store."""
    return {"name": "SyntheticSpine2D",
            "description": "2D sagittal T2-like spine MRI slices with vertebral-body masks",
            "tensorImageSize": "2D", "modality": {"0": "MR"},
            "labels": {"0": "background", str(options.label_value): "vertebral body"}}
