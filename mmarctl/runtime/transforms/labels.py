"""Label and post transforms: turn probabilities into classes and split classes into fields."""

from __future__ import annotations

import copy

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, channel_axis,
                                             check_number, is_label_field, sample_name)


def _names(value, component: str, arg: str) -> list[str]:
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(v, str) and v for v in value) or len(set(value)) != len(value)):
        raise ConfigError(f"{component}: {arg} must be a non-empty list of distinct field names; "
                          f"Received: {arg}={value!r}")
    return list(value)


def _channels_first(transform: Transform, sample: Sample, field: str) -> np.ndarray:
    """The field as ``(C, *spatial)``; a field without a channel axis gets one."""
    array = np.asarray(transform.require(sample, field))
    axis = channel_axis(sample, field)
    if axis is None:
        return array[np.newaxis]
    return np.moveaxis(array, axis, 0) if axis % array.ndim else array


def _derived_meta(sample: Sample, source: str, target: str, *, channel_axis_value=0,
                  is_label: bool | None = None) -> None:
    """Give ``target`` a copy of ``source``'s meta; ``is_label`` None keeps the source's kind."""
    props = dict(sample.get("meta", {}).get(source, {}))
    props.pop("index_cache", None)  # belongs to the source array, not to this new field
    props["channel_axis"] = channel_axis_value
    # recorded, not left to the field name: a new field "tc" split from a label is a label
    props["is_label"] = is_label_field(sample, source) if is_label is None else is_label
    sample.setdefault("meta", {})[target] = props


class ArgmaxAcrossChannels(Transform):
    """Replace per-class probabilities ``(C, *spatial)`` by the class index map ``(1, *spatial)``.

    Implements Clara's ``ArgmaxAcrossChannels``. The channel axis is kept (size 1) so the
    result has the same layout as a loaded label; values are float32 class indices. Ties go
    to the lower class index. The field is marked as a label (``meta is_label``), so later
    spatial transforms (ScaleToShape, ScaleByFactor, RandomRotate2D ...) resample it with
    nearest neighbour and never invent a class between two others. The number of channels
    is recorded as ``meta num_classes`` (ComputeAverageDice checks label values against it).

    Args:
        fields: field name or list of names (usually ``"model"``).
    """

    clara_name = "ArgmaxAcrossChannels"

    def __init__(self, fields: str | list[str] = "model") -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        super().__init__(fields=fields)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = _channels_first(self, sample, field)
            sample[field] = np.argmax(array, axis=0)[np.newaxis].astype(np.float32)
            self.meta(sample, field)["channel_axis"] = 0
            self.meta(sample, field)["is_label"] = True  # class indices: resample nearest
            # ComputeAverageDice reads it to refuse label values the network has no class for
            self.meta(sample, field)["num_classes"] = int(array.shape[0])
        return sample


class ThresholdValues(Transform):
    """Binarise: 1 where a value is above ``threshold``, else 0 (float32).

    Implements Clara's ``ThresholdValues`` (sigmoid outputs of multi-label networks). A value
    exactly at the threshold becomes 0. The field is marked as a label (``meta is_label``):
    later spatial transforms resample the 0/1 mask with nearest neighbour.

    Args:
        fields: field name or list of names.
        threshold: the cut-off (default 0.5).
    """

    clara_name = "ThresholdValues"

    def __init__(self, fields: str | list[str] = "model", threshold: float = 0.5) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.threshold = check_number(threshold, component=self.clara_name, arg="threshold")
        super().__init__(fields=fields, threshold=threshold)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field))
            sample[field] = (array > self.threshold).astype(np.float32)
            self.meta(sample, field)["is_label"] = True  # a 0/1 mask: resample nearest
        return sample


class CopyProperties(Transform):
    """Copy properties (``affine``, ``pixdim``, ...) from one field's meta to others.

    Implements Clara's ``CopyProperties``: before writing, the prediction takes the image's
    geometry. A property the source lacks is a DataError naming it; values are deep-copied.

    Args:
        fields: field name or list of names that receive the properties.
        from_field: the field whose meta is copied (default ``"image"``).
        properties: the meta keys to copy (default ``["affine"]``).
    """

    clara_name = "CopyProperties"

    def __init__(self, fields: str | list[str], from_field: str = "image",
                 properties: list[str] = ("affine",)) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.from_field = as_fields(from_field, component=self.clara_name, arg="from_field")[0]
        self.properties = _names(list(properties), self.clara_name, "properties")
        super().__init__(fields=fields, from_field=from_field, properties=list(properties))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        source = sample.get("meta", {}).get(self.from_field, {})
        for key in self.properties:
            if key not in source:
                raise DataError(f"{self.clara_name}: field {self.from_field!r} has no property "
                                f"{key!r} (it has: {', '.join(sorted(source)) or 'none'})",
                                file=sample_name(sample) or None)
        for field in self.fields:
            self.require(sample, field)
            props = self.meta(sample, field)
            for key in self.properties:
                props[key] = copy.deepcopy(source[key])
        return sample


