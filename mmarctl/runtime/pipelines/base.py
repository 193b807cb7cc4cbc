"""What every image pipeline shares: the datalist, the transform chain, caching and batching.

Data flow for one epoch::

    datalist items --(deterministic transforms, cached)--> sample
                   --(random transforms, per step, thread pool)--> sample(s)
                   --(channels-last, stacked)--> batch --> tf.data (prefetched)

The transforms before the first ``is_random`` one are deterministic; their output is what
a pipeline caches (which items, and how many, is the subclass's policy). Random transforms
run for every epoch with a generator seeded from ``(seed, epoch, item)``, so a seeded run is
repeatable whatever the thread scheduling; ``item`` is the position in the full datalist,
not in this process's shard, so ranks draw different random values.

A pipeline yields Clara-layout samples (``samples()``, channels first, with ``meta``) for
validation and inference, and channels-last batches (``batches()``, ``dataset()``) for
training.
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmarctl.errors import ConfigError, DataError, MmarError
from mmarctl.jsonio import load_json
from mmarctl.runtime import argcheck, user_code
from mmarctl.runtime.component import Component
from mmarctl.runtime.pipelines import compact_labels
from mmarctl.runtime.pipelines.class_labels import MISSING, class_label_problem
from mmarctl.runtime.transforms.loaders import fields_read, missing_fields

Sample = dict[str, Any]


def copy_sample(sample: Sample, only_shared_with: list[Sample] | None = None) -> Sample:
    """A copy safe to hand to in-place transforms: arrays copied, meta dicts copied.

    With ``only_shared_with``, only the arrays that may share memory with an array of those
    samples are copied (what a read-only cropper passed through from the cache); arrays the
    transform allocated itself are kept as they are.
    """
    shared = (None if only_shared_with is None else
              [v for s in only_shared_with for v in s.values() if isinstance(v, np.ndarray)])
    out: Sample = {}
    for key, value in sample.items():
        if key == "meta":
            out[key] = {f: dict(p) if isinstance(p, dict) else p for f, p in value.items()}
        elif isinstance(value, np.ndarray) and (
                shared is None or any(np.may_share_memory(value, c) for c in shared)):
            out[key] = value.copy()
        else:
            out[key] = value
    return out


def label_source(sample: Sample) -> str:
    """The label file(s) a sample's label came from, for messages about label values;
    ``case IMAGE`` when the label was not read from a file of its own."""
    props = sample.get("meta", {}).get("label")
    if isinstance(props, dict):
        files = props.get("filenames") or [props.get("filename")]
        files = [str(f) for f in files if f]
        if files:
            return ", ".join(files)
    return f"case {case_name(sample)}"


#: How far a label value may stray from 0..top: a label stored with a NIfTI scale factor
#: reads back as 1.0000001, which is class 1.
LABEL_VALUE_SLACK = 1e-3


def top_label(num_classes: int) -> int:
    """The largest class index a network of ``num_classes`` outputs takes (a one-class
    sigmoid network still takes 0/1 labels)."""
    return max(num_classes - 1, 1)


def labels_outside(low: float, high: float, num_classes: int) -> bool:
    """Whether label values from ``low`` to ``high`` go beyond ``0..top_label``; the one
    rule of the run (:func:`check_label_values`) and of ``check``."""
    return low < -LABEL_VALUE_SLACK or high > top_label(num_classes) + LABEL_VALUE_SLACK


def check_label_values(sample: Sample, num_classes: int | None) -> None:
    """Refuse a segmentation label map with values outside ``0..num_classes-1``.

    train (:meth:`ImagePipeline.check`) and validate (:mod:`mmarctl.runtime.evaluation`)
    both call it, so they stop on the same case with the same line: such a label trains on
    garbage, and scores a silent Dice of 0 in validate. Nothing is checked without
    ``num_classes`` or a label array.

    Raises:
        DataError: naming the label file (:func:`label_source`) and the value range.
    """
    label = sample.get("label")
    if not num_classes or not isinstance(label, np.ndarray) or not label.size:
        return
    low, high = float(label.min()), float(label.max())
    top = top_label(num_classes)
    if labels_outside(low, high, num_classes):
        raise DataError(f"{label_source(sample)}: label values {low:g}..{high:g} "
                        f"are outside 0..{top} (num_classes={num_classes})",
                        hint="fix the label file or num_classes in train.model")


def case_name(sample: Sample) -> str:
    """The image file a sample came from (for messages)."""
    meta = sample.get("meta", {})
    for field in ("image", *meta):
        props = meta.get(field)
        if isinstance(props, dict) and props.get("filename"):
            return str(props["filename"])
    source = sample.get("_source")
    return str(source) if source else "?"


def run_chain(transforms: Sequence[Any], samples: list[Sample],
              rng: np.random.Generator) -> list[Sample]:
    """Apply transforms in order; a transform may turn one sample into several.

    Raises:
        DataError: a transform failed on a case (named with the transform).
    """
    for transform in transforms:
        produced: list[Sample] = []
        for sample in samples:
            try:
                result = transform(sample, rng)
            except MmarError:
                raise
            except Exception as error:  # corrupt file, wrong shape ... in a transform
                # A bug in the MMAR's own transform (its own line raised) is not a bad case:
                # its file and line, not a DataError that skip_bad_cases would pass over.
                # A library it called refusing the case's data (a corrupt file) is one.
                in_user_code = user_code.failure(error, [transform])
                if in_user_code is not None and user_code.raised_in_user_code(error,
                                                                              [transform]):
                    in_user_code.message += f" (on {case_name(sample)})"
                    raise in_user_code from error
                where = f" ({in_user_code.message.split(': ')[0]})" if in_user_code else ""
                raise DataError(f"{type(transform).__name__} failed on {case_name(sample)}: "
                                f"{error}{where}") from error
            wrong = user_code.not_a_sample(transform, result)
            if wrong is not None:
                raise wrong
            produced.extend(result if isinstance(result, list) else [result])
        samples = produced
    return samples


def data_root(data_list_file_path: str | os.PathLike, data_file_base_dir: Any) -> Path:
    """The folder a datalist's item paths are relative to: ``data_file_base_dir``
    (DATA_ROOT), or, when it is empty or not given, the datalist's own folder (Clara's
    rule; ``check`` resolves it the same way)."""
    return Path(data_file_base_dir or Path(data_list_file_path).parent)


class ImagePipeline(Component):
    """Base class of the Clara image pipelines.

    Clara arguments: ``data_list_file_path``, ``data_file_base_dir``, ``data_list_key``,
    ``output_crop_size``, ``output_batch_size``, ``batched_by_transforms``, ``num_workers``,
    ``prefetch_size``, ``output_data_dims``, ``output_image_channels``,
    ``output_label_channels``, ``output_data_format``, ``shuffle``, ``multiprocessing``
    (accepted and ignored: workers are threads, as NumPy and nibabel release the GIL).

    ``output_data_format`` is recorded only: batches are always channels-last, the layout
    the networks take. ``output_crop_size`` is what the network input spec is derived from
    (:mod:`mmarctl.runtime.model_io`); the crop itself is the croppers' job.
    """

    #: "segmentation" (label is a map) or "classification" (label is a vector).
    task = "segmentation"

    def __init__(self, data_list_file_path: Any, data_file_base_dir: Any = "",
                 data_list_key: Any = "training", output_crop_size: Any = None,
                 output_batch_size: Any = 1, batched_by_transforms: Any = False,
                 num_workers: Any = 2, prefetch_size: Any = 2, output_data_dims: Any = None,
                 output_image_channels: Any = 1, output_label_channels: Any = 1,
                 output_data_format: Any = "channels_first", shuffle: Any = True,
                 multiprocessing: Any = False) -> None:
        name = self.clara_name or type(self).__name__
        if not isinstance(data_list_file_path, str) or not data_list_file_path:
            raise argcheck.fail(name, "data_list_file_path", "a path to a datalist JSON",
                                data_list_file_path)
        self.data_list_file_path = Path(data_list_file_path)
        self.data_file_base_dir = data_root(self.data_list_file_path, data_file_base_dir)
        if not isinstance(data_list_key, str):
            raise argcheck.fail(name, "data_list_key", "a datalist key", data_list_key)
        self.data_list_key = data_list_key
        self.batch_size = argcheck.as_int(output_batch_size, component=name,
                                          arg="output_batch_size", minimum=1)
        # Clara files use 0 for "no extra workers / no prefetch": one thread, one batch ahead.
        self.num_workers = max(1, argcheck.as_int(num_workers, component=name,
                                                  arg="num_workers", minimum=0))
        self.prefetch_size = max(1, argcheck.as_int(prefetch_size, component=name,
                                                    arg="prefetch_size", minimum=0))
        self.image_channels = argcheck.as_int(output_image_channels, component=name,
                                              arg="output_image_channels", minimum=1)
        self.shuffle = argcheck.as_bool(shuffle, component=name, arg="shuffle")
        self.output_crop_size = output_crop_size
        self.output_data_dims = output_data_dims
        super().__init__(data_list_file_path=data_list_file_path,
                         data_file_base_dir=data_file_base_dir, data_list_key=data_list_key,
                         output_crop_size=output_crop_size, output_batch_size=output_batch_size,
                         batched_by_transforms=batched_by_transforms, num_workers=num_workers,
                         prefetch_size=prefetch_size, output_data_dims=output_data_dims,
                         output_image_channels=output_image_channels,
                         output_label_channels=output_label_channels,
                         output_data_format=output_data_format, shuffle=shuffle,
                         multiprocessing=multiprocessing)
        self.transforms: list[Any] = []
        self.seed = 0
        self.num_classes: int | None = None
        self.spatial_dims = (len(output_crop_size) if isinstance(output_crop_size, list)
                             else output_data_dims or 3)
        self._shard: Callable[[list], list] = lambda items: items
        self._items: list[dict] | None = None
        self._positions: list[int] = []  # each local item's index in the full datalist
        self._cache: dict[int, list[Sample]] = {}
        self._pool: futures.ThreadPoolExecutor | None = None
        self.patches_per_item = 1
        self.skip_bad_cases = False
        #: Items found unusable (local index -> the one-line reason), with skip_bad_cases.
        self.skipped: dict[int, str] = {}

    # -- set-up -----------------------------------------------------------------------------
    def setup(self, transforms: Sequence[Any], *, seed: int | None = None,
              shard: Callable[[list], list] | None = None, num_classes: int | None = None,
              spatial_dims: int | None = None,
              skip_bad_cases: bool = False) -> "ImagePipeline":
        """Attach the transform list, the seed, this process's shard and the label check.

        With ``skip_bad_cases`` (the config's global of that name) a case whose data cannot
        be used (unreadable file, NaN voxels, label values beyond ``num_classes`` ...) is
        left out for the rest of the run with one warning, instead of stopping it.
        """
        self.transforms = list(transforms)
        self.skip_bad_cases = bool(skip_bad_cases)
        self.skipped = {}
        self.seed = 0 if seed is None else int(seed)
        if shard is not None:
            self._shard = shard
        self.num_classes = num_classes
        if spatial_dims:
            self.spatial_dims = spatial_dims
        self._items = None
        self._cache.clear()
        return self

    @property
    def split(self) -> int:
        """Index of the first random transform: those before it are cached."""
        for i, transform in enumerate(self.transforms):
            if getattr(transform, "is_random", False):
                return i
        return len(self.transforms)

    def items(self) -> list[dict]:
        """This process's datalist items, paths resolved against ``data_file_base_dir``."""
        if self._items is None:
            # Shard (position, item) pairs so each item keeps its place in the full list.
            pairs = self._shard(list(enumerate(self._read_datalist())))
            self._positions = [position for position, _ in pairs]
            self._items = [item for _, item in pairs]
        return self._items

    def position(self, index: int) -> int:
        """The index in the full datalist of this process's item ``index``.

        Random transforms are seeded with it, so two ranks never draw the same crops and
        flips for different items, and an item draws the same values whichever rank gets it.
        """
        self.items()
        return self._positions[index]

    def _read_datalist(self) -> list[dict]:
        path = self.data_list_file_path
        if not path.is_file():
            raise DataError("datalist not found", file=path,
                            hint="set DATASET_JSON in config/environment.json or with --set")
        data = load_json(path)
        shown = str(path)
        if not isinstance(data, dict) or self.data_list_key not in data:
            keys = ", ".join(sorted(data)) if isinstance(data, dict) else "none"
            raise DataError(f"datalist has no key {self.data_list_key!r}", file=shown,
                            hint=f"keys present: {keys}; set data_list_key / DATA_LIST_KEY")
        entries = data[self.data_list_key]
        if not isinstance(entries, list) or not entries:
            raise DataError(f"datalist key {self.data_list_key!r} holds no items", file=shown,
                            json_path=self.data_list_key)
        # Every item must have the fields the loaders read: refused here, before any step,
        # with the message `mmarctl check` prints (loaders.missing_fields).
        lacking = missing_fields(entries, self.data_list_key, fields_read(self.transforms))
        if lacking:
            raise DataError(lacking[0], file=shown, json_path=self.data_list_key)
        if self.task == "classification":
            # The label is written in the item: refused here, before any step, with the
            # words of `mmarctl check` (a [7] would otherwise train to a negative loss).
            for i, entry in enumerate(entries):
                value = entry.get("label", MISSING) if isinstance(entry, dict) else MISSING
                problem = class_label_problem(value, self.num_classes)
                if problem:
                    raise DataError(problem, file=shown,
                                    json_path=f"{self.data_list_key}[{i}].label")
        items = []
        for i, entry in enumerate(entries):
            if isinstance(entry, str):
                entry = {"image": entry}
            if not isinstance(entry, dict) or "image" not in entry:
                raise DataError("datalist item needs an \"image\"", file=shown,
                                json_path=f"{self.data_list_key}[{i}]")
            item = {k: self._resolve(v) for k, v in entry.items()}
            if self.task == "classification" and isinstance(item.get("label"), np.ndarray):
                # A bare number (num_classes 1) is the one-value vector [n]: a list mixing
                # both forms then batches as one shape.
                item["label"] = np.atleast_1d(item["label"])
            items.append(item)
        return items

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            path = Path(value)
            return str(path if path.is_absolute() else self.data_file_base_dir / path)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return [self._resolve(v) for v in value]
        if isinstance(value, (list, int, float)):  # classification labels
            return np.asarray(value, dtype=np.float32)
        return value

    # -- per item ---------------------------------------------------------------------------
    def _fresh(self, index: int) -> Sample:
        item = self.items()[index]
        sample: Sample = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                          for k, v in item.items()}
        sample["meta"] = {}
        sample["_source"] = item.get("image")
        return sample

    def _deterministic(self, index: int) -> list[Sample]:
        """The cached part of the chain for one item (from the cache when present)."""
        cached = self._cache.get(index)
        if cached is None:
            cached = run_chain(self.transforms[: self.split], [self._fresh(index)],
                               np.random.default_rng([self.seed, 0, self.position(index)]))
            if self.caches(index):
                cached = self._cache[index] = compact_labels.compact(cached)
        return cached

    def caches(self, index: int) -> bool:
        """Whether the deterministic output of item ``index`` is kept (subclass policy)."""
        return False

    def process(self, index: int, epoch: int) -> list[Sample]:
        """All transforms on item ``index`` for ``epoch``; random ones seeded with (seed, epoch,
        the item's position in the full datalist)."""
        cached = self._deterministic(index)
        rng = np.random.default_rng([self.seed, epoch + 1, self.position(index)])
        chain = self.transforms[self.split:]
        if chain and getattr(chain[0], "reads_input_only", False):
            # Typically a cropper: it can read the cached volumes directly, which saves
            # copying whole volumes (hundreds of MB for a CT) per item per epoch; only what
            # its patches still share with the cache is copied.
            base = [copy_sample(compact_labels.expand(s), only_shared_with=cached)
                    for s in run_chain(chain[:1], list(cached), rng)]
            chain = chain[1:]
        else:
            base = [copy_sample(compact_labels.expand(s), only_shared_with=cached)
                    for s in cached]
        samples = run_chain(chain, base, rng)
        for sample in samples:
            self.check(sample)
        return samples

    def check(self, sample: Sample) -> None:
        """Reject a sample TensorFlow could not train on, naming the case.

        Raises:
            DataError: image/label spatial shapes differ, or label values are outside
                ``0..num_classes-1`` (segmentation).
        """
        if "image" not in sample or not isinstance(sample["image"], np.ndarray):
            raise DataError(f"case {case_name(sample)}: no image array after the transforms",
                            hint="the first pre_transform must load the image (e.g. LoadNifti)")
        label = sample.get("label")
        if self.task != "segmentation" or not isinstance(label, np.ndarray):
            return
        image_spatial = self._spatial(sample, "image")
        label_spatial = self._spatial(sample, "label")
        if image_spatial != label_spatial:
            raise DataError(f"case {case_name(sample)}: image shape {image_spatial} and label "
                            f"shape {label_spatial} differ",
                            hint="check the image/label pairing in the datalist and the "
                                 "resampling transforms")
        check_label_values(sample, self.num_classes)

    def _spatial(self, sample: Sample, field: str) -> tuple[int, ...]:
        """The spatial shape of ``field``, wherever its channel axis is (meta records it)."""
        array = sample[field]
        props = sample.get("meta", {}).get(field)
        axis = props.get("channel_axis", 0) if isinstance(props, dict) else 0
        if array.ndim > self.spatial_dims and axis in (-1, array.ndim - 1):
            return tuple(array.shape[:-1][-self.spatial_dims:])
        return tuple(array.shape[-self.spatial_dims:])

    # -- iteration ----------------------------------------------------------------------------
    def epoch_order(self, epoch: int) -> list[int]:
        """The item indices of ``epoch`` in visiting order."""
        order = list(range(len(self.items())))
        if self.shuffle:
            np.random.default_rng([self.seed, epoch + 1]).shuffle(order)
        return order

    def _executor(self) -> futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = futures.ThreadPoolExecutor(self.num_workers,
                                                    thread_name_prefix="mmarctl-data")
        return self._pool

    def samples(self, epoch: int = 0, order: Sequence[int] | None = None) -> Iterator[Sample]:
        """Transformed samples (Clara layout, with meta), items processed in the thread pool."""
        order = [i for i in (self.epoch_order(epoch) if order is None else order)
                 if i not in self.skipped]
        pool = self._executor()
        # Items in flight: the workers' own, and those of the batches prefetched ahead.
        per_batch = math.ceil(self.batch_size / max(self.patches_per_item, 1))
        window = self.num_workers + self.prefetch_size * per_batch
        pending: list[tuple[int, futures.Future]] = []
        position = 0
        try:
            while position < len(order) or pending:
                while position < len(order) and len(pending) < window:
                    index = order[position]
                    pending.append((index, pool.submit(self.process, index, epoch)))
                    position += 1
                index, future = pending.pop(0)
                yield from self._outcome(index, future)
        finally:
            for _, future in pending:
                future.cancel()

    def _outcome(self, index: int, future: futures.Future) -> list[Sample]:
        """The samples of one item, or [] when it is bad and ``skip_bad_cases`` is on."""
        try:
            return future.result()
        except DataError as error:
            if not self.skip_bad_cases:
                raise
            self.skip(index, error)
            return []

    def skip(self, index: int, error: MmarError) -> None:
        """Leave item ``index`` out for the rest of the run, with one warning line."""
        self.skipped[index] = str(error)
        logging.getLogger("mmarctl.data").warning(
            "skipping a bad case (skip_bad_cases is on): %s", error)

    def to_channels_last(self, array: np.ndarray, channels: int | None,
                         channel_axis: Any = "unknown") -> np.ndarray:
        """Clara's channels-first array as the channels-last array TensorFlow takes.

        ``channel_axis`` is what the loaders recorded in ``meta[field]["channel_axis"]``
        (0, -1 or None); without that record the layout is inferred from the rank and
        ``channels``.
        """
        dims = self.spatial_dims
        if array.ndim == dims or channel_axis is None:
            return array[..., None]
        if channel_axis in (-1, array.ndim - 1):
            return array
        if channel_axis == "unknown" and array.ndim == dims + 1 and channels is not None \
                and array.shape[0] != channels and array.shape[-1] == channels:
            return array  # already channels-last (ConvertToChannelsLast ran)
        return np.moveaxis(array, 0, -1)

    def batch_arrays(self, sample: Sample) -> dict[str, np.ndarray]:
        """One sample's image and label, channels-last float32."""
        meta = sample.get("meta", {})

        def axis(field: str) -> Any:
            props = meta.get(field)
            return props.get("channel_axis", "unknown") if isinstance(props, dict) else "unknown"

        image = np.asarray(sample["image"], np.float32)
        out = {"image": np.ascontiguousarray(
            self.to_channels_last(image, self.image_channels, axis("image")))}
        label = sample.get("label")
        if isinstance(label, np.ndarray):
            label = label.astype(np.float32, copy=False)
            out["label"] = (np.ascontiguousarray(self.to_channels_last(label, None, axis("label")))
                            if self.task == "segmentation" else label)
        return out

    def batches(self, epoch: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Channels-last batches of ``output_batch_size`` samples (the last may be smaller)."""
        group: list[dict[str, np.ndarray]] = []
        produced = False
        for sample in self.samples(epoch):
            produced = True
            group.append(self.batch_arrays(sample))
            if len(group) == self.batch_size:
                yield _stack(group)
                group = []
        if group:
            yield _stack(group)
        if not produced and self.skipped:
            raise DataError(f"every case of {self.data_list_file_path} "
                            f"({self.data_list_key!r}) was skipped as unusable",
                            hint="see the warnings above for each case")

    def preflight(self) -> dict[str, tuple]:
        """Process the first item once: checks the data early and learns the batch shapes.

        Returns:
            ``{"image": shape, "label": shape}`` of one channels-last sample.
        """
        samples: list[Sample] = []
        for index in range(len(self.items())):  # the first usable item, with skip_bad_cases
            try:
                samples = self.process(index, 0)
                break
            except DataError as error:
                if not self.skip_bad_cases:
                    raise
                self.skip(index, error)
        if not samples:
            raise DataError(f"no usable case in {self.data_list_file_path} "
                            f"({self.data_list_key!r})", hint="see the warnings above")
        self.patches_per_item = max(1, len(samples))
        arrays = self.batch_arrays(samples[0])
        channels = arrays["image"].shape[-1]
        if channels != self.image_channels:
            raise DataError(f"case {case_name(samples[0])}: the transforms give images with "
                            f"{channels} channel(s) but output_image_channels is "
                            f"{self.image_channels}",
                            hint="set output_image_channels in the image pipeline to the "
                                 "channels the network should take")
        self.check_crop_size(arrays["image"].shape[:-1], case_name(samples[0]))
        return {k: v.shape for k, v in arrays.items()}

    def check_crop_size(self, spatial: tuple[int, ...], case: str) -> None:
        """Warn, once, when patches do not have the spatial shape ``output_crop_size`` says
        (its entries > 0): the network's input, and the model export writes, are built for
        that size (Clara's pipeline outputs it), so a network trained on 64x64 patches would
        otherwise be exported for 32x32 input without a word."""
        crop = self.output_crop_size
        if not isinstance(crop, list) or len(crop) != len(spatial) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in crop):
            return  # no crop size, or one whose length other checks refuse
        if all(v <= 0 or v == s for v, s in zip(crop, spatial)):
            return
        logging.getLogger("mmarctl.data").warning(
            "case %s: the transforms give patches of spatial shape %s but output_crop_size "
            "is %s, the size the network's input (and export's model input) is built for; "
            "make output_crop_size the size the crop / resize transforms give",
            case, tuple(spatial), crop)

    def steps_per_epoch(self) -> int:
        """Batches per epoch (after :meth:`preflight` learned the patches per item)."""
        return max(1, math.ceil(len(self.epoch_order(0)) * self.patches_per_item
                                / self.batch_size))

    def dataset(self, epoch: int) -> Iterator[dict[str, Any]]:
        """The epoch's batches as TensorFlow tensors (``{"image", "label"}``, channels-last).

        Prefetching is the worker pool's: :meth:`samples` keeps ``num_workers`` items and
        the items of ``prefetch_size`` batches in flight while the step runs, and stacking a
        batch is a copy. Not ``tf.data.Dataset.from_generator`` with ``prefetch``: tearing
        its iterator down at an epoch's end stalled the training loop about 1.1 s at one
        epoch in two or three (spleen scaffold, 6 steps of 0.24 s per epoch: the loop ran
        at 6.5 patches/s with the step at 8.4), and a generator's exception came back as
        an ``OpError`` that had to be unwrapped.
        """
        import tensorflow as tf

        for batch in self.batches(epoch):
            yield {key: tf.convert_to_tensor(value) for key, value in batch.items()}

    def close(self) -> None:
        """Stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _stack(group: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    try:
        return {k: np.stack([g[k] for g in group]) for k in group[0]}
    except ValueError as error:
        # Name the field whose shapes differ (the image, or a label written two ways).
        key = next((k for k in group[0]
                    if len({np.shape(g.get(k)) for g in group}) > 1), "image")
        shapes = sorted({str(np.shape(g.get(key))) for g in group})
        raise DataError(f"samples of one batch differ in shape ({', '.join(shapes)} in "
                        f"field {key!r})",
                        hint="crop to a fixed size (output_crop_size and a crop transform) "
                             "or use output_batch_size 1") from error


def memory_budget() -> int:
    """Bytes the caches may use: ``$MMARCTL_CACHE_BYTES``, else half the physical memory."""
    env = os.environ.get("MMARCTL_CACHE_BYTES")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ConfigError(f"MMARCTL_CACHE_BYTES must be a number; Received: {env!r}") from None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def sample_bytes(samples: list[Sample]) -> int:
    """Memory held by the arrays of some samples."""
    return sum(v.nbytes for s in samples for v in s.values() if isinstance(v, np.ndarray))
