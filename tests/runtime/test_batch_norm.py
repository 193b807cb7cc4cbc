"""mmarctl's BatchNormalization equals Keras' layer: values, gradients, moving statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks.batch_norm import BatchNormalization  # noqa: E402
from mmarctl.runtime.networks.fused_kernels import fused_inference  # noqa: E402


def pair(shape: tuple[int, ...], **args):
    """Keras' layer and ours, built for ``shape`` and holding the same random weights."""
    reference, ours = (cls(epsilon=1e-5, momentum=0.9, **args)
                       for cls in (keras.layers.BatchNormalization, BatchNormalization))
    reference.build(shape)
    ours.build(shape)
    rng = np.random.default_rng(3)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in reference.weights]
    reference.set_weights(weights)
    ours.set_weights(weights)  # same names and shapes: checkpoints are interchangeable
    return reference, ours


def value_and_grads(layer, x, weights, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [tf.cast(t, tf.float32).numpy() for t in (y, *grads)]


def assert_close(mine, theirs, atol):
    for a, b in zip(mine, theirs, strict=True):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a / scale, b / scale, atol=atol)


def graph_ops(fn, x) -> set[str]:
    return {op.type for op in fn.get_concrete_function(x).graph.get_operations()}


def data(shape, seed=0, dtype=tf.float32):
    rng = np.random.default_rng(seed)
    x = tf.cast(rng.normal(5.0, 3.0, shape).astype(np.float32), dtype)  # a large mean as well
    return x, tf.constant(rng.normal(size=shape).astype(np.float32))


@pytest.mark.parametrize("shape,args", [
    ((2, 12, 10, 8, 16), {}),                          # 3D, the networks' batch norm
    ((3, 9, 7, 6), {}),                                # 2D, odd sizes
    ((2, 6, 6, 6, 2), {"center": False, "scale": False}),
])
def test_training_equals_keras(shape, args):
    reference, ours = pair(shape, **args)
    x, weights = data(shape)
    assert "FusedBatchNormV3" in graph_ops(tf.function(lambda v: ours(v, training=True)), x)
    assert_close(value_and_grads(ours, x, weights, True),
                 value_and_grads(reference, x, weights, True), atol=2e-5)
    # One training call each (tracing runs no update): the same moving statistics.
    for theirs, mine in zip(reference.non_trainable_weights, ours.non_trainable_weights,
                            strict=True):
        assert mine.name == theirs.name
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5)


def test_moving_statistics_use_the_biased_batch_variance():
    reference, ours = pair((4, 3, 3, 3, 4))
    x, _ = data((4, 3, 3, 3, 4), seed=1)
    reference(x, training=True)
    ours(x, training=True)
    np.testing.assert_allclose(ours.moving_variance.numpy(), reference.moving_variance.numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("shape", [(2, 6, 5, 4, 8), (3, 7, 7, 3)])
def test_fused_inference_equals_keras(shape):
    reference, ours = pair(shape)
    x, _ = data(shape, seed=2)

    @tf.function
    def fused(v):
        with fused_inference():
            return ours(v, training=False)

    assert "FusedBatchNormV3" in graph_ops(fused, x)
    np.testing.assert_allclose(fused(x).numpy(), reference(x, training=False).numpy(),
                               atol=2e-5, rtol=1e-5)


def test_exported_graphs_keep_the_plain_operations():
    """Exports trace the model outside fused_inference: no batch-norm kernel to convert."""
    _, layer = pair((1, 6, 6, 6, 8))
    x = tf.zeros((1, 6, 6, 6, 8))
    assert "FusedBatchNormV3" not in graph_ops(tf.function(lambda v: layer(v, training=False)), x)


def test_bfloat16_within_one_rounding_of_keras():
    shape = (2, 8, 8, 8, 16)
    reference, ours = pair(shape, dtype="mixed_bfloat16")
    x, weights = data(shape, seed=4, dtype=tf.bfloat16)
    mine = value_and_grads(ours, x, weights, True)
    assert ours(x, training=True).dtype == tf.bfloat16
    assert_close(mine, value_and_grads(reference, x, weights, True), atol=2 ** -7)


def fused_widths(fn, x) -> list[int]:
    """The channel count each FusedBatchNormV3 of ``fn``'s graph normalises."""
    graph = fn.get_concrete_function(x).graph
    return [int(op.inputs[0].shape[-1]) for op in graph.get_operations()
            if op.type == "FusedBatchNormV3"]


@pytest.mark.parametrize("shape", [
    (2, 6, 6, 6, 2),      # 2 channels: 8 pixels per 16-value row
    (1, 4, 4, 4, 1),
    (2, 5, 4, 4, 8),      # 2D-sized odd axes, 2 pixels per row
    (2, 4, 4, 6, 24),     # 48-value rows: 2 pixels
    (3, 8, 8, 6),         # 2D, 6 channels: 48-value rows of 8 pixels
])
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_few_channels_train_on_whole_lanes_and_equal_keras(shape, policy):
    """Channels outside 16-blocks are normalised as lcm(C, 16) lanes, with C's statistics."""
    reference, ours = pair(shape, dtype=policy)
    dtype = tf.bfloat16 if policy == "mixed_bfloat16" else tf.float32
    x, weights = data(shape, seed=8, dtype=dtype)
    train = tf.function(lambda v: ours(v, training=True))
    assert set(fused_widths(train, x)) == {math.lcm(shape[-1], 16)}
    atol = 2 ** -7 if dtype == tf.bfloat16 else 2e-5
    assert_close(value_and_grads(ours, x, weights, True),
                 value_and_grads(reference, x, weights, True), atol=atol)
    for theirs, mine in zip(reference.non_trainable_weights, ours.non_trainable_weights,
                            strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4)


def test_inference_on_lanes_equals_keras():
    reference, ours = pair((2, 6, 6, 6, 2))
    x, _ = data((2, 6, 6, 6, 2), seed=9)

    @tf.function
    def fused(v):
        with fused_inference():
            return ours(v, training=False)

    assert fused_widths(fused, x) == [16]
    np.testing.assert_allclose(fused(x).numpy(), reference(x, training=False).numpy(),
                               atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 3, 3, 3, 2), (1, 1, 1, 2, 8)])
