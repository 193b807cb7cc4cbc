"""Inferers: sliding windows against direct prediction, MONAI's window rule, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.inferers.scan_window import TFScanWindowInferer
from mmarctl.runtime.inferers.simple import TFSimpleInferer
from mmarctl.runtime.inferers.windows import (axis_starts, coverage, importance_map,
                                             window_starts)


def linear(batch: np.ndarray) -> np.ndarray:
    """A channel-mixing, position-independent "network": 2 input -> 3 output channels."""
    weights = np.array([[1.0, 0.5, -1.0], [2.0, 0.0, 0.25]], np.float32)
    return batch @ weights


class Counting:
    """Wraps a predict function and records the batch sizes it is called with."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, batch):
        self.calls.append(batch.shape)
        return self.fn(batch)


def _image(shape):
    return np.random.default_rng(1).normal(size=shape).astype(np.float32)


def test_roi_covering_volume_is_one_direct_call():
    image = _image((1, 8, 6, 4, 2))
    predict = Counting(linear)
    out = TFScanWindowInferer(roi_size=[8, 6, 4])(predict, image)
    np.testing.assert_array_equal(out, linear(image))
    assert predict.calls == [(1, 8, 6, 4, 2)]


@pytest.mark.parametrize("blending", ["constant", "gaussian"])
def test_linear_network_slid_over_bigger_volume(blending):
    image = _image((1, 20, 13, 9, 2))
    predict = Counting(linear)
    out = TFScanWindowInferer(roi_size=[8, 8, 8], batch_size=4, overlap=0.5,
                              blending=blending)(predict, image)
    assert out.shape == (1, 20, 13, 9, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, linear(image), rtol=1e-5, atol=1e-5)
    assert all(shape[0] <= 4 for shape in predict.calls) and len(predict.calls) > 1


def test_volume_smaller_than_roi_is_padded_and_cropped():
    image = _image((1, 5, 3, 2))
    seen = Counting(linear)
    out = TFScanWindowInferer(roi_size=[8, 8])(seen, image)
    assert seen.calls == [(1, 8, 8, 2)]
    np.testing.assert_allclose(out, linear(image), rtol=1e-6)


def test_position_dependent_network_is_blended():
    # a "network" that returns 1 everywhere except 0 in a window's first row: with constant
    # blending each voxel gets the mean of its windows' values
    def edge(batch):
        out = np.ones(batch.shape[:-1] + (1,), np.float32)
        out[:, 0] = 0
        return out

    out = TFScanWindowInferer(roi_size=[4, 4], overlap=0.5)(edge, np.zeros((1, 8, 4, 1)))
    # windows along axis 0 start at 0, 2, 4: row 2 and 4 are first rows of one of two windows
    np.testing.assert_allclose(out[0, :, 0, 0], [0, 1, 0.5, 1, 0.5, 1, 1, 1])


def test_monai_window_rule():
    # MONAI: interval int(96 * 0.75) = 72; starts 0, 72 -> moved back to 104 for size 200
    assert axis_starts(200, 96, 72) == [0, 72, 104]
    assert axis_starts(96, 96, 96) == [0]
    assert axis_starts(97, 96, 72) == [0, 1]
    starts = window_starts((10, 4), (4, 4), 0.5)
    assert starts == [(0, 0), (2, 0), (4, 0), (6, 0)]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dims=st.sampled_from([2, 3]),
       overlap=st.sampled_from([0.0, 0.25, 0.5, 0.7]))
def test_coverage_counts_the_windows(data, dims, overlap):
    """The grid's per-axis product equals counting every window voxel by voxel."""
    roi = tuple(data.draw(st.lists(st.integers(1, 6), min_size=dims, max_size=dims)))
    size = tuple(r + data.draw(st.integers(0, 9)) for r in roi)
    counted = np.zeros(size, np.float32)
    for start in window_starts(size, roi, overlap):
        counted[tuple(slice(s, s + r) for s, r in zip(start, roi))] += 1
    np.testing.assert_array_equal(coverage(size, roi, overlap), counted)


def test_gaussian_importance_map():
    weights = importance_map((5, 4), "gaussian")
    assert weights.shape == (5, 4) and weights.dtype == np.float32
    sigma0, sigma1 = 5 * 0.125, 4 * 0.125
    expected = np.exp(-(2.0 ** 2) / (2 * sigma0 ** 2)) * np.exp(-(1.5 ** 2) / (2 * sigma1 ** 2))
    assert weights[0, 0] == pytest.approx(max(expected, weights.min()), rel=1e-5)
    assert weights[2, 1] == weights[2, 2] == weights.max()
    assert weights.min() >= 1e-3


