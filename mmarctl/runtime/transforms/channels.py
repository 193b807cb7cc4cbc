"""Channel-layout transforms: where the channel axis is, and how many channels there are."""

from __future__ import annotations

import numpy as np

from mmarctl.errors import ConfigError
from mmarctl.runtime.transforms.base import FieldsTransform, Sample, Transform, as_fields


def _known_axis(sample: Sample, field: str) -> int | None:
    """The recorded channel axis; a field with no record is taken as having none."""
    props = sample.get("meta", {}).get(field, {})
    return props.get("channel_axis") if isinstance(props, dict) else None


class ConvertToChannelsFirst(FieldsTransform):
    """Put the channel axis of each field first: ``(x, y, z)`` -> ``(1, x, y, z)``.

    Implements Clara's ``ConvertToChannelsFirst``. An array without a channel axis gets a
    new leading axis; a channels-last array (multi-modal or RGB) has its last axis moved to
    the front; an array already channels first is left alone. A field whose loader did not
    record its channel axis (BYOC loaders) is taken to have none.

    Args:
        fields: field name or list of names.
    """

    clara_name = "ConvertToChannelsFirst"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field))
            axis = _known_axis(sample, field)
            if axis is None:
                array = array[np.newaxis]
            elif axis % array.ndim != 0:
                array = np.moveaxis(array, axis, 0)
            sample[field] = array  # a view: no copy of a large volume
            self.meta(sample, field)["channel_axis"] = 0
        return sample


class ConvertToChannelsLast(FieldsTransform):
    """Put the channel axis of each field last: ``(rows, cols)`` -> ``(rows, cols, 1)``.

    Implements Clara's ``ConvertToChannelsLast`` (classification MMARs use it before
    RepeatChannel). An array without a channel axis gets a new trailing axis; a channels-first
    array has its first axis moved to the end.

    Args:
        fields: field name or list of names.
    """

    clara_name = "ConvertToChannelsLast"

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field))
            axis = _known_axis(sample, field)
            if axis is None:
                array = array[..., np.newaxis]
            elif axis % array.ndim != array.ndim - 1:
                array = np.moveaxis(array, axis, -1)
            sample[field] = array  # a view: no copy of a large volume
            self.meta(sample, field)["channel_axis"] = -1
        return sample


class RepeatChannel(Transform):
    """Repeat the channels of each field ``repeat_times`` times along its channel axis.

    Implements Clara's ``RepeatChannel`` (grey X-ray -> 3 channels for ImageNet-style
    networks). A field without a channel axis first gets one at the end, as Clara's
    classification configs place ConvertToChannelsLast before it.

    Args:
        fields: field name or list of names.
        repeat_times: how many copies of the channels (integer >= 1).
    """

    clara_name = "RepeatChannel"

    def __init__(self, fields: str | list[str], repeat_times: int = 3) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        if isinstance(repeat_times, bool) or not isinstance(repeat_times, int) or repeat_times < 1:
            raise ConfigError(f"{self.clara_name}: repeat_times must be an integer >= 1; "
                              f"Received: repeat_times={repeat_times!r}")
        self.repeat_times = repeat_times
        super().__init__(fields=fields, repeat_times=repeat_times)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for field in self.fields:
            array = np.asarray(self.require(sample, field))
            axis = _known_axis(sample, field)
            if axis is None:
                array, axis = array[..., np.newaxis], -1
                self.meta(sample, field)["channel_axis"] = -1
            sample[field] = np.repeat(array, self.repeat_times, axis=axis)
        return sample