def test_pixel_counts_outside_whole_rows(shape):
    """27 pixels do not fill 16-value rows of 2 channels; one row has no variance. bfloat16
    keeps Keras' graph there (oneDNN's slow path), float32 the per-channel image."""
    _, plain = pair(shape, dtype="mixed_bfloat16")
    x = tf.zeros(shape, tf.bfloat16)
    assert fused_widths(tf.function(lambda v: plain(v, training=True)), x) == []
    _, image = pair(shape)
    x = tf.zeros(shape)
    assert fused_widths(tf.function(lambda v: image(v, training=True)), x) == [shape[-1]]


def test_unknown_pixel_counts_keep_the_per_channel_image():
    _, layer = pair((1, 4, 4, 4, 2))

    @tf.function(input_signature=[tf.TensorSpec((None, 4, 4, 4, 2))])
    def train_call(v):
        return layer(v, training=True)

    assert fused_widths(train_call, tf.zeros((2, 4, 4, 4, 2))) == [2]


def test_lane_gradients_of_a_large_mean_stay_accurate():
    """The statistics term of the written-out gradient nearly cancels x's part of it when
    the mean is large: an error in it would show (float32 against Keras, 48^3 x 2 as in the
    tutorial UNet's top level; mean 13 standard deviations: the kernel's own float32 sums
    lose the mean at some hundreds, see channel_lanes)."""
    shape = (2, 48, 48, 48, 2)
    reference, ours = pair(shape)
    x, weights = data(shape, seed=10)
    x = x + 35.0
    mine, theirs = (value_and_grads(layer, x, weights, True) for layer in (ours, reference))
    assert_close(mine[:2], theirs[:2], atol=1e-4)  # values and dx
    # gamma's and beta's: the kernels' float32 sums of 221184 products, to 1e-3 of the sum
    assert_close(mine[2:], theirs[2:], atol=2e-3)


def test_a_frozen_layer_in_training_uses_and_keeps_its_moving_statistics():
    reference, ours = pair((2, 5, 5, 5, 4))
    reference.trainable = ours.trainable = False
    before = [w.numpy().copy() for w in ours.non_trainable_weights]
    x, _ = data((2, 5, 5, 5, 4), seed=5)
    np.testing.assert_allclose(ours(x, training=True).numpy(),
                               reference(x, training=True).numpy(), atol=2e-5, rtol=1e-5)
    for kept, now in zip(before, ours.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(now.numpy(), kept)


def test_unknown_batch_trains_fused():
    reference, ours = pair((1, 4, 4, 4, 4))
    x, _ = data((3, 4, 4, 4, 4), seed=6)

    @tf.function(input_signature=[tf.TensorSpec((None, 4, 4, 4, 4))])
    def train_call(v):
        return ours(v, training=True)

    assert "FusedBatchNormV3" in graph_ops(train_call, x)
    np.testing.assert_allclose(train_call(x).numpy(), reference(x, training=True).numpy(),
                               atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("args", [{"axis": 1}, {"renorm": True}])
def test_keras_only_options_take_keras_computation(args):
    reference, ours = pair((2, 4, 4, 4, 4), **args)
    x, _ = data((2, 4, 4, 4, 4), seed=7)
    assert "FusedBatchNormV3" not in graph_ops(tf.function(lambda v: ours(v, training=True)), x)
    np.testing.assert_allclose(ours(x, training=True).numpy(),
                               reference(x, training=True).numpy(), atol=2e-5, rtol=1e-5)


def test_gpus_keep_the_plain_graph(monkeypatch):
    """The fused form is measured on CPUs only: with a GPU visible, training stays plain."""
    _, layer = pair((1, 6, 6, 6, 8))
    x = tf.zeros((1, 6, 6, 6, 8))
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: ["/device:GPU:0"] if kind == "GPU" else [])
    assert "FusedBatchNormV3" not in graph_ops(tf.function(lambda v: layer(v, training=True)), x)


def test_networks_with_batch_norm_use_this_layer():
    from mmarctl.runtime.networks.resunet import ResidualUnet

    model = ResidualUnet(num_classes=2, channels=[4, 8], strides=[2], norm="batch").build(3, 1)
    norms = [layer for layer in model.layers if "norm" in layer.name]
    assert norms and all(type(layer) is BatchNormalization for layer in norms)
