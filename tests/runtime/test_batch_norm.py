"""mmarctl's BatchNormalization equals Keras' layer: values, gradients, moving statistics."""

from __future__ import annotations

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


@pytest.mark.parametrize("channels", [2, 8, 24])
def test_bfloat16_with_channels_outside_whole_blocks_stays_plain(channels):
    """oneDNN's bfloat16 batch norm is slow below 16-channel blocks: Keras' graph instead."""
    _, layer = pair((1, 4, 4, 4, channels), dtype="mixed_bfloat16")
    x = tf.zeros((1, 4, 4, 4, channels), tf.bfloat16)
    assert "FusedBatchNormV3" not in graph_ops(tf.function(lambda v: layer(v, training=True)), x)


def test_float32_with_few_channels_is_fused():
    _, layer = pair((1, 4, 4, 4, 2))
    x = tf.zeros((1, 4, 4, 4, 2))
    assert "FusedBatchNormV3" in graph_ops(tf.function(lambda v: layer(v, training=True)), x)


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
