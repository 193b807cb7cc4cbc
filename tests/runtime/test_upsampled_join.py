"""Decoder joins at low resolution equal up-sampling + concatenation + convolution, and the
Unet takes them in its runtime graphs without changing what checkpoints record."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks import fused_kernels, upsampled_join  # noqa: E402
from mmarctl.runtime.networks.convolution import convolution  # noqa: E402
from mmarctl.runtime.networks.unet import Unet  # noqa: E402


def plain_join(low, skip, kernel, low_first=True):
    up = low
    for axis in range(1, low.shape.rank - 1):
        up = tf.repeat(up, 2, axis=axis)
    joined = tf.concat([up, skip] if low_first else [skip, up], axis=-1)
    return upsampled_join._convolve(joined, kernel, "SAME")


def value_and_grads(fn, low, skip, kernel, low_first):
    with tf.GradientTape() as tape:
        tape.watch([low, skip, kernel])
        y = fn(low, skip, kernel, low_first)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.sin(tf.cast(y, tf.float32)))
    grads = tape.gradient(loss, [low, skip, kernel])
    return [np.asarray(tf.cast(t, tf.float32)) for t in (y, *grads)]


def tensors(rng, dtype, batch, sizes, low_channels, skip_channels, out_channels):
    dims = len(sizes)
    low = rng.normal(size=(batch, *sizes, low_channels))
    skip = rng.normal(size=(batch, *(2 * n for n in sizes), skip_channels))
    kernel = rng.normal(size=(3,) * dims + (low_channels + skip_channels, out_channels)) * 0.3
    return [tf.constant(t.astype(np.float32), dtype) for t in (low, skip, kernel)]


@settings(max_examples=40, deadline=None)
@given(dims=st.sampled_from([2, 3]), low_first=st.booleans(), data=st.data())
def test_equals_upsampling_concatenation_and_convolution(dims, low_first, data):
    """Values and all three gradients, any sizes (odd, 1), channel counts and input order."""
    sizes = tuple(data.draw(st.lists(st.integers(1, 5), min_size=dims, max_size=dims)))
    channels = [data.draw(st.integers(1, 5)) for _ in range(3)]
    rng = np.random.default_rng(sum(sizes) + sum(channels))
    low, skip, kernel = tensors(rng, tf.float32, 2, sizes, *channels)
    expected = value_and_grads(plain_join, low, skip, kernel, low_first)
    got = value_and_grads(upsampled_join.joined_convolution, low, skip, kernel, low_first)
    for name, e, g in zip(("value", "d_low", "d_skip", "d_kernel"), expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * np.abs(e).max(), err_msg=name)


def test_bfloat16_within_rounding():
    rng = np.random.default_rng(3)
    low, skip, kernel = tensors(rng, tf.bfloat16, 2, (6, 5, 4), 8, 4, 4)
    exact = value_and_grads(plain_join, *(tf.cast(t, tf.float32) for t in (low, skip, kernel)),
                            True)
    got = value_and_grads(upsampled_join.joined_convolution, low, skip, kernel, True)
    for name, e, g in zip(("value", "d_low", "d_skip", "d_kernel"), exact, got):
        # a few bfloat16 roundings (8 bits) of the largest term
        assert np.abs(g - e).max() <= 0.05 * np.abs(e).max(), name


def test_suits_only_same_stride_one_3_tap_convolutions_on_twice_the_size():
    dims = 3
    low = tf.zeros((1, 8, 8, 8, 4))
    skip = tf.zeros((1, 16, 16, 16, 4))
    layer = convolution(dims)(4, 3, padding="same")
    layer.build(skip.shape[:-1] + (8,))
    assert upsampled_join.suits(low, skip, layer)
    for kwargs in ({"kernel_size": 5}, {"strides": 2}, {"dilation_rate": 2},
                   {"padding": "valid"}, {"kernel_size": (3, 3, 1)}):
        other = convolution(dims)(4, **{"kernel_size": 3, "padding": "same", **kwargs})
        assert not upsampled_join.suits(low, skip, other), kwargs
    assert not upsampled_join.suits(low, tf.zeros((1, 16, 16, 14, 4)), layer)  # not 2x
    assert not upsampled_join.suits(tf.zeros((1, 6, 6, 6, 4)), tf.zeros((1, 12, 12, 12, 4)),
                                    layer)  # too small to gain (module docstring)
    symbolic = keras.KerasTensor((None, None, 8, 8, 4))
    assert not upsampled_join.suits(symbolic, skip, layer)  # unknown size


def test_layer_call_joined_adds_bias_and_activation():
    rng = np.random.default_rng(1)
    low, skip, kernel = tensors(rng, tf.float32, 1, (8, 8), 3, 2, 4)
    layer = convolution(2)(4, 3, padding="same", activation="relu")
    layer.build(skip.shape[:-1] + (5,))
    layer.kernel.assign(kernel)
    layer.bias.assign(rng.normal(size=4).astype(np.float32))
    up = tf.repeat(tf.repeat(low, 2, axis=1), 2, axis=2)
    expected = layer(tf.concat([up, skip], axis=-1))
    for training in (False, True):
        np.testing.assert_allclose(layer.call_joined(low, skip, training=training), expected,
                                   rtol=1e-5, atol=1e-5)


def small_unet(**norm):
    keras.utils.set_random_seed(0)
    return Unet(num_classes=2, nf_enc="4,8", nf_dec="8,8,4,4", **norm).build(3, 1)


def count_joins():
    return mock.patch.object(upsampled_join, "joined_convolution",
                             wraps=upsampled_join.joined_convolution)


@pytest.mark.parametrize("norm", [{}, {"use_group_norm": True}, {"use_batch_norm": True}])
def test_unet_runtime_graph_equals_the_functional_graph(norm):
    """Training step output and gradients; the 12^3 join is low-resolution, the 6^3 one not."""
    model = small_unet(**norm)
    images = tf.constant(np.random.default_rng(2).normal(size=(2, 24, 24, 24, 1)), tf.float32)
    functional = keras.Model(model.inputs, model.outputs)  # the same layers, plain graph

    def forward_and_grads(net):
        with tf.GradientTape() as tape:
            probabilities = net(images, training=True)
            loss = tf.reduce_sum(probabilities[..., 1] * tf.sin(probabilities[..., 1]))
        return [probabilities, *tape.gradient(loss, model.trainable_variables)]

    with count_joins() as joins:
        runtime = forward_and_grads(model)
    assert joins.call_count == 1  # dec2 (12^3 up to 24^3); dec1 (6^3) is below the threshold
    for got, expected in zip(runtime, forward_and_grads(functional)):
        # float32 summation order only; normalisation by small deviations magnifies it
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def test_unet_fused_inference_takes_joins_and_plain_predict_does_not():
    model = small_unet(use_group_norm=True)
    images = tf.constant(np.random.default_rng(4).normal(size=(1, 24, 24, 24, 1)), tf.float32)
    with count_joins() as joins:
        plain = model(images, training=False)
        assert joins.call_count == 0  # exports trace this graph
        with fused_kernels.fused_inference():
            fused = model(images, training=False)
        assert joins.call_count == 1
    np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5)


def test_unet_keeps_the_functional_graph_with_a_gpu_visible():
    model = small_unet()
    images = tf.zeros((1, 24, 24, 24, 1))
    with count_joins() as joins, mock.patch.object(
            tf.config, "list_logical_devices", return_value=["GPU:0"]):
        model(images, training=True)
    assert joins.call_count == 0


def test_unet_checkpoint_records_what_a_plain_functional_model_does(tmp_path):
    """Same variables under the same keys: checkpoints from before the runtime graph load."""
    model = small_unet(use_batch_norm=True)
    plain = keras.Model(model.inputs, model.outputs)
    tf.train.Checkpoint(model=model).write(str(tmp_path / "unet"))
    tf.train.Checkpoint(model=plain).write(str(tmp_path / "plain"))
    assert (tf.train.list_variables(str(tmp_path / "unet"))
            == tf.train.list_variables(str(tmp_path / "plain")))
    names = [layer.name for layer in model.layers]
    assert {"enc0_norm", "bottleneck_norm", "dec2_norm", "up1", "skip1"} <= set(names)
