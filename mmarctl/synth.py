"""Synthetic data sets in the layout Clara MMARs read, for demos and tests.

No medical data can be downloaded everywhere mmarctl runs, so it makes its own. This
module draws the two kinds the built-in scaffolds read and writes every kind's set
(:func:`synthesize`); the other kinds are drawn in their own modules
(:mod:`mmarctl.synth_kinds` lists them all):

* ``spleen`` (the ``segmentation`` default): a Medical Segmentation Decathlon style set
  (``imagesTr/``, ``labelsTr/`` as ``.nii.gz``, or ``.nii`` with ``compress=False``,
  ``dataset_0.json`` with ``training`` and ``validation`` lists and MSD metadata) of small
  CT-like abdominal volumes in Hounsfield units: air (-1000 HU), a fat rim (-100), soft
  tissue (~40), a liver (~60), a spine (bone ~700) and a spleen-like blob (+60..+100 HU, so
  the -57..164 window of the spleen scaffold sees it) whose position, size, orientation and
  outline vary per case. Voxel spacing is anisotropic and varies per case (1.5-1.8 mm
  in-plane, 2.0 or 2.5 mm between slices, never finer than the scaffold's 1.5 x 1.5 x 2.0
  mm target), with a RAS affine centred on the volume.
* ``nodule`` (the ``classification`` default): 2D grey-level images (0..255, as 2D NIfTI
  or PNG) of a chest-film-like scene; class 1 images carry a bright round nodule in a lung
  field, class 0 images do not. Labels are Clara's multi-label lists (``[0]`` / ``[1]``).
* ``brats`` (:mod:`mmarctl.synth_brats`) and ``spine2d`` (:mod:`mmarctl.synth_spine`).

The same seed gives identical arrays (each case draws from its own child of the seed).
``mmarctl data synth my-exp/data`` writes what the spleen scaffold's ``environment.json``
expects (``DATA_ROOT`` data, ``DATASET_JSON`` data/dataset_0.json).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import mmarctl
from mmarctl.console import progress
from mmarctl.errors import ConfigError, UsageError
from mmarctl.jsonio import write_json_atomic
from mmarctl import synth_kinds
from mmarctl.staging import staged_directory
from mmarctl.synth_files import save_2d, save_nifti
from mmarctl.synth_kinds import TASKS, Kind, Options
from mmarctl.workspace import ENVIRONMENT, Workspace

DATALIST = "dataset_0.json"
DEFAULT_SIZE = 64
MIN_SIZE = 16
MAX_SIZE = 512
#: Segmentation volumes with more voxels are drawn on a coarser grid and interpolated.
COARSE_VOXELS = 1 << 22  # about 161^3; every --size up to 128 stays at full resolution

# Hounsfield units of the phantom's tissues.
HU_AIR = -1000.0
HU_FAT = -100.0
HU_SOFT_TISSUE = 40.0
HU_LIVER = 60.0
HU_BONE = 700.0
HU_MARROW = 250.0
HU_SPLEEN_RANGE = (60.0, 100.0)
HU_NOISE_SD = 12.0


@dataclass
class SynthResult:
    """What :func:`synthesize` wrote.

    Attributes:
        root: the data folder.
        datalist: its ``dataset_0.json``.
        training: number of training cases; validation: number of validation cases.
        files: every image and label written.
    """

    root: Path
    datalist: Path
    training: int
    validation: int
    files: list[Path] = field(default_factory=list)


# -- segmentation: CT-like volumes ----------------------------------------------------------

def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-SD random field, smooth over about ``sigma`` voxels."""
    from scipy.ndimage import gaussian_filter

    values = gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="wrap")
    return (values - values.mean()) / (values.std() + 1e-12)


