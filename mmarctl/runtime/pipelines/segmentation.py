"""SegmentationImagePipeline: image/label pairs, everything cached when it fits in memory."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.pipelines.base import ImagePipeline, memory_budget, sample_bytes


class SegmentationImagePipeline(ImagePipeline):
    """Clara's plain segmentation pipeline (``SegmentationImagePipeline``).

    Accepts the Clara arguments listed on :class:`~.base.ImagePipeline`.

    Caching policy (Clara left it to the implementation): the deterministic transforms'
    output of *every* item is cached when all of it fits in the memory budget (half the
    physical memory, or ``$MMARCTL_CACHE_BYTES``), estimated from the first item; otherwise
    nothing is cached and each epoch reloads the images. All-or-nothing keeps an epoch's
    cost predictable: a partial cache would make epoch times depend on which items fit.
    """

    clara_name = "SegmentationImagePipeline"

    def __init__(self, **args: Any) -> None:
        super().__init__(**args)
        self._cache_all: bool | None = None

    def caches(self, index: int) -> bool:
        if self._cache_all is None:
            return True  # the first item is cached while the estimate is made
        return self._cache_all

    def preflight(self) -> dict[str, tuple]:
        shapes = super().preflight()
        first = self._cache.get(0, [])
        self._cache_all = sample_bytes(first) * len(self.items()) <= memory_budget()
        if not self._cache_all:
            self._cache.clear()
        return shapes
