"""ResidualUnet (MONAI's UNet in Keras): shapes, layout, arguments, training, saved weights.

Numerical equality with MONAI itself is tests/test_monai_unet_parity.py (needs torch).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mmarctl import catalog  # noqa: E402
from mmarctl.errors import ConfigError  # noqa: E402
from mmarctl.runtime import registry  # noqa: E402
from mmarctl.runtime.networks.resunet import ResidualUnet  # noqa: E402

SMALL = dict(num_classes=2, channels=[4, 8, 16], strides=[2, 2])


def _image(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---------------------------------------------------------------- shapes and layout

def test_3d_softmax_output_any_multiple_of_the_divisor():
    model = ResidualUnet(num_classes=3, channels="4,8,16", strides="2,2",
                         num_res_units=2).build(3, 2)
    assert model.input_shape == (None, None, None, None, 2)
    out = model(_image((2, 32, 48, 16, 2)), training=False).numpy()
    assert out.shape == (2, 32, 48, 16, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert model(_image((1, 4, 12, 20, 2))).shape == (1, 4, 12, 20, 3)


def test_2d_sigmoid_group_norm_stride1_level():
    net = ResidualUnet(num_classes=1, channels=[8, 8, 16], strides=[1, 2], norm="group",
                       num_groups=4, act="relu", final_activation="sigmoid",
                       data_format="channels_last")
    out = net.build(2, 1)(_image((1, 16, 24, 1))).numpy()
    assert out.shape == (1, 16, 24, 1)
    assert np.all((out > 0) & (out < 1))


@pytest.mark.parametrize("strides,divisor", [([2, 2], 4), ([2, 2, 2, 2], 16), ([2, 1, 3], 6),
                                             ([1], 1)])
def test_size_divisor_is_the_product_of_strides(strides, divisor):
    net = ResidualUnet(num_classes=2, channels=[4] * (len(strides) + 1), strides=strides)
    assert net.size_divisor == divisor


def test_stride_3_level_keeps_the_size():
    model = ResidualUnet(num_classes=2, channels=[4, 8], strides=[3], num_res_units=1).build(2, 1)
    assert model(_image((1, 9, 12, 1))).shape == (1, 9, 12, 2)


def test_layer_names_follow_monai_blocks():
    plain = ResidualUnet(**SMALL, padding="torch").build(3, 1)
    names = {layer.name for layer in plain.layers}
    assert {"image", "down0_pad", "down0_conv", "down0_norm", "down0_act", "down1_conv",
            "bottom_conv", "skip1", "up1_conv", "up1_crop", "up1_norm", "skip0", "up0_conv",
            "up0_crop", "probabilities"} <= names
    assert "bottom_pad" not in names  # stride 1: "same" padding
    assert "up0_norm" not in names and "up0_act" not in names  # top: MONAI's conv_only
    residual = ResidualUnet(**SMALL, num_res_units=2, padding="torch").build(3, 1)
    names = {layer.name for layer in residual.layers}
    assert {"down0_unit0_pad", "down0_unit0_conv", "down0_unit1_conv", "down0_residual_pad",
            "down0_residual", "down0_add", "bottom_residual", "up0_conv", "up0_norm",
            "up0_res_unit0_conv", "up0_res_add"} <= names
    assert "up0_res_unit0_norm" not in names  # last_conv_only at the top
    assert "up0_res_residual" not in names  # same channels, stride 1: identity shortcut


def test_only_standard_keras_layers():
    """Keras' layers, or mmarctl's subclasses of them whose inference graph is Keras' own."""
    from mmarctl.runtime.networks import convolution
    from mmarctl.runtime.networks.batch_norm import BatchNormalization
    from mmarctl.runtime.networks.prelu import PReLU

    subclasses = (BatchNormalization, convolution.Conv3D, convolution.Conv3DTranspose, PReLU)
    model = ResidualUnet(**SMALL, num_res_units=1, norm="batch", dropout=0.1).build(3, 1)
    for layer in model.layers:
        standard = type(layer).__module__.startswith("keras.src.layers.")
        assert standard or type(layer) in subclasses, layer.name


def test_torch_defaults_for_norms_and_activations():
    model = ResidualUnet(**SMALL, norm="batch").build(3, 1)
    norm = model.get_layer("down0_norm")
    assert (norm.momentum, norm.epsilon) == (0.9, 1e-5)  # torch momentum 0.1, eps 1e-5
    assert [w.shape for w in model.get_layer("down0_act").weights] == [(1, 1, 1, 1)]
    np.testing.assert_allclose(model.get_layer("down0_act").get_weights()[0], 0.25)
    instance = ResidualUnet(**SMALL).build(2, 1).get_layer("down1_norm")
    assert instance.weights == [] and instance.groups == 8 and instance.epsilon == 1e-5
    leaky = ResidualUnet(**SMALL, act="LeakyReLU").build(2, 1).get_layer("down0_act")
    assert leaky.negative_slope == pytest.approx(0.01)


def test_parameter_count_of_the_plain_net():
    # down0 1->4 (stride 2), down1 4->8, bottom 8->16, up1 (8+16)->4, up0 (4+4)->2; all
    # 3x3 with bias, one PReLU slope per block but the last, instance norm has no weights.
    model = ResidualUnet(**SMALL).build(2, 1)
    convs = [(1, 4), (4, 8), (8, 16), (24, 4), (8, 2)]
    assert model.count_params() == sum(9 * i * o + o for i, o in convs) + 4


