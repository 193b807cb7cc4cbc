"""Label and post transforms: argmax, thresholds, splits, BraTS channels, copied properties."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.labels import (ArgmaxAcrossChannels,
                                               ConvertToMultiChannelBasedOnBratsClasses,
                                               CopyProperties, ProcessMulticlassPreds,
                                               SplitAcrossChannels, SplitBasedOnLabel,
                                               ThresholdValues)

RNG = np.random.default_rng(0)


def test_argmax_keeps_a_channel_axis_and_breaks_ties_low():
    model = np.array([[[0.2, 0.5]], [[0.7, 0.5]], [[0.1, 0.0]]], np.float32)  # (3, 1, 2)
    sample = ArgmaxAcrossChannels("model")({"model": model, "meta": {}}, RNG)
    np.testing.assert_array_equal(sample["model"], [[[1, 0]]])
    assert sample["model"].dtype == np.float32
    assert sample["meta"]["model"]["channel_axis"] == 0


def test_argmax_channels_last_field():
    model = np.zeros((2, 2, 3), np.float32)
    model[..., 2] = 1
    sample = {"model": model, "meta": {"model": {"channel_axis": -1}}}
    np.testing.assert_array_equal(ArgmaxAcrossChannels("model")(sample, RNG)["model"], np.full((1, 2, 2), 2))


@pytest.mark.parametrize("threshold, values, expected", [
    (0.5, [0.2, 0.5, 0.51, 1.0], [0, 0, 1, 1]),
    (0, [-1, 0, 2], [0, 0, 1]),
])
def test_threshold_values_table(threshold, values, expected):
    sample = ThresholdValues("model", threshold=threshold)({"model": np.array(values, np.float32)}, RNG)
    np.testing.assert_array_equal(sample["model"], expected)


def test_copy_properties_deep_copies_the_affine():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    sample = {"image": np.zeros(2), "model": np.zeros(2), "p": np.zeros(2),
              "meta": {"image": {"affine": affine, "pixdim": [2, 2, 2]}}}
    CopyProperties(["model", "p"], from_field="image", properties=["affine", "pixdim"])(sample, RNG)
    np.testing.assert_array_equal(sample["meta"]["model"]["affine"], affine)
    assert sample["meta"]["p"]["pixdim"] == [2, 2, 2]
    sample["meta"]["model"]["affine"][0, 0] = 9
    assert affine[0, 0] == 2


def test_copy_properties_missing_property_is_a_data_error():
    sample = {"image": np.zeros(2), "model": np.zeros(2), "meta": {"image": {"pixdim": [1]}}}
    with pytest.raises(DataError, match="has no property 'affine' \\(it has: pixdim\\)"):
        CopyProperties("model", from_field="image")(sample, RNG)


def test_copy_properties_missing_target_field():
    sample = {"image": np.zeros(2), "meta": {"image": {"affine": np.eye(4)}}}
    with pytest.raises(DataError, match="CopyProperties: field 'model' is missing"):
        CopyProperties("model")(sample, RNG)


def test_split_based_on_label():
    label = np.array([[[0, 1], [2, 5]]], np.float32)
    sample = {"label": label, "meta": {"label": {"affine": np.eye(4), "channel_axis": 0}}}
    SplitBasedOnLabel("label", ["c0", "c1", "c2"])(sample, RNG)
    np.testing.assert_array_equal(sample["c0"], [[[1, 0], [0, 0]]])
    np.testing.assert_array_equal(sample["c2"], [[[0, 0], [1, 0]]])
    assert sample["meta"]["c1"]["affine"] is not None and sample["meta"]["c1"]["channel_axis"] == 0


def test_split_based_on_label_needs_one_channel():
    sample = {"model": np.zeros((2, 3, 3)), "meta": {}}
    with pytest.raises(DataError, match="one channel of class indices") as info:
        SplitBasedOnLabel("model", ["a", "b"])(sample, RNG)
    assert "ArgmaxAcrossChannels" in info.value.hint


def test_split_across_channels():
    model = np.stack([np.full((2, 2), i, np.float32) for i in range(3)])
    sample = SplitAcrossChannels("model", ["TC", "WT", "ET"])({"model": model, "meta": {}}, RNG)
    assert sample["WT"].shape == (1, 2, 2) and (sample["ET"] == 2).all()
    with pytest.raises(DataError, match="has 3 channels but 2 channel_names"):
        SplitAcrossChannels("model", ["a", "b"])({"model": model, "meta": {}}, RNG)


@pytest.mark.parametrize("class_names, expected", [
    (["TC", "WT", "ET"], [[0, 1, 0, 1], [0, 1, 1, 1], [0, 0, 0, 1]]),
    (["ET"], [[0, 0, 0, 1]]),
])
def test_brats_classes_table(class_names, expected):
    label = np.array([0, 1, 2, 4], np.float32)  # (x,) with no channel axis
    sample = {"label": label, "meta": {"label": {"channel_axis": None}}}
    ConvertToMultiChannelBasedOnBratsClasses("label", class_names=class_names)(sample, RNG)
    np.testing.assert_array_equal(sample["label"], expected)
    assert sample["meta"]["label"]["channel_axis"] == 0


def test_process_multiclass_preds_flattens_and_checks_probabilities():
    sample = ProcessMulticlassPreds("model")({"model": np.array([[0.1, 0.9, 0.5]])}, RNG)
    np.testing.assert_array_equal(sample["model"], np.array([0.1, 0.9, 0.5], np.float32))
    with pytest.raises(DataError, match="probabilities in \\[0, 1\\]") as info:
        ProcessMulticlassPreds("model")({"model": np.array([3.2, -1.0])}, RNG)
    assert "final_activation" in info.value.hint
    with pytest.raises(DataError, match="probabilities"):
        ProcessMulticlassPreds("model")({"model": np.array([np.nan])}, RNG)


@pytest.mark.parametrize("cls, args, message", [
    (ThresholdValues, {"fields": "model", "threshold": "0.5"}, "Received: threshold='0.5'"),
    (SplitBasedOnLabel, {"field": "label", "label_names": []}, "Received: label_names=\\[\\]"),
    (SplitBasedOnLabel, {"field": "label", "label_names": ["a", "a"]}, "distinct"),
    (SplitAcrossChannels, {"field": "label", "channel_names": "TC"}, "Received: channel_names='TC'"),
    (CopyProperties, {"fields": "model", "properties": []}, "Received: properties=\\[\\]"),
    (ConvertToMultiChannelBasedOnBratsClasses, {"class_names": ["TC", "XX"]}, "among TC, WT, ET"),
    (ArgmaxAcrossChannels, {"fields": None}, "Received: fields=None"),
])
def test_bad_arguments_are_config_errors(cls, args, message):
    with pytest.raises(ConfigError, match=message):
        cls(**args)


@pytest.mark.parametrize("cls, args", [
    (ArgmaxAcrossChannels, {"fields": "x"}),
    (ThresholdValues, {"fields": "x", "threshold": 0.5}),
    (SplitBasedOnLabel, {"field": "x", "label_names": ["a"]}),
    (SplitAcrossChannels, {"field": "x", "channel_names": ["a"]}),
    (ConvertToMultiChannelBasedOnBratsClasses, {"fields": "x"}),
    (ProcessMulticlassPreds, {"field": "x"}),
])
def test_missing_field_names_field_and_component(cls, args):
    with pytest.raises(DataError, match=f"{cls.__name__}: field 'x' is missing"):
        cls(**args)({"model": np.zeros(2), "meta": {}}, RNG)


@pytest.mark.parametrize("cls, args", [
    (ArgmaxAcrossChannels, {"fields": "model"}),
    (ThresholdValues, {"fields": ["model"], "threshold": 0.3}),
    (CopyProperties, {"fields": ["model"], "from_field": "image", "properties": ["affine"]}),
    (SplitBasedOnLabel, {"field": "model", "label_names": ["a", "b"]}),
    (SplitAcrossChannels, {"field": "model", "channel_names": ["a", "b"]}),
    (ConvertToMultiChannelBasedOnBratsClasses, {"fields": ["label"], "class_names": ["WT"]}),
    (ProcessMulticlassPreds, {"field": "model"}),
])
def test_get_config_round_trip(cls, args):
    t = cls(**args)
    assert t.get_config() == args
    assert cls(**t.get_config()).get_config() == args