class SplitBasedOnLabel(Transform):
    """Split a class-index map into one binary field per class: ``label_names[i] = (x == i)``.

    Implements Clara's ``SplitBasedOnLabel`` (per-class Dice in validation). Each new field
    has shape ``(1, *spatial)``, float32 0/1, a copy of the source's meta, and is marked as
    a label (``meta is_label``). Values outside ``0 .. len(label_names) - 1`` belong to no field.

    Args:
        field: the class-index field (e.g. ``"model"`` after ArgmaxAcrossChannels).
        label_names: the new field names, one per class, starting at class 0.
    """

    clara_name = "SplitBasedOnLabel"

    def __init__(self, field: str, label_names: list[str]) -> None:
        self.field = as_fields(field, component=self.clara_name, arg="field")[0]
        self.label_names = _names(label_names, self.clara_name, "label_names")
        super().__init__(field=field, label_names=list(label_names))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        array = _channels_first(self, sample, self.field)
        if array.shape[0] != 1:
            raise DataError(f"{self.clara_name}: field {self.field!r} must hold one channel of "
                            f"class indices; it has {array.shape[0]}",
                            file=sample_name(sample) or None, hint="apply ArgmaxAcrossChannels first")
        for index, name in enumerate(self.label_names):
            sample[name] = (array == index).astype(np.float32)
            _derived_meta(sample, self.field, name, is_label=True)
        return sample


class SplitAcrossChannels(Transform):
    """Split a multi-channel field into one field per channel, each ``(1, *spatial)``.

    Implements Clara's ``SplitAcrossChannels`` (BraTS TC/WT/ET). The number of names must
    equal the number of channels. Each new field is a label (``meta is_label``) when the
    source is one (a label, or a field ThresholdValues / ArgmaxAcrossChannels produced).

    Args:
        field: the multi-channel field.
        channel_names: the new field names, one per channel.
    """

    clara_name = "SplitAcrossChannels"

    def __init__(self, field: str, channel_names: list[str]) -> None:
        self.field = as_fields(field, component=self.clara_name, arg="field")[0]
        self.channel_names = _names(channel_names, self.clara_name, "channel_names")
        super().__init__(field=field, channel_names=list(channel_names))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        array = _channels_first(self, sample, self.field)
        if array.shape[0] != len(self.channel_names):
            raise DataError(f"{self.clara_name}: field {self.field!r} has {array.shape[0]} "
                            f"channels but {len(self.channel_names)} channel_names were given",
                            file=sample_name(sample) or None)
        for index, name in enumerate(self.channel_names):
            sample[name] = np.ascontiguousarray(array[index:index + 1])
            _derived_meta(sample, self.field, name)
        return sample


#: BraTS label values: 1 necrotic / non-enhancing core, 2 oedema, 4 enhancing tumour.
BRATS_CLASSES = {"TC": (1, 4), "WT": (1, 2, 4), "ET": (4,)}


class ConvertToMultiChannelBasedOnBratsClasses(Transform):
    """Turn a BraTS label (values 0, 1, 2, 4) into 3 binary channels: TC, WT, ET.

    Implements Clara's ``ConvertToMultiChannelBasedOnBratsClasses``. Tumour core TC = {1, 4},
    whole tumour WT = {1, 2, 4}, enhancing tumour ET = {4}. ``class_names`` chooses and
    orders the channels (default ``["TC", "WT", "ET"]``). The result is channels first,
    ``(3, *spatial)``, float32.

    Args:
        fields: field name or list of names (usually ``"label"``).
        class_names: subset and order of ``TC``, ``WT``, ``ET``.
    """

    clara_name = "ConvertToMultiChannelBasedOnBratsClasses"

    def __init__(self, fields: str | list[str] = "label",
                 class_names: list[str] = ("TC", "WT", "ET")) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        self.class_names = _names(list(class_names), self.clara_name, "class_names")
        unknown = [c for c in self.class_names if c not in BRATS_CLASSES]
        if unknown:
            raise ConfigError(f"{self.clara_name}: class_names must be among TC, WT, ET; "
                              f"Received: class_names={list(class_names)!r}")
        super().__init__(fields=fields, class_names=list(class_names))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = _channels_first(self, sample, field)
            if array.shape[0] != 1:
                raise DataError(f"{self.clara_name}: field {field!r} must hold one channel of "
                                f"BraTS labels; it has {array.shape[0]}",
                                file=sample_name(sample) or None)
            sample[field] = np.concatenate(
                [np.isin(array, BRATS_CLASSES[c]) for c in self.class_names]).astype(np.float32)
            self.meta(sample, field)["channel_axis"] = 0
            self.meta(sample, field)["is_label"] = True
        return sample


class ProcessMulticlassPreds(Transform):
    """Make a classification output a flat vector of per-class probabilities.

    Implements Clara's ``ProcessMulticlassPreds`` (classification validation), whose exact
    processing Clara did not document: mmarctl flattens the prediction to ``(num_classes,)``
    float32 and checks it holds probabilities (finite, within [0, 1]); anything else is a
    DataError, since the AUC metric and the CSV writer expect probabilities.

    Args:
        field: the prediction field (default ``"model"``).
    """

    clara_name = "ProcessMulticlassPreds"

    def __init__(self, field: str = "model") -> None:
        self.field = as_fields(field, component=self.clara_name, arg="field")[0]
        super().__init__(field=field)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        array = np.asarray(self.require(sample, self.field), np.float32).reshape(-1)
        if not np.all(np.isfinite(array)) or array.min(initial=0) < 0 or array.max(initial=0) > 1:
            raise DataError(f"{self.clara_name}: field {self.field!r} must hold class "
                            f"probabilities in [0, 1]; got values from {array.min():.3g} to "
                            f"{array.max():.3g}", file=sample_name(sample) or None,
                            hint="the network's final_activation should be sigmoid or softmax")
        sample[self.field] = array
        return sample