def test_mixed_precision_outputs_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = ResidualUnet(**SMALL, num_res_units=1, norm="batch").build(2, 1)
        assert model(np.zeros((1, 16, 16, 1), np.float32)).dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize("args,message", [
    ({"channels": [4]}, "channels must be a list of at least 2 integers"),
    ({"channels": "4,x"}, "channels must be a list of integers or a comma string"),
    ({"strides": [2]}, "strides must be a list of 2 integers"),
    ({"strides": [2, 0]}, "strides must be a list of integers >= 1"),
    ({"kernel_size": 4}, "kernel_size must be an odd integer >= 1"),
    ({"up_kernel_size": 0}, "up_kernel_size must be an integer >= 1"),
    ({"num_res_units": -1}, "num_res_units must be an integer >= 0"),
    ({"act": "swish"}, "act must be one of 'prelu', 'relu', 'leakyrelu', 'elu'"),
    ({"norm": "layer"}, "norm must be one of 'instance', 'batch', 'group', 'none'"),
    ({"num_groups": 0}, "num_groups must be an integer >= 1"),
    ({"norm": "group", "num_groups": 3},
     r"num_groups must be a divisor of every normalised channel count \[4, 8, 16\]"),
    ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
    ({"bias": "yes"}, "bias must be true or false"),
    ({"padding": "valid"}, "padding must be one of 'same', 'torch'"),
    ({"num_classes": 0}, "num_classes must be an integer >= 1"),
    ({"final_activation": "relu"}, "final_activation must be one of"),
    ({"data_format": "NCDHW"}, "data_format must be one of"),
])
def test_bad_args_name_the_arg_and_the_expectation(args, message):
    with pytest.raises(ConfigError, match=f"^ResidualUnet: {message}.*; Received: "):
        ResidualUnet(**{**SMALL, **args})


def test_group_norm_must_divide_num_classes_with_residual_units():
    # MONAI normalises the top up block's output (num_classes channels) when it is residual.
    ResidualUnet(**SMALL, norm="group", num_groups=4)
    with pytest.raises(ConfigError, match=r"count \[2, 4, 8, 16\].*num_groups=4"):
        ResidualUnet(**SMALL, norm="group", num_groups=4, num_res_units=1)


def test_bad_spatial_dims():
    with pytest.raises(ConfigError, match="Received: spatial_dims=1"):
        ResidualUnet(**SMALL).build(1, 1)


def test_monai_spellings_and_config_round_trip():
    net = ResidualUnet(num_classes=2, channels="4, 8", strides=[2.0], act="PRELU", norm=None)
    assert (net.channels, net.strides, net.act, net.norm) == ([4, 8], [2], "prelu", None)
    again = ResidualUnet(**net.get_config())
    assert again.get_config() == net.get_config()
    assert registry.lookup("networks", "ResidualUnet") is ResidualUnet


def test_catalogue_defaults_and_required_args_match_the_constructor():
    params = inspect.signature(ResidualUnet.__init__).parameters
    entry = catalog.load("networks")["ResidualUnet"]["args"]
    assert set(entry) == set(params) - {"self"}
    for name, spec in entry.items():
        default = params[name].default
        if spec.get("required"):
            assert default is inspect.Parameter.empty, name
        else:
            assert spec["default"] == default, name


# ---------------------------------------------------------------- training and weights

def test_trains_with_dice_loss():
    from train_steps import compiled_step

    from mmarctl.runtime.losses.dice import Dice

    keras.utils.set_random_seed(0)
    image = np.zeros((2, 16, 16, 16, 1), np.float32)
    image[:, 4:12, 4:12, 4:12] = 1.0
    image += _image(image.shape) * 0.1
    label = (image > 0.5).astype(np.float32)
    model = ResidualUnet(**SMALL, num_res_units=1, norm="batch", dropout=0.1).build(3, 1)
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss_fn = Dice(skip_background=True)
    optimizer = keras.optimizers.Adam(1e-2)

    step = compiled_step(model, loss_fn, optimizer)

    losses = [float(step(image, label)) for _ in range(3)]
    assert all(np.isfinite(losses)), losses
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(changed), [w.path for w, c in zip(model.trainable_weights, changed) if not c]
    moving = model.get_layer("down0_unit0_norm").moving_mean.numpy()
    assert np.any(moving != 0)  # training mode updated the batch-norm statistics


def test_save_and_load_weights_round_trip(tmp_path):
    net = ResidualUnet(**SMALL, num_res_units=2, norm="batch")
    first = net.build(3, 1)
    x = _image((1, 16, 8, 16, 1), seed=3)
    first(x, training=True)  # move the batch-norm statistics off their initial values
    path = tmp_path / "resunet.weights.h5"
    first.save_weights(str(path))
    second = ResidualUnet(**net.get_config()).build(3, 1)
    assert not np.allclose(second(x).numpy(), first(x).numpy())
    second.load_weights(str(path))
    np.testing.assert_array_equal(second(x, training=False).numpy(),
                                  first(x, training=False).numpy())


def test_exports_with_open_spatial_sizes(tmp_path):
    """Standard layers only, so the frozen-graph and ONNX exports need nothing new."""
    from mmarctl.runtime.export.frozen_graph import load_frozen_graph, write_frozen_graph
    from mmarctl.runtime.export.serving import ServingSpec, serving_function

    model = ResidualUnet(**SMALL, num_res_units=1, norm="batch").build(3, 1)
    spec = ServingSpec((None, None, None, None, 1), 2)
    serve = serving_function(model, spec)
    x = _image((1, 16, 24, 8, 1))
    expected = model(x, training=False).numpy()
    frozen = load_frozen_graph(write_frozen_graph(serve, tmp_path / "model.fzn.pb"))
    np.testing.assert_allclose(frozen(x), expected, atol=1e-6)
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from mmarctl.runtime.export.onnx_model import load_onnx_model, write_onnx

    onnx = load_onnx_model(write_onnx(serve, spec, tmp_path / "model.onnx"))
    np.testing.assert_allclose(onnx(x), expected, atol=1e-5)
