"""Decoder joins at low resolution equal up-sampling + concatenation + convolution."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks import upsampled_join  # noqa: E402
from mmarctl.runtime.networks.convolution import convolution  # noqa: E402


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


@pytest.mark.native_bfloat16
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


GRAPPLER_PROBE = """
import numpy as np, tensorflow as tf
from mmarctl.runtime.networks import upsampled_join
rng = np.random.default_rng(0)
low = tf.constant(rng.normal(size=(1, 8, 8, 8, 4)).astype(np.float32))
skip = tf.constant(rng.normal(size=(1, 16, 16, 16, 4)).astype(np.float32))
kernel = tf.Variable(rng.normal(size=(3, 3, 3, 8, 4)).astype(np.float32))

@tf.function
def step(low, skip):
    with tf.GradientTape() as tape:
        tape.watch(low)
        y = upsampled_join.joined_convolution(low, skip, kernel)
        loss = tf.reduce_sum(y * y)
    return tape.gradient(loss, [low, kernel])

step(low, skip)
"""


def test_training_graph_optimizes_without_errors():
    """Grappler optimizes a join's training graph without an error line: a ``Pad`` feeding
    the pair convolution made the remapper fail (and print to every run's stderr)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    result = subprocess.run([sys.executable, "-c", GRAPPLER_PROBE], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    failures = [line for line in result.stderr.splitlines() if "meta_optimizer" in line
                and "failed" in line]
    assert not failures, failures
