"""The shared helpers of runtime/transforms/base.py."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError
from mmarctl.runtime.transforms.base import (as_fields, case_name, channel_axis, check_sizes,
                                             is_label_field, per_channel, spatial_shape)


@pytest.mark.parametrize("meta, field, expected", [
    ({"image": {"filename": "/d/imagesTr/spleen_3.nii.gz"}}, "image", "spleen_3"),
    ({"image": {"filename": "C:\\data\\cxr_9.png"}}, "image", "cxr_9"),
    ({"image": {"filename": "/d/a.nii"}}, "model", "a"),  # falls back to any loaded field
    ({"image": {"filename": "/d/BraTS_7_t1.nii.gz",
                "filenames": ["/d/BraTS_7_t1.nii.gz", "/d/BraTS_7_t2.nii.gz"]}}, "image", "BraTS_7"),
    ({"image": {"filename": "/d/x1.nii", "filenames": ["/d/x1.nii", "/d/y1.nii"]}}, "image", "x1"),
    ({}, "image", "case"),
])
def test_case_name_table(meta, field, expected):
    assert case_name({"meta": meta}, field) == expected


@pytest.mark.parametrize("name, meta, expected", [
    ("label", {}, True), ("TC_label", {}, True), ("label_class1", {}, True),
    ("image", {}, False), ("model", {}, False),
    ("image", {"image": {"is_label": True}}, True), ("label", {"label": {"is_label": False}}, False),
])
def test_is_label_field_rule(name, meta, expected):
    assert is_label_field({"meta": meta}, name) is expected


def test_channel_axis_defaults_to_first_without_a_record():
    assert channel_axis({"meta": {}}, "model") == 0
    assert channel_axis({"meta": {"image": {"channel_axis": None}}}, "image") is None
    assert channel_axis({"meta": {"image": {"channel_axis": -1}}}, "image") == -1


def test_per_channel_and_spatial_shape():
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert spatial_shape(array, -1) == (2, 3) and spatial_shape(array, None) == (2, 3, 4)
    out = per_channel(array, -1, lambda x: x * 0 + x.sum())
    np.testing.assert_array_equal(out[0, 0], array.sum(axis=(0, 1)))


@pytest.mark.parametrize("value", [None, "", [], [""], ["image", 3], 7])
def test_as_fields_rejects(value):
    with pytest.raises(ConfigError, match="Received: fields="):
        as_fields(value, component="X")


@pytest.mark.parametrize("value, kwargs", [
    ([1, 2, 3, 4], {}), ([1.5, 2], {}), ([-1, 2], {}), ([True, 2], {}), ("96", {}),
    ([0.0, 1.0], {"integer": False}),
])
def test_check_sizes_rejects(value, kwargs):
    with pytest.raises(ConfigError, match="Received: size="):
        check_sizes(value, component="X", **kwargs)


def test_check_sizes_accepts():
    assert check_sizes([96, 96, -1], component="X", allow_minus_one=True) == [96, 96, -1]
    assert check_sizes([1.5, 2], component="X", integer=False) == [1.5, 2.0]
