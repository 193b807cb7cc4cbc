"""Image pipelines: Clara pipeline names -> ``module:Class``. Importing this imports no TensorFlow.

A pipeline reads a datalist (``data_list_file_path``, ``data_list_key``), runs the NumPy
transforms on each item in a thread pool and yields channels-last batches
``{"image": (B, *spatial, C), "label": ...}``; see :mod:`.base`.
"""

NAMES = {
    "SegmentationImagePipeline": "segmentation:SegmentationImagePipeline",
    "SegmentationKerasImagePipeline": "segmentation:SegmentationImagePipeline",
    "SegmentationImagePipelineWithCache": "smart_cache:SegmentationImagePipelineWithCache",
    "SegmentationKerasImagePipelineWithCache": "smart_cache:SegmentationImagePipelineWithCache",
    "ClassificationImagePipeline": "classification:ClassificationImagePipeline",
    "ClassificationImagePipelineWithCache": "classification:ClassificationImagePipelineWithCache",
}

__all__ = ["NAMES"]
