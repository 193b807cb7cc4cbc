"""``output_crop_size`` held to the patches the training chain's crop gives.

The network's input, and the model ``export`` writes, are built for ``output_crop_size``
(:func:`mmarctl.runtime.model_io.input_spec`); the patches themselves come from the crop
transform. When the two disagree, train warns at its first batch
(``ImagePipeline.check_crop_size``) and export fixes the exported input to a size the
network never trained on. ``check`` says it before compute, as a note, since train goes on.
"""

from __future__ import annotations

from typing import Sequence

from mmarctl.problems import Problem

#: Crop transforms whose ``size`` argument is the patch's spatial shape.
SIZED_CROPS = frozenset({"CropByPosNegRatio", "CropFixedSizeRandomCenter",
                         "FastCropByPosNegRatio", "FastPosNegRatioCropROI"})
#: Transforms that keep the spatial shape of what they are given (intensity, flips,
#: shape-keeping rotations and zooms, channel steps). Any other step after the crop may
#: resize the patch: nothing is said then.
KEEP_SHAPE = frozenset({
    "AddExtremePointsChannel", "AddGaussianNoise", "AdjustContrast", "CenterData",
    "ConvertToChannelsFirst", "ConvertToChannelsLast", "ConvertToMultiChannelBasedOnBratsClasses",
    "CopyProperties", "NormalizeNonzeroIntensities", "RandomAxisFlip", "RandomGaussianSmooth",
    "RandomRotate2D", "RandomRotate3D", "RandomSharpen", "RandomSpatialFlip", "RandomZoom",
    "RepeatChannel", "ScaleIntensityOscillation", "ScaleIntensityRange",
    "ScaleShiftIntensity", "ThresholdValues"})


def crop_size_notes(data: dict, patch: Sequence[int | None] | None, file: str) -> list[Problem]:
    """A note at ``train.image_pipeline.args.output_crop_size`` when the last crop of
    ``train.pre_transforms`` gives patches of another size.

    Args:
        data: the training config (placeholders substituted).
        patch: ``output_crop_size`` as ``input_spec`` reads it (None entries: any size);
            None when absent.
        file: the training config, as shown.
    """
    section = data.get("train")
    steps = section.get("pre_transforms") if isinstance(section, dict) else None
    if not patch or not isinstance(steps, list):
        return []
    crop = None
    for index, step in enumerate(steps):
        name = str(step.get("name", "")).split("#")[0] if isinstance(step, dict) else ""
        if name in SIZED_CROPS:
            size = (step.get("args") or {}).get("size") if isinstance(
                step.get("args"), (dict, type(None))) else None
            crop = (index, name, size)
        elif crop is not None and name not in KEEP_SHAPE:
            return []  # a resize or pad after the crop: the crop's size is not the patch's
    if crop is None:
        return []
    index, name, size = crop
    if not (isinstance(size, list) and len(size) == len(patch) and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)):
        return []  # a size of its own problem (or -1: the image's own extent)
    if all(p is None or p == s for p, s in zip(patch, size)):
        return []
    written = [-1 if p is None else p for p in patch]
    return [Problem(file, "train.image_pipeline.args.output_crop_size", (
        f"is {written} but train.pre_transforms[{index}] ({name}) crops patches of {size}: "
        "the network's input, and the model export writes, are built for output_crop_size; "
        f"make it {size}")).as_note()]
