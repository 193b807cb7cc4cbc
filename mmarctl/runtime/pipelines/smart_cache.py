"""SegmentationImagePipelineWithCache: Clara's Smart Cache.

Smart Cache trains each epoch on a window of ``num_cache_objects`` items whose
deterministic transforms already ran, and between epochs replaces ``replace_percent`` of
the window with the next items of the (seeded, shuffled) datalist, loading the newcomers in
the background while the current epoch trains. Over ``len(items) / replaced`` epochs every
item passes through the cache.
"""

from __future__ import annotations

import concurrent.futures as futures
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mmarctl.runtime import argcheck
from mmarctl.runtime.pipelines import compact_labels
from mmarctl.runtime.pipelines.base import ImagePipeline, Sample, run_chain


class SegmentationImagePipelineWithCache(ImagePipeline):
    """Segmentation pipeline with Smart Cache (also serves ``SegmentationKerasImagePipelineWithCache``).

    Clara arguments: those of :class:`~.base.ImagePipeline` plus ``num_cache_objects``
    (items in the window; default and upper bound: all items), ``replace_percent``
    (0..1, share of the window replaced per epoch; 0 keeps the first window for good, as the
    Clara docs advise for validation) and ``caches_data`` (false: the window still selects
    the items but nothing is kept, so each epoch reloads them).
    """

    clara_name = "SegmentationImagePipelineWithCache"

    def __init__(self, num_cache_objects: Any = None, replace_percent: Any = 0.1,
                 caches_data: Any = True, **args: Any) -> None:
        name = self.clara_name
        if num_cache_objects is not None:
            num_cache_objects = argcheck.as_int(num_cache_objects, component=name,
                                                arg="num_cache_objects", minimum=1)
        self.num_cache_objects = num_cache_objects
        self.replace_percent = argcheck.as_float(replace_percent, component=name,
                                                 arg="replace_percent", minimum=0)
        if self.replace_percent > 1:
            raise argcheck.fail(name, "replace_percent", "between 0 and 1", replace_percent)
        self.caches_data = argcheck.as_bool(caches_data, component=name, arg="caches_data")
        super().__init__(**args)
        self._config.update(num_cache_objects=num_cache_objects, replace_percent=replace_percent,
                            caches_data=caches_data)
        self._pending: dict[int, futures.Future] = {}

    # -- the window -------------------------------------------------------------------------
    def _ring(self) -> list[int]:
        order = list(range(len(self.items())))
        np.random.default_rng([self.seed, 0]).shuffle(order)
        return order

    @property
    def window_size(self) -> int:
        n = len(self.items())
        return min(self.num_cache_objects or n, n)

    @property
    def replaced_per_epoch(self) -> int:
        return math.ceil(self.window_size * self.replace_percent) if self.replace_percent else 0

    def window(self, epoch: int) -> list[int]:
        """The item indices in the cache during ``epoch``."""
        ring, size = self._ring(), self.window_size
        start = epoch * self.replaced_per_epoch
        return [ring[(start + j) % len(ring)] for j in range(size)]

    def epoch_order(self, epoch: int) -> list[int]:
        order = self.window(epoch)
        if self.shuffle:
            np.random.default_rng([self.seed, epoch + 1]).shuffle(order)
        return order

    def caches(self, index: int) -> bool:
        return self.caches_data

    def _deterministic(self, index: int) -> list[Sample]:
        pending = self._pending.pop(index, None)
        if pending is not None and index not in self._cache:
            self._cache[index] = pending.result()
        return super()._deterministic(index)

    def _load(self, index: int) -> list[Sample]:
        return compact_labels.compact(
            run_chain(self.transforms[: self.split], [self._fresh(index)],
                      np.random.default_rng([self.seed, 0, self.position(index)])))

    def _advance(self, epoch: int) -> None:
        """Evict items that left the window; start loading the next epoch's newcomers."""
        if not self.caches_data:
            return
        current = set(self.window(epoch))
        for index in list(self._cache):
            if index not in current:
                del self._cache[index]
        for index in set(self.window(epoch + 1)) - current:
            if index not in self._pending:
                self._pending[index] = self._executor().submit(self._load, index)

    def samples(self, epoch: int = 0, order: Sequence[int] | None = None) -> Iterator[Sample]:
        self._advance(epoch)
        yield from super().samples(epoch, order)

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        super().close()
