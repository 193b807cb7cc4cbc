"""The sub-pixel transposed convolution equals TensorFlow's, values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks import convolution, subpixel  # noqa: E402
from mmarctl.runtime.networks.fused_kernels import fused_inference  # noqa: E402


def reference(x, kernel, strides):
    shape = [x.shape[0]] + [n * s for n, s in zip(x.shape[1:-1], strides)] + [kernel.shape[-2]]
    return tf.nn.conv_transpose(x, kernel, shape, [1, *strides, 1], padding="SAME")


def value_and_grads(fn, x, kernel, strides):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = fn(x, kernel, strides)
        wide = tf.cast(y, tf.float64 if y.dtype == tf.float64 else tf.float32)
        loss = tf.reduce_sum(wide * tf.sin(wide))
    dtype = tf.float64 if x.dtype == tf.float64 else tf.float32
    return [np.asarray(tf.cast(t, dtype)) for t in (y, *tape.gradient(loss, [x, kernel]))]


@settings(max_examples=40, deadline=None)
@given(dims=st.sampled_from([2, 3]), data=st.data())
def test_equals_tensorflows_transposed_convolution(dims, data):
    """Any kernel size against any stride (larger, smaller, equal; per axis), odd sizes.

    Both sides run in float64, on TensorFlow's own kernels: in float32, oneDNN's strided
    convolutions (which the reference's input gradient is) give wrong values, at times
    uninitialised memory, for some axes smaller than the kernel or the stride (TensorFlow
    2.21; docs/performance.md, "A oneDNN bug"), which would make this check flaky.
    """
    strides = tuple(data.draw(st.lists(st.integers(1, 3), min_size=dims, max_size=dims)))
    taps = tuple(data.draw(st.lists(st.integers(1, 5), min_size=dims, max_size=dims)))
    size = tuple(data.draw(st.lists(st.integers(1, 5), min_size=dims, max_size=dims)))
    channels_in, channels_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(sum(size + taps + strides))
    x = tf.constant(rng.normal(size=(2, *size, channels_in)), tf.float64)
    kernel = tf.constant(rng.normal(size=(*taps, channels_out, channels_in)), tf.float64)
    for mine, theirs in zip(value_and_grads(subpixel.conv_transpose, x, kernel, strides),
                            value_and_grads(reference, x, kernel, strides), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-9, rtol=1e-9)


@pytest.mark.native_bfloat16
def test_bfloat16_within_rounding():
    rng = np.random.default_rng(5)
    x = tf.cast(rng.normal(size=(2, 6, 6, 6, 32)).astype(np.float32), tf.bfloat16)
    kernel = tf.cast(rng.normal(0, 0.1, (3, 3, 3, 2, 32)).astype(np.float32), tf.bfloat16)
    mine = value_and_grads(subpixel.conv_transpose, x, kernel, (2, 2, 2))
    theirs = value_and_grads(reference, x, kernel, (2, 2, 2))
    for a, b in zip(mine, theirs, strict=True):
        scale = float(np.abs(b).max())
        np.testing.assert_allclose(a / scale, b / scale, atol=2 ** -6)


@pytest.mark.parametrize("filters,strides,expected", [
    (2, 2, True),             # 16 phase channels: the tutorial UNet's last up-sampling
    (1, (2, 2, 2), True),
    (8, 2, False),            # 64 phase channels: measured slower
    (2, 1, False),            # no stride: an ordinary convolution already
])
def test_which_layers_take_it(filters, strides, expected):
    assert subpixel.suits((3, 3, 3, filters, 8), np.broadcast_to(strides, 3), "same", None,
                          (1, 1, 1)) is expected


@pytest.mark.parametrize("args", [{"padding": "valid"}, {"output_padding": 1},
                                  {"dilation_rate": 2}])
def test_other_paddings_and_dilations_keep_keras(args):
    kwargs = {"padding": "same", "output_padding": None, "dilation_rate": (1, 1, 1)}
    kwargs.update({k: (np.broadcast_to(v, 3) if k == "dilation_rate" else v)
                   for k, v in args.items()})
    assert not subpixel.suits((3, 3, 3, 2, 8), (2, 2, 2), **kwargs)


def layer_graph(layer, x, training, inside_fused_inference=False) -> list[str]:
    @tf.function
    def call(v):
        if inside_fused_inference:
            with fused_inference():
                return layer(v, training=training)
        return layer(v, training=training)

    return [op.type for op in call.get_concrete_function(x).graph.get_operations()]


def test_the_layer_uses_it_in_the_runtime_and_exports_keep_keras():
    layer = convolution.Conv3DTranspose(2, 3, strides=2, padding="same")
    x = tf.zeros((1, 4, 4, 4, 8))
    layer.build(x.shape)
    transposed = "Conv3DBackpropInputV2"
    assert transposed not in layer_graph(layer, x, True)
    assert transposed not in layer_graph(layer, x, False, inside_fused_inference=True)
    assert transposed in layer_graph(layer, x, False)  # what exports trace

    reference = keras.layers.Conv3DTranspose(2, 3, strides=2, padding="same")
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    x = tf.constant(np.random.default_rng(6).normal(size=(2, 5, 3, 4, 8)).astype(np.float32))

    @tf.function
    def predict(v):
        with fused_inference():
            return layer(v, training=False)

    np.testing.assert_allclose(predict(x).numpy(), reference(x).numpy(), atol=1e-5)


def test_gpus_keep_keras_transposed_convolution(monkeypatch):
    """Measured on CPUs only: with a GPU visible, training keeps Keras' op."""
    layer = convolution.Conv3DTranspose(2, 3, strides=2, padding="same")
    x = tf.zeros((1, 4, 4, 4, 8))
    layer.build(x.shape)
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: ["/device:GPU:0"] if kind == "GPU" else [])
    assert "Conv3DBackpropInputV2" in layer_graph(layer, x, True)
