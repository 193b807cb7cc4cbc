"""ClassificationImagePipeline: images with a vector of 0/1 class labels."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.pipelines.segmentation import SegmentationImagePipeline
from mmarctl.runtime.pipelines.smart_cache import SegmentationImagePipelineWithCache


class ClassificationImagePipeline(SegmentationImagePipeline):
    """Clara's classification pipeline (``ClassificationImagePipeline``).

    Same arguments and caching policy as :class:`SegmentationImagePipeline`. The datalist's
    ``"label"`` is a list of 0/1 values (one per class, Clara's ``label_format``; a bare
    number with ``num_classes`` 1), refused before any step otherwise (:mod:`.class_labels`);
    batches carry it as ``(B, num_classes)`` float32. Images may be channels
    first or already channels last (after ``ConvertToChannelsLast``): the layout is told apart
    by ``output_image_channels``.
    """

    clara_name = "ClassificationImagePipeline"
    task = "classification"

    def __init__(self, **args: Any) -> None:
        args.setdefault("output_data_dims", 2)
        super().__init__(**args)
        if not isinstance(self.output_crop_size, list):
            self.spatial_dims = int(args["output_data_dims"])


class ClassificationImagePipelineWithCache(SegmentationImagePipelineWithCache):
    """Smart Cache over classification items (``ClassificationImagePipelineWithCache``).

    Arguments as :class:`SegmentationImagePipelineWithCache`; labels as
    :class:`ClassificationImagePipeline`.
    """

    clara_name = "ClassificationImagePipelineWithCache"
    task = "classification"