def test_roi_entries_below_one_mean_whole_axis():
    image = _image((1, 6, 10, 2))
    seen = Counting(linear)
    TFScanWindowInferer(roi_size=[-1, 10])(seen, image)
    assert seen.calls == [(1, 6, 10, 2)]


def test_simple_inferer():
    image = _image((1, 4, 4, 2))
    np.testing.assert_array_equal(TFSimpleInferer()(linear, image), linear(image))


def test_simple_inferer_with_keras_model():
    keras = pytest.importorskip("keras")
    from mmarctl.runtime.networks.unet import Unet

    model = Unet(num_classes=2, nf_enc="4", nf_dec="4,4").build(3, 1)
    image = _image((1, 8, 8, 8, 1))
    direct = model(image).numpy()
    via_window = TFScanWindowInferer(roi_size=[8, 8, 8])(lambda b: model(b), image)
    np.testing.assert_allclose(via_window, direct, rtol=1e-6)
    assert isinstance(model, keras.Model)


@pytest.mark.parametrize("args", [
    {"roi_size": 96}, {"roi_size": [96]}, {"roi_size": [96, "a", 96]}, {"batch_size": 0},
    {"overlap": 1.0}, {"overlap": -0.1}, {"blending": "linear"},
])
def test_scan_window_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        TFScanWindowInferer(**{"roi_size": [8, 8, 8], **args})


def test_scan_window_bad_inputs():
    inferer = TFScanWindowInferer(roi_size=[4, 4, 4])
    with pytest.raises(ConfigError, match="roi_size has 3 axes"):
        inferer(linear, _image((1, 8, 8, 2)))
    with pytest.raises(DataError, match="expected one channels-last image"):
        inferer(linear, _image((2, 8, 8, 8, 2)))
    with pytest.raises(DataError, match="the network returned shape"):
        inferer(lambda b: b[:, :2], _image((1, 8, 8, 8, 2)))


def test_inferer_config_round_trips():
    inferer = TFScanWindowInferer(roi_size=[16, 16, 16], batch_size=2, blending="gaussian")
    again = TFScanWindowInferer(**inferer.get_config())
    assert again.get_config() == inferer.get_config()
    assert TFSimpleInferer(**TFSimpleInferer().get_config()).get_config() == {}


def test_network_failure_becomes_data_error():
    pytest.importorskip("keras")
    from mmarctl.runtime.networks.unet import Unet

    model = Unet(num_classes=2, nf_enc="4,4", nf_dec="4,4,4").build(2, 1)
    with pytest.raises(DataError, match=r"failed on input of shape \(1, 6, 8, 1\)") as info:
        TFSimpleInferer()(lambda b: model(b), np.zeros((1, 6, 8, 1), np.float32))
    assert "size divisor" in info.value.hint
    assert info.value.__cause__ is not None


def test_channel_mismatch_is_named_not_blamed_on_the_size():
    """A network taking 2 channels fed 1 (a channel-adding transform only in training):
    the line says so, as a config error (every case hits it: no skip_bad_cases advice),
    and gives no size-divisor or "use TFScanWindowInferer" advice."""
    pytest.importorskip("keras")
    from mmarctl.runtime.networks.unet import Unet

    model = Unet(num_classes=2, nf_enc="4,4", nf_dec="4,4,4").build(3, 2)
    inferer = TFScanWindowInferer(roi_size=[8, 8, 8])
    with pytest.raises(ConfigError, match=r"takes 2 image channel\(s\) but the transforms "
                                          r"give 1") as info:
        inferer(lambda b: model(b), np.zeros((1, 8, 8, 8, 1), np.float32))
    assert "size divisor" not in str(info.value) + info.value.hint
    assert "AddExtremePointsChannel" in info.value.hint


def test_size_hint_fits_the_inferer_in_use():
    """TFSimpleInferer has no roi_size; TFScanWindowInferer is not told to use itself."""
    pytest.importorskip("keras")
    from mmarctl.runtime.networks.unet import Unet

    model = Unet(num_classes=2, nf_enc="4,4", nf_dec="4,4,4").build(2, 1)
    with pytest.raises(DataError) as simple:
        TFSimpleInferer()(lambda b: model(b), np.zeros((1, 6, 8, 1), np.float32))
    assert "use TFScanWindowInferer" in simple.value.hint
    assert "in user code" not in str(simple.value)
    with pytest.raises(DataError) as scan:
        TFScanWindowInferer(roi_size=[-1, -1])(lambda b: model(b),
                                               np.zeros((1, 6, 8, 1), np.float32))
    assert "roi_size" in scan.value.hint and "use TFScanWindowInferer" not in scan.value.hint
