"""Networks: output shapes and dtypes, parameter counts, config round-trips, bad args."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mmarctl.errors import ConfigError  # noqa: E402
from mmarctl.runtime import registry  # noqa: E402
from mmarctl.runtime.networks.unet import Unet  # noqa: E402


def _probabilities(model, shape):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    return np.asarray(model(x, training=False))


# ---------------------------------------------------------------- Unet

def test_unet_3d_softmax_output():
    net = Unet(num_classes=3, nf_enc="4,8", nf_dec="8,8,4,4")
    model = net.build(3, 1)
    out = _probabilities(model, (2, 16, 8, 12, 1))
    assert out.shape == (2, 16, 8, 12, 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert model.input_shape == (None, None, None, None, 1)


def test_unet_2d_sigmoid_group_norm():
    net = Unet(num_classes=1, nf_enc=[4, 8], nf_dec=[8, 4, 4], use_group_norm=True,
               final_activation="sigmoid", data_format="channels_last")
    out = _probabilities(net.build(2, 2), (1, 8, 4, 2))
    assert out.shape == (1, 8, 4, 1)
    assert np.all((out > 0) & (out < 1))


def test_unet_spleen_defaults_param_count():
    # Clara spleen sizes; the count is that of the documented layout (one conv per entry).
    model = Unet(num_classes=2, use_batch_norm=True).build(3, 1)
    convs = [(1, 32), (32, 64), (64, 64), (64, 64), (64, 64),  # encoder + bottleneck
             (128, 64), (128, 64), (128, 64), (96, 64),  # decoder: upsampled + skip
             (64, 32), (32, 32)]  # extra full-resolution convs
    expected = sum(27 * i * o for i, o in convs)  # no bias before batch norm
    expected += sum(4 * o for _, o in convs)  # batch norm gamma, beta, mean, variance
    expected += 32 * 2 + 2  # 1x1 head
    assert model.count_params() == expected


def test_unet_mixed_precision_outputs_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = Unet(num_classes=2, nf_enc="4", nf_dec="4,4").build(3, 1)
        out = model(np.zeros((1, 4, 4, 4, 1), np.float32))
        assert out.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("args", [
    {"nf_enc": "4,x"},
    {"nf_enc": []},
    {"nf_dec": "8"},  # fewer than len(nf_enc) + 1
    {"num_classes": 0},
    {"use_batch_norm": "maybe"},
    {"use_batch_norm": True, "use_group_norm": True},
    {"final_activation": "relu"},
    {"data_format": "NCHW"},
])
def test_unet_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        Unet(**args)


def test_unet_bad_spatial_dims():
    with pytest.raises(ConfigError, match="Received: spatial_dims=4"):
        Unet().build(4, 1)


def test_unet_config_round_trip():
    net = Unet(num_classes=3, nf_enc="4,8", nf_dec=[8, 8, 4], use_group_norm=True)
    again = Unet(**net.get_config())
    assert again.get_config() == net.get_config()
    assert again.nf_dec == [8, 8, 4]


def test_registry_resolves_network_names():
    assert registry.lookup("networks", "Unet") is Unet
