"""Foreground/background-balanced patch sampling (Clara's PosNegRatio croppers)."""

from __future__ import annotations

import threading

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms._boxes import clamp_start, patch
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, cast_as,
                                             channel_axis, check_bool, check_number, check_sizes,
                                             common_spatial_shape, per_channel)

#: Rejection-sampling attempts for the class whose index list is not cached.
_TRIES = 64


def _ratio(pos, neg, component: str) -> float:
    for arg, value in (("pos", pos), ("neg", neg)):
        check_number(value, component=component, arg=arg, minimum=0)
    if pos + neg <= 0:
        raise ConfigError(f"{component}: pos + neg must be > 0; Received: pos={pos!r}, neg={neg!r}")
    return pos / (pos + neg)


def _count(value, component: str, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{component}: {arg} must be an integer >= 1; Received: {arg}={value!r}")
    return value


class ForegroundIndex:
    """Where a label's foreground (label > 0) voxels are, computed once per cached volume.

    The loaders put an empty ``meta[field]["index_cache"]`` dict on each field; the
    pipeline's per-step copies share that dict with the cached sample, so the index built
    on the first step serves every later epoch. Only the smaller class is stored, as flat
    int32 indices (a 50 M voxel CT with a small organ costs a few MB, not the 400 MB of a
    background list); the other class is found by rejection sampling. Every drawn voxel is
    checked against the current label, and a failed check (a random transform before the
    cropper changed the label) rebuilds the index, so a stale cache can never give a centre
    of the wrong class.
    """

    #: Striped locks (by cache identity): threads building indexes of different volumes do
    #: not wait for each other, and no lock object has to live in the picklable meta dict.
    _locks = tuple(threading.Lock() for _ in range(16))

    def __init__(self, sample: Sample, label_field: str, shape: tuple[int, ...]) -> None:
        props = sample.setdefault("meta", {}).setdefault(label_field, {})
        cache = props.get("index_cache")
        self.cache = cache if isinstance(cache, dict) else {}
        # hash of a tuple mixes the bits: raw ids are multiples of 16 or 64
        self._lock = self._locks[hash((id(self.cache),)) % len(self._locks)]
        label = np.asarray(sample[label_field])
        axis = channel_axis(sample, label_field)
        # (channels, voxels) view of the label, for checking single voxels without a mask;
        # each layout gets a reshape that is a view, not a copy of the whole volume.
        if axis is None:
            self.values = label.reshape(1, -1)
        elif axis % label.ndim == label.ndim - 1:
            self.values = label.reshape(-1, label.shape[-1]).T
        else:
            self.values = np.moveaxis(label, axis, 0).reshape(label.shape[axis], -1)
        self.shape = shape
        with self._lock:
            if self.cache.get("shape") != shape:
                self._build()
            self.entry = dict(self.cache)  # this call's consistent view

    def _build(self) -> None:
        mask = (self.values > 0).any(axis=0)
        count = int(mask.sum())
        stored = "fg_indices" if count <= mask.size - count else "bg_indices"
        dtype = np.int32 if mask.size < 2**31 else np.int64
        flat = np.flatnonzero(mask if stored == "fg_indices" else ~mask).astype(dtype)
        self.cache.clear()
        self.cache.update({stored: flat, "fg_count": count, "shape": self.shape})

    def is_foreground(self, flat: int) -> bool:
        """Whether voxel ``flat`` is foreground in the current label."""
        return bool((self.values[:, flat] > 0).any())

    def has(self, foreground: bool) -> bool:
        """Whether any voxel of that class exists."""
        count = self.entry["fg_count"]
        return count > 0 if foreground else count < self.values.shape[1]

    def draw(self, foreground: bool, rng: np.random.Generator) -> tuple[int, ...]:
        """A random voxel of the class (foreground or background), as spatial coordinates."""
        key = "fg_indices" if foreground else "bg_indices"
        if key in self.entry:
            flat = int(self.entry[key][rng.integers(len(self.entry[key]))])
            if self.is_foreground(flat) != foreground:  # stale: the label changed since
                with self._lock:
                    self._build()
                    self.entry = dict(self.cache)
                return self.draw(foreground, rng) if self.has(foreground) else self.draw(
                    not foreground, rng)
        else:
            flat = self._rejection(foreground, rng)
        return tuple(int(i) for i in np.unravel_index(flat, self.shape))

    def _rejection(self, foreground: bool, rng: np.random.Generator) -> int:
        size = self.values.shape[1]
        for _ in range(_TRIES):
            flat = int(rng.integers(size))
            if self.is_foreground(flat) == foreground:
                return flat
        mask = (self.values > 0).any(axis=0)
        candidates = np.flatnonzero(mask == foreground)
        return int(candidates[rng.integers(len(candidates))])


def choose_centres(index: ForegroundIndex, count: int, pos_fraction: float,
                   rng: np.random.Generator) -> list[tuple[int, ...]]:
    """``count`` patch centres, each foreground with chance ``pos_fraction`` (falling back to
    the other class when a volume has none of the one drawn)."""
    centres = []
    for _ in range(count):
        foreground = rng.random() < pos_fraction
        if not index.has(foreground):
            foreground = not foreground
        centres.append(index.draw(foreground, rng))
    return centres


class FastCropByPosNegRatio(Transform):
    """Cut ``batch_size`` patches of ``size`` centred on foreground or background voxels.

    Implements Clara's ``FastCropByPosNegRatio``. Each patch centre is a label > 0 voxel
    with chance ``pos / (pos + neg)``, else a label == 0 voxel; the patch is moved inside
    the volume where it fits and zero-padded where the volume is smaller than ``size``. The
    fields and ``label_field`` are cropped alike; the result is a list of ``batch_size``
    samples whose ``affine`` is moved to the patch.

    Clara drew centres for ``batches_to_gen_at_once`` batches in one go to save time;
    mmarctl accepts and validates it but draws each call's centres from the step's
    generator (so a seeded run does not depend on worker scheduling), and saves the time
    instead by caching the foreground voxel index (see ForegroundIndex), computed once per
    cached volume.

    Args:
        size: patch size per spatial axis.
        fields: the image field(s) to crop with the label (default ``"image"``).
        label_field: the label field (default ``"label"``).
        pos, neg: relative frequency of foreground / background centres (default 1:1).
        batch_size: patches per call (default 1).
        batches_to_gen_at_once: accepted for compatibility (integer >= 1).
        image_field: another way to name one image field (older configs); added to ``fields``.
    """

    clara_name = "FastCropByPosNegRatio"
    is_random = True
    reads_input_only = True  # patches are new arrays (crop_or_pad); the input is only read

    def __init__(self, size: list[int], fields: str | list[str] | None = None,
                 label_field: str = "label", pos: float = 1, neg: float = 1, batch_size: int = 1,
                 batches_to_gen_at_once: int = 1, image_field: str | None = None) -> None:
        name = self.clara_name
        self.size = check_sizes(size, component=name)
        self.fields = as_fields(fields, component=name) if fields is not None else []
        if image_field is not None or not self.fields:
            image = as_fields(image_field or "image", component=name, arg="image_field")[0]
            self.fields = list(dict.fromkeys(self.fields + [image]))
        self.label_field = as_fields(label_field, component=name, arg="label_field")[0]
        self.pos_fraction = _ratio(pos, neg, name)
        self.batch_size = _count(batch_size, name, "batch_size")
        self.batches_to_gen_at_once = _count(batches_to_gen_at_once, name, "batches_to_gen_at_once")
        config = dict(size=size, fields=fields, label_field=label_field, pos=pos, neg=neg,
                      batch_size=batch_size, batches_to_gen_at_once=batches_to_gen_at_once,
                      image_field=image_field)
        super().__init__(**{k: v for k, v in config.items() if v is not None})

    def __call__(self, sample: Sample, rng: np.random.Generator) -> list[Sample]:
        fields = list(dict.fromkeys(self.fields + [self.label_field]))
        shape = common_spatial_shape(self, sample, fields)
        _check_rank(self, shape)
        index = ForegroundIndex(sample, self.label_field, shape)
        centres = choose_centres(index, self.batch_size, self.pos_fraction, rng)
        return [patch(sample, fields, clamp_start(c, shape, self.size), self.size) for c in centres]


def _check_rank(transform: Transform, shape: tuple[int, ...]) -> None:
    if len(shape) != len(transform.size):
        raise DataError(f"{transform.clara_name}: size has {len(transform.size)} values but the "
                        f"data has {len(shape)} spatial axes (spatial shape {shape})")


class FastPosNegRatioCropROI(Transform):
    """Cut pos/neg-balanced patches, optionally rotated, scaled and elastically deformed.

    Implements Clara's ``FastPosNegRatioCropROI`` (older name of the same idea). Centres are
    chosen as in FastCropByPosNegRatio. With ``rotation`` each patch is rotated by random
    angles in ``[-rotation_degree, rotation_degree]`` (about every axis pair), with ``scale``
    zoomed by a factor in ``[1 - scale_factor, 1 + scale_factor]`` per axis, and with
    ``deform`` displaced by a smooth random field of up to about 2 voxels (mmarctl's choice;
    Clara did not document its deformation). The image is interpolated linearly, the label
    by nearest neighbour; outside the volume is 0. ``fast_crop`` is accepted (the
    foreground index is always cached). Returns a list of ``batch_size`` samples.

    Args:
        size: patch size per spatial axis.
        image_field, label_field: the fields to crop.
        deform, rotation, scale: enable each augmentation (default false).
        rotation_degree: maximum angle in degrees (default 20).
        scale_factor: maximum relative zoom (default 0.1).
        pos, neg: relative frequency of foreground / background centres.
        fast_crop: accepted for compatibility.
        batch_size: patches per call (default 1).
    """

    clara_name = "FastPosNegRatioCropROI"
    is_random = True
    reads_input_only = True  # patches are new arrays (crop_or_pad or a warp); input only read

    def __init__(self, size: list[int], image_field: str = "image", label_field: str = "label",
                 deform: bool = False, rotation: bool = False, rotation_degree: float = 20,
                 scale: bool = False, scale_factor: float = 0.1, pos: float = 1, neg: float = 1,
                 fast_crop: bool = True, batch_size: int = 1) -> None:
        name = self.clara_name
        self.size = check_sizes(size, component=name)
        self.image_field = as_fields(image_field, component=name, arg="image_field")[0]
        self.label_field = as_fields(label_field, component=name, arg="label_field")[0]
        self.deform = check_bool(deform, component=name, arg="deform")
        self.rotation = check_bool(rotation, component=name, arg="rotation")
        self.scale = check_bool(scale, component=name, arg="scale")
        check_bool(fast_crop, component=name, arg="fast_crop")
        self.rotation_degree = check_number(rotation_degree, component=name, arg="rotation_degree",
                                            minimum=0)
        self.scale_factor = check_number(scale_factor, component=name, arg="scale_factor", minimum=0)
        if self.scale_factor >= 1:
            raise ConfigError(f"{name}: scale_factor must be < 1; Received: scale_factor={scale_factor!r}")
        self.pos_fraction = _ratio(pos, neg, name)
        self.batch_size = _count(batch_size, name, "batch_size")
        super().__init__(size=size, image_field=image_field, label_field=label_field,
                         deform=deform, rotation=rotation, rotation_degree=rotation_degree,
                         scale=scale, scale_factor=scale_factor, pos=pos, neg=neg,
                         fast_crop=fast_crop, batch_size=batch_size)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> list[Sample]:
        fields = [self.image_field, self.label_field]
        shape = common_spatial_shape(self, sample, fields)
        _check_rank(self, shape)
        index = ForegroundIndex(sample, self.label_field, shape)
        centres = choose_centres(index, self.batch_size, self.pos_fraction, rng)
        if not (self.rotation or self.scale or self.deform):
            return [patch(sample, fields, clamp_start(c, shape, self.size), self.size)
                    for c in centres]
        return [self._warped(sample, fields, c, shape, rng) for c in centres]

    def _warped(self, sample: Sample, fields: list[str], centre, shape, rng) -> Sample:
        """Sample the patch through a random affine (+ deformation) about its centre."""
        from scipy import ndimage  # imported here: scipy.ndimage costs ~0.3 s and few chains need it
        dims = len(shape)
        matrix = np.eye(dims)
        if self.rotation:
            for a in range(dims):
                for b in range(a + 1, dims):
                    theta = np.deg2rad(rng.uniform(-self.rotation_degree, self.rotation_degree))
                    turn = np.eye(dims)
                    turn[[a, a, b, b], [a, b, a, b]] = [np.cos(theta), -np.sin(theta),
                                                        np.sin(theta), np.cos(theta)]
                    matrix = matrix @ turn
        if self.scale:
            matrix = matrix @ np.diag(rng.uniform(1 - self.scale_factor, 1 + self.scale_factor, dims))
        start = clamp_start(centre, shape, self.size)
        middle = np.array(start) + (np.array(self.size) - 1) / 2  # keep the clamped box centre
        grid = np.indices(self.size, dtype=np.float32).reshape(dims, -1)
        grid -= ((np.array(self.size) - 1) / 2)[:, None]
        coords = matrix @ grid + middle[:, None]
        if self.deform:
            coarse = rng.normal(0, 1.0, (dims,) + (4,) * dims)
            for d in range(dims):
                smooth = ndimage.zoom(coarse[d], [n / 4 for n in self.size], order=3)
                coords[d] += smooth.reshape(-1)[: coords.shape[1]]
        out = patch(sample, fields, start, self.size)  # geometry and meta of the plain box
        for field, order in ((self.image_field, 1), (self.label_field, 0)):
            def warp(x: np.ndarray, order: int = order) -> np.ndarray:
                values = ndimage.map_coordinates(x, coords, order=order, mode="constant")
                return values.reshape(self.size).astype(np.float32)

            source = np.asarray(sample[field])
            warped = per_channel(source.astype(np.float32, copy=False),
                                 channel_axis(sample, field), warp)
            # the label keeps its dtype, as the plain crop's label does
            out[field] = cast_as(warped, source.dtype) if field == self.label_field else warped
        return out


class CropByPosNegRatio(FastCropByPosNegRatio):
    """Cut pos/neg-balanced patches: the non-"Fast" name of FastCropByPosNegRatio.

    Implements Clara's ``CropByPosNegRatio`` (the 3.x name that TLT's
    CropSubVolumeBatchPosNegRatio maps to). Clara's fast variant differed only in speed;
    mmarctl runs the same code for both, with the same arguments.

    Args:
        size, fields, label_field, pos, neg, batch_size, batches_to_gen_at_once, image_field:
            as FastCropByPosNegRatio.
    """

    clara_name = "CropByPosNegRatio"