def ct_case(rng: np.random.Generator, size: int,
            shape: tuple[int, int, int] | None = None,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One CT-like volume, its spleen label and its affine.

    A volume of more than :data:`COARSE_VOXELS` voxels (a 512 x 512 x 160 CT has 42 M) is
    drawn on a coarser grid of the same physical extent and interpolated (linearly; the
    label thresholded at 0.5) before the scanner noise is added at full resolution: the
    anatomy is smooth, and drawing it at full resolution took about 24 s and 5 GiB per
    512 x 512 x 160 case against 3-6 s and 1 GiB.

    Args:
        rng: the case's random generator.
        size: the smallest extent per axis; each axis is drawn from ``size..size*1.25``.
        shape: the exact ``(x, y, z)`` shape instead (``size`` is then unused).

    Returns:
        ``(image int16 HU (x, y, z), label uint8 (0 background, 1 spleen), affine 4x4)``.
    """
    if shape is None:
        shape = tuple(int(n) for n in rng.integers(size, size + size // 4 + 1, size=3))
    shape = tuple(int(n) for n in shape)
    in_plane = round(float(rng.uniform(1.5, 1.8)) * 20) / 20  # 0.05 mm steps
    spacing = np.array([in_plane, in_plane, float(rng.choice([2.0, 2.5]))])
    voxels = int(np.prod(shape))
    if voxels <= COARSE_VOXELS:
        hu, spleen = _phantom(rng, shape, spacing)
        # Scanner noise; stored as int16 like most CT.
        hu = hu + rng.normal(0.0, HU_NOISE_SD, shape)
    else:
        factor = (voxels / COARSE_VOXELS) ** (1 / 3)
        coarse = tuple(max(MIN_SIZE, round(n / factor)) for n in shape)
        hu, spleen = _phantom(rng, coarse, spacing * np.array(shape) / np.array(coarse))
        hu = upsample(hu.astype(np.float32), shape)
        spleen = upsample(spleen.astype(np.float32), shape) >= 0.5
        hu += rng.standard_normal(shape, dtype=np.float32) * np.float32(HU_NOISE_SD)
    image = np.clip(np.rint(hu, out=hu), -1024, 3071, out=hu).astype(np.int16)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -(np.array(shape) - 1) / 2.0 * spacing
    return image, spleen.astype(np.uint8), affine


def upsample(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Linear interpolation of ``array`` onto ``shape`` (voxel centres, same extent).

    One axis at a time with two gathers and a blend: about 5x faster than
    ``scipy.ndimage.zoom(order=1)`` on a 512 x 512 x 160 output.
    """
    for axis, n in enumerate(shape):
        m = array.shape[axis]
        if m == n:
            continue
        position = np.clip((np.arange(n) + 0.5) * (m / n) - 0.5, 0, m - 1)
        low = np.floor(position).astype(np.intp)
        high = np.minimum(low + 1, m - 1)
        view = [1] * array.ndim
        view[axis] = n
        weight = (position - low).astype(array.dtype).reshape(view)
        below = np.take(array, low, axis=axis)
        below += (np.take(array, high, axis=axis) - below) * weight
        array = below
    return array


def _phantom(rng: np.random.Generator, shape: tuple[int, ...],
             spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The noiseless CT (float HU, partial-volume blurred) and the spleen mask on ``shape``."""
    from scipy.ndimage import gaussian_filter

    # Millimetre coordinates of voxel centres, origin at the volume centre. RAS: +x points
    # to the patient's right, +y anterior, +z superior.
    axes = [(np.arange(n) - (n - 1) / 2.0) * s for n, s in zip(shape, spacing)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    half = np.array([a[-1] for a in axes])

    # Body: an elliptic cylinder whose outline breathes slowly along z.
    body_a = half[0] * rng.uniform(0.88, 0.94) * (1 + 0.03 * np.sin(z / half[2] * np.pi))
    body_b = half[1] * rng.uniform(0.74, 0.84)
    centre_y = half[1] * rng.uniform(-0.05, 0.05)
    radial = np.sqrt((x / body_a) ** 2 + ((y - centre_y) / body_b) ** 2)
    hu = np.full(shape, HU_AIR)
    hu[radial <= 1.0] = HU_FAT
    inside = radial <= rng.uniform(0.86, 0.92)
    hu[inside] = HU_SOFT_TISSUE + 6.0 * smooth_field(rng, shape, 3.0)[inside]

    # Liver on the patient's right (+x), anterior.
    liver = (((x - 0.45 * body_a) / (0.42 * body_a)) ** 2
             + ((y - centre_y - 0.15 * body_b) / (0.55 * body_b)) ** 2
             + (z / (1.2 * half[2])) ** 2) <= 1.0
    hu[liver & inside] = HU_LIVER + rng.uniform(-5, 5)

    # Spine: a vertebral body (marrow in a cortical ring) behind the centre.
    spine_r = np.sqrt(x ** 2 + (y - centre_y + 0.68 * body_b) ** 2)
    radius = 0.16 * body_b
    hu[spine_r <= radius] = HU_BONE
    hu[spine_r <= 0.55 * radius] = HU_MARROW

    # Spleen: a rotated, elongated ellipsoid on the patient's left (-x), posterior, whose
    # outline is bent by a smooth random field.
    centre = np.array([-rng.uniform(0.45, 0.55) * half[0],
                       centre_y - rng.uniform(0.15, 0.3) * body_b,
                       rng.uniform(-0.15, 0.15) * half[2]])
    radii = np.array([rng.uniform(0.24, 0.3) * half[0], rng.uniform(0.3, 0.4) * body_b,
                      rng.uniform(0.35, 0.5) * half[2]])
    angle = rng.uniform(-0.7, 0.7)
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    distance = np.sqrt((u / radii[0]) ** 2 + (v / radii[1]) ** 2 + (dz / radii[2]) ** 2)
    spleen = (distance + 0.12 * smooth_field(rng, shape, 4.0)) <= 1.0
    spleen &= inside
    hu[spleen] = rng.uniform(*HU_SPLEEN_RANGE) + 4.0 * smooth_field(rng, shape, 2.0)[spleen]

    # Partial-volume blur (the caller adds the scanner noise).
    return gaussian_filter(hu, sigma=0.6), spleen


# -- classification: 2D films ---------------------------------------------------------------

def film_case(rng: np.random.Generator, size: int, positive: bool) -> np.ndarray:
    """One 2D chest-film-like image (uint8, ``size x size``); ``positive`` adds a nodule."""
    from scipy.ndimage import gaussian_filter

    axis = (np.arange(size) - (size - 1) / 2.0) / (size / 2.0)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    image = 30.0 + 10.0 * y  # exposure gradient
    thorax = (x / rng.uniform(0.8, 0.9)) ** 2 + (y / rng.uniform(0.85, 0.95)) ** 2 <= 1.0
    image[thorax] = 150.0
    lungs = []
    for side in (-1.0, 1.0):
        cx, cy = side * rng.uniform(0.38, 0.46), rng.uniform(-0.1, 0.05)
        lung = ((x - cx) / rng.uniform(0.26, 0.32)) ** 2 + ((y - cy) / rng.uniform(0.55, 0.65)) ** 2 <= 1.0
        image[lung] = 70.0
        lungs.append((cx, cy))
    image += 10.0 * smooth_field(rng, (size, size), size / 16)
    # The nodule is drawn for both classes so that a positive and a negative image of the
    # same seed differ only by it.
    cx, cy = lungs[int(rng.integers(2))]
    nx, ny = cx + rng.uniform(-0.12, 0.12), cy + rng.uniform(-0.3, 0.3)
    radius, brightness = rng.uniform(0.08, 0.14), rng.uniform(170, 200)
    if positive:
        image[np.sqrt((x - nx) ** 2 + (y - ny) ** 2) <= radius] = brightness
    image = gaussian_filter(image, sigma=0.7) + rng.normal(0.0, 6.0, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# -- writing ---------------------------------------------------------------------------------

def write_spleen_case(rng: np.random.Generator, index: int, root: Path,
                      options: Options) -> dict[str, Any]:
    """Draw one CT case (:func:`ct_case`) and write its image and label under ``root``."""
    image, label, affine = ct_case(rng, options.size, options.shape)
    item = {"image": f"imagesTr/spleen_{index}{options.suffix}",
            "label": f"labelsTr/spleen_{index}{options.suffix}"}
    save_nifti(image, affine, root / item["image"])
    save_nifti(label, affine, root / item["label"])
    return item


def write_nodule_case(rng: np.random.Generator, index: int, root: Path,
                      options: Options) -> dict[str, Any]:
    """Draw one film (:func:`film_case`; odd cases carry the nodule) and write it."""
    positive = index % 2 == 1
    image = film_case(rng, options.size, positive)
    item = {"image": f"imagesTr/img_{index:03d}{options.suffix}", "label": [int(positive)]}
    save_2d(image, root / item["image"], options.file_format, spacing=(0.8, 0.8))
    return item


def spleen_head(options: Options) -> dict[str, Any]:
    """The datalist metadata of a spleen set (MSD Task09's keys)."""
    return {"name": "SyntheticSpleen",
            "description": "CT-like abdominal volumes (HU) with a spleen-like label",
            "tensorImageSize": "3D", "modality": {"0": "CT"},
            "labels": {"0": "background", "1": "spleen"}}


def nodule_head(options: Options) -> dict[str, Any]:
    """The datalist metadata of a nodule set; ``label_format`` as Clara's classification lists."""
    return {"name": "SyntheticNodule",
            "description": "2D chest-film-like images; label [1] when a nodule is present",
            "tensorImageSize": "2D", "modality": {"0": "XR"},
            "labels": {"0": "no nodule", "1": "nodule"}, "label_format": [1]}


def validation_count(cases: int, task: str) -> int:
    """How many of ``cases`` go to the validation list (a quarter; classification: even)."""
    count = max(1, cases // 4)
    if task == "classification":
        count = max(2, count - count % 2)  # both classes in validation, for the AUC
    return count


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"512,512,160"`` (or ``512x512x160``) as three voxel counts in MIN_SIZE..MAX_SIZE.

    Raises:
        UsageError: not three integers, or one out of range.
    """
    parts = [p.strip() for p in str(text).replace("x", ",").replace("X", ",").split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or not all(MIN_SIZE <= n <= MAX_SIZE for n in shape):
        raise UsageError(f"--shape must be three voxel counts like 512,512,160, each in "
                         f"{MIN_SIZE}..{MAX_SIZE}; Received: shape={text!r}")
    return shape  # type: ignore[return-value]


def _check_args(kind: Kind, cases: int, size: int, seed: int) -> None:
    if cases < kind.least_cases:
        raise UsageError(f"--cases must be at least {kind.least_cases} for {kind.name} "
                         f"({kind.task}); Received: cases={cases}",
                         hint="some cases train, at least one validates")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise UsageError(f"--size must be in {MIN_SIZE}..{MAX_SIZE} voxels; Received: size={size}")
    if seed < 0:  # NumPy's SeedSequence takes non-negative integers only
        raise UsageError(f"--seed must be 0 or more; Received: seed={seed}")


@dataclass(frozen=True)
class Target:
    """Where ``data synth`` writes, once a workspace DEST is turned into its data folder.

    Attributes:
        path: the data folder to create.
        task: the workspace's ``PROCESSING_TASK`` (None when DEST is a plain folder).
    """

    path: Path
    task: str | None = None


def resolve_target(dest: str | os.PathLike, options: Sequence[str] = ()) -> Target:
    """DEST itself, or, when DEST is an MMAR root, the ``DATA_ROOT`` its environment names.

    ``mmarctl data synth my-exp`` then fills ``my-exp/data`` for a scaffolded workspace.

    Args:
        dest: DEST as the user typed it.
        options: the other options given, repeated in the commands a refusal suggests.

    Raises:
        ConfigError: the workspace's ``DATASET_JSON`` is not ``DATA_ROOT/dataset_0.json``
            (the synthetic set would not be found), or either is missing (as in every real
            Clara MMAR); the hint gives the commands that work instead.
    """
    root = Path(dest)
    if not (root / "config").is_dir():
        return Target(root)
    workspace = Workspace(root.resolve())
    env = workspace.environment()
    shown = f"{root / 'config' / ENVIRONMENT}"
    data_root, dataset = env.get("DATA_ROOT"), env.get("DATASET_JSON")
    if not isinstance(data_root, str) or not isinstance(dataset, str):
        raise ConfigError("DATA_ROOT and DATASET_JSON are needed to place synthetic data",
                          file=shown, hint=_instead(root, options))
    if Path(dataset) != Path(data_root) / DATALIST:
        raise ConfigError(f"names {dataset}, not DATA_ROOT/{DATALIST} (DATA_ROOT is "
                          f"{data_root}), where synthetic data go", file=shown,
                          json_path="DATASET_JSON",
                          hint=_instead(root, options))
    _refuse_full_data_root(root, Path(data_root), shown, options)
    task = env.get("PROCESSING_TASK")
    return Target(Path(data_root), task if task in TASKS else None)


def _refuse_full_data_root(root: Path, data_root: Path, shown: str,
                           options: Sequence[str]) -> None:
    """Refuse, before any case is drawn, a DATA_ROOT that already holds files, naming the
    environment.json it came from: a clone's DATA_ROOT names its source's data (clone
    rewrites it so the clone trains on them), and a bare "<source>/data is not empty"
    named another workspace's folder with no hint why.

    Raises:
        ConfigError: naming ``DATA_ROOT`` in ``shown``, with the commands that write the
            data into the MMAR itself instead.
    """
    from mmarctl.staging import remove_dead_stagings

    if not data_root.is_dir() or data_root.is_symlink():
        return  # a new folder, or one the staging check refuses on its own
    remove_dead_stagings(data_root)  # a killed run's hidden folder does not count
    if not any(data_root.iterdir()):
        return
    whose = ""
    if not data_root.resolve().is_relative_to(root.resolve()):
        source = _cloned_from(root)
        whose = (f" (the data of {source}, which this MMAR was cloned from)"
                 if source is not None and data_root.resolve().is_relative_to(source)
                 else " (outside this MMAR)")
    raise ConfigError(f"names {data_root}{whose}, which is not empty; mmarctl never "
                      "overwrites files", file=shown, json_path="DATA_ROOT",
                      hint=_instead(root, options))


def _cloned_from(root: Path) -> Path | None:
    """The source MMAR ``clone`` recorded in ``root/.mmarctl/provenance.json``, if any."""
    import json

    try:
        record = json.loads((root / ".mmarctl" / "provenance.json").read_text("utf-8"))
        source = record.get("source") if record.get("source_kind") == "mmar" else None
        return Path(source).resolve() if isinstance(source, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def _instead(root: Path, options: Sequence[str]) -> str:
    """The commands that write synthetic data into the MMAR ``root`` and run on it, for an
    MMAR whose environment.json does not name a DATA_ROOT/dataset_0.json pair (relative
    --set values are read from the MMAR root)."""
    free = [name for name in ("data", "data_synth") if not (root / name).exists()
            or (root / name).is_dir() and not any((root / name).iterdir())]
    folder = (free or ["data_synth"])[0]  # else synthesize says that one is not empty
    synth = shlex.join(["mmarctl", "data", "synth", str(root / folder), *options])
    train = shlex.join(["mmarctl", "train", str(root), "--set", f"DATA_ROOT={folder}",
                        f"DATASET_JSON={folder}/{DATALIST}"])
    return (f"run `{synth}`, then `{train}`; or write DATA_ROOT {folder} and DATASET_JSON "
            f"{folder}/{DATALIST} into config/environment.json")


def synthesize(dest: str | os.PathLike, *, task: str | None = None, kind: str | None = None,
               cases: int | None = None, size: int = DEFAULT_SIZE, seed: int = 0,
               show_progress: bool = True, shape: tuple[int, int, int] | str | None = None,
               compress: bool | None = None, file_format: str | None = None,
               layout: str | None = None, label_value: int | None = None) -> SynthResult:
    """Write a synthetic data set into the new folder ``dest``.

    Args:
        dest: the data folder to create (it may exist if empty).
        task: ``segmentation`` or ``classification``; picks the default kind (spleen or
            nodule) and must match ``kind`` when both are given.
        kind: the data set (:data:`mmarctl.synth_kinds.KINDS`): ``spleen`` (3D CT + spleen
            labels), ``brats`` (3D four-modality brain MRI + BraTS labels), ``spine2d`` (2D
            spine MRI + vertebral-body masks), ``nodule`` (2D images, 0/1 classes).
        cases: number of cases (default per kind: 12 spleen, 8 brats, 20 spine2d, 40 nodule).
        size: voxels per axis; spleen draws each axis from ``size..size*1.25``, brats
            volumes are ``size`` cubed, 2D kinds ``size x size``.
        seed: the random seed; the same seed gives the same arrays.
        show_progress: draw a progress bar / log lines on stderr.
        shape: 3D kinds only: this exact ``(x, y, z)`` shape for every case (a tuple, or
            text as ``--shape`` takes it); ``size`` is then unused.
        compress: NIfTI only: ``.nii.gz`` (the default, the MSD layout) or, False, plain
            ``.nii``, written and read several times faster for large volumes.
        file_format: ``nifti`` (default), ``png`` or ``npy``, as the kind allows.
        layout: brats only: ``files`` (one NIfTI per modality, the default) or ``4d``.
        label_value: spine2d only: the value of the structure in the masks (default 1).

    Raises:
        UsageError: a bad task, kind, case count, size, shape or seed, or an option the
            kind does not take.
        WorkspaceError: ``dest`` exists and is not empty.
    """
    chosen = synth_kinds.choose(task, kind)
    cases = chosen.default_cases if cases is None else cases
    _check_args(chosen, cases, size if shape is None else MIN_SIZE, seed)  # --shape replaces --size
    if shape is not None and chosen.dims == 3:
        shape = parse_shape(shape if isinstance(shape, str) else ",".join(map(str, shape)))
    settings = synth_kinds.options(chosen, size=size, shape=shape, file_format=file_format,
                                   compress=compress, layout=layout, label_value=label_value)
    write_case = synth_kinds.writer_of(chosen)
    children = np.random.SeedSequence(seed).spawn(cases)
    n_val = validation_count(cases, chosen.task)
    items: list[dict[str, Any]] = []
    with staged_directory(Path(dest), allow_empty=True) as tmp:
        with progress(f"synthesizing {chosen.task} cases", total=cases,
                      enabled=show_progress) as bar:
            for index, child in enumerate(children, start=1):
                items.append(write_case(np.random.default_rng(child), index, tmp, settings))
                bar.update(1)
        datalist = {**synth_kinds.head_of(chosen)(settings),
                    **_provenance(chosen, cases, seed, settings),
                    "training": items[:-n_val], "validation": items[-n_val:]}
        write_json_atomic(tmp / DATALIST, datalist)
    root = Path(dest)
    files = [root / path for item in items for path in _paths(item)]
    return SynthResult(root=root, datalist=root / DATALIST, training=cases - n_val,
                       validation=n_val, files=files)


def _paths(item: dict[str, Any]) -> list[str]:
    """The files an item names, images first (an image may be a list of modalities)."""
    paths: list[str] = []
    for key in ("image", "label"):
        value = item.get(key)
        if isinstance(value, str):
            paths.append(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            paths.extend(value)
    return paths


def _provenance(kind: Kind, cases: int, seed: int, settings: Options) -> dict[str, Any]:
    """The MSD keys every set shares, and ``synthetic``: what drew it, to draw it again."""
    drawn: dict[str, Any] = {"task": kind.task, "kind": kind.name, "seed": seed}
    if settings.shape is None:
        drawn["size"] = settings.size
    else:
        drawn["shape"] = list(settings.shape)
    if len(kind.formats) > 1:
        drawn["format"] = settings.file_format
    if settings.layout is not None:
        drawn["layout"] = settings.layout
    if kind.mask_value:
        drawn["label_value"] = settings.label_value
    return {"reference": "generated by mmarctl data synth",
            "licence": "CC0-1.0 (synthetic, no patient data)",
            "release": f"mmarctl {mmarctl.__version__}",
            "numTraining": cases, "numTest": 0, "synthetic": drawn}
