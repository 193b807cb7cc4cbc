"""mmarctl's GroupNormalization equals Keras' layer: values, gradients, weights, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks.fused_kernels import fused_inference  # noqa: E402
from mmarctl.runtime.networks.group_norm import GroupNormalization  # noqa: E402


def pair(groups: int, shape: tuple[int, ...], **args):
    """Keras' layer and ours, built for ``shape`` and holding the same random weights."""
    reference, ours = (cls(groups=groups, epsilon=1e-5, **args)
                       for cls in (keras.layers.GroupNormalization, GroupNormalization))
    reference.build(shape)
    ours.build(shape)
    rng = np.random.default_rng(3)
    weights = [rng.normal(1.0, 0.3, w.shape).astype(np.float32) for w in reference.weights]
    reference.set_weights(weights)
    ours.set_weights(weights)  # same names and shapes: checkpoints are interchangeable
    return reference, ours


def value_and_grads(layer, x, weights, training=None):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    return [tf.cast(t, tf.float32) for t in (y, *tape.gradient(loss, [x, *layer.trainable_weights]))]


@pytest.mark.parametrize("training", [None, True], ids=["plain", "fused"])
@pytest.mark.parametrize("shape,groups,args", [
    ((2, 12, 10, 8, 16), 8, {}),                          # 3D, the networks' group norm
    ((3, 9, 7, 6), 3, {}),                                # 2D, odd sizes
    ((2, 6, 6, 6, 8), 8, {"center": False, "scale": False}),  # instance norm (MONAI's)
    ((1, 4, 4, 4, 12), 1, {}),                            # one group: layer norm
])
def test_equals_keras_group_normalization(shape, groups, args, training):
    """Called plainly, and in training (the fused kernels and their written-out gradient)."""
    reference, ours = pair(groups, shape, **args)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(5.0, 3.0, shape).astype(np.float32))  # a large mean as well
    weights = tf.constant(rng.normal(size=shape).astype(np.float32))
    for theirs, mine in zip(value_and_grads(reference, x, weights, training),
                            value_and_grads(ours, x, weights, training), strict=True):
        scale = max(1.0, float(np.abs(theirs.numpy()).max()))
        np.testing.assert_allclose(mine.numpy() / scale, theirs.numpy() / scale, atol=2e-5)


def test_weight_names_and_shapes_match_keras():
    reference, ours = pair(4, (1, 4, 4, 4, 8))
    assert [(w.name, w.shape) for w in ours.weights] == \
        [(w.name, w.shape) for w in reference.weights]


def test_float16_inputs_are_normalised_in_float32():
    layer = GroupNormalization(groups=2, dtype="mixed_float16")
    x = tf.constant(np.full((1, 4, 4, 4), 300.0, np.float16) +
                    np.arange(64, dtype=np.float16).reshape(1, 4, 4, 4))
    y = layer(x)
    assert y.dtype == tf.float16
    assert np.isfinite(y.numpy()).all()
    np.testing.assert_allclose(float(tf.reduce_mean(tf.cast(y, tf.float32))), 0.0, atol=1e-2)


def test_only_the_last_axis():
    with pytest.raises(ValueError, match="last axis only"):
        GroupNormalization(groups=2, axis=1).build((1, 4, 4, 4))


def plain_and_fused(layer, x):
    """The layer's inference output through the plain graph and through the fused kernels."""
    def fused(v):
        with fused_inference():
            return layer(v, training=False)

    return layer(x, training=False), fused(x)


@pytest.mark.parametrize("shape,groups,args", [
    ((1, 12, 10, 8, 16), 8, {}),                          # one 3D window
    ((3, 6, 5, 4, 8), 4, {}),                             # several cases
    ((2, 9, 7, 6), 3, {}),                                # 2D
    ((1, 6, 6, 6, 8), 8, {"center": False, "scale": False}),  # instance norm
])
def test_fused_inference_equals_the_plain_graph(shape, groups, args):
    _, layer = pair(groups, shape, **args)
    x = tf.constant(np.random.default_rng(4).normal(5.0, 3.0, shape).astype(np.float32))
    plain, fused = plain_and_fused(layer, x)
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), atol=2e-5)


def test_fused_inference_in_bfloat16_within_one_rounding():
    layer = GroupNormalization(groups=4, dtype="mixed_bfloat16")
    shape = (2, 8, 8, 8, 16)
    layer.build(shape)
    x = tf.cast(np.random.default_rng(5).normal(2.0, 3.0, shape).astype(np.float32),
                tf.bfloat16)
    plain, fused = plain_and_fused(layer, x)
    assert fused.dtype == tf.bfloat16
    # one bfloat16 step at the outputs' magnitude (|y| < 8: 2**-5)
    np.testing.assert_allclose(tf.cast(fused, tf.float32).numpy(),
                               tf.cast(plain, tf.float32).numpy(), atol=2 ** -5)


def test_fused_inference_with_an_unknown_batch():
    from mmarctl.runtime.networks.fused_kernels import fused_inference

    _, layer = pair(4, (1, 6, 6, 6, 8))
    x = tf.constant(np.random.default_rng(6).normal(size=(11, 6, 6, 6, 8)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, None, 8))])
    def fused(v):
        with fused_inference():
            return layer(v, training=False)

    np.testing.assert_allclose(fused(x).numpy(), layer(x, training=False).numpy(), atol=2e-5)


def graph_ops(fn, x) -> set[str]:
    return {op.type for op in fn.get_concrete_function(x).graph.get_operations()}


def test_exported_graphs_keep_the_plain_operations():
    """Exports trace the model outside fused_inference: no batch-norm kernel to convert."""
    _, layer = pair(4, (1, 6, 6, 6, 8))
    x = tf.zeros((1, 6, 6, 6, 8))
    assert "FusedBatchNormV3" not in graph_ops(tf.function(lambda v: layer(v, training=False)), x)
    assert "FusedBatchNormV3" in graph_ops(tf.function(lambda v: layer(v, training=True)), x)


def test_training_in_bfloat16_within_bfloat16_rounding_of_the_plain_graph():
    shape = (2, 8, 8, 8, 16)
    reference, ours = pair(4, shape, dtype="mixed_bfloat16")
    rng = np.random.default_rng(8)
    x = tf.cast(rng.normal(1.0, 2.0, shape).astype(np.float32), tf.bfloat16)
    weights = tf.constant(rng.normal(size=shape).astype(np.float32))
    theirs = value_and_grads(reference, x, weights, True)
    mine = value_and_grads(ours, x, weights, True)
    for a, b in zip(mine, theirs, strict=True):
        scale = max(1.0, float(np.abs(b.numpy()).max()))
        np.testing.assert_allclose(a.numpy() / scale, b.numpy() / scale, atol=2 ** -7)


def test_training_with_an_unknown_batch_takes_the_plain_graph():
    reference, ours = pair(2, (1, 4, 4, 4, 4))
    x = tf.constant(np.random.default_rng(9).normal(size=(3, 4, 4, 4, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((None, 4, 4, 4, 4))])
    def train_call(v):
        return ours(v, training=True)

    assert "FusedBatchNormV3" not in graph_ops(train_call, x)
    np.testing.assert_allclose(train_call(x).numpy(), reference(x, training=True).numpy(),
                               atol=2e-5)


def test_the_runtime_predict_uses_the_fused_kernels(monkeypatch):
    from mmarctl.runtime.training.tf_engine import make_predict

    from mmarctl.runtime.networks import fused_group_norm

    fused_calls = []
    fused = fused_group_norm.normalise
    monkeypatch.setattr(fused_group_norm, "normalise",
                        lambda *a, **k: fused_calls.append(k["training"]) or fused(*a, **k))
    inputs = keras.Input((6, 6, 6, 1))
    model = keras.Model(inputs, GroupNormalization(groups=1)(keras.layers.Conv3D(4, 1)(inputs)))
    x = np.random.default_rng(7).normal(size=(2, 6, 6, 6, 1)).astype(np.float32)
    np.testing.assert_allclose(make_predict(model)(x), model(x, training=False).numpy(),
                               atol=2e-5)
    assert fused_calls == [False]  # traced once, through the fused inference path


def test_gpus_keep_the_plain_graph(monkeypatch):
    """The fused form is measured on CPUs only: with a GPU visible, training stays plain."""
    _, layer = pair(4, (1, 6, 6, 6, 8))
    x = tf.zeros((1, 6, 6, 6, 8))
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: ["/device:GPU:0"] if kind == "GPU" else [])
    assert "FusedBatchNormV3" not in graph_ops(tf.function(lambda v: layer(v, training=True)), x)


def fused_widths(fn, x) -> set[int]:
    """The channel counts the FusedBatchNormV3 ops of ``fn``'s graph normalise."""
    graph = fn.get_concrete_function(x).graph
    return {int(op.inputs[0].shape[-1]) for op in graph.get_operations()
            if op.type == "FusedBatchNormV3"}


@pytest.mark.parametrize("shape,groups,args", [
    ((2, 6, 6, 6, 2), 2, {"center": False, "scale": False}),  # MONAI's instance norm, 2 ch
    ((2, 6, 6, 6, 2), 1, {}),
    ((1, 4, 4, 4, 8), 4, {}),
    ((2, 4, 4, 6, 24), 3, {}),                                # 48-value rows
    ((3, 8, 8, 6), 2, {}),                                    # 2D
])
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_few_channels_train_on_whole_lanes(shape, groups, args, policy):
    """Channels outside 16-blocks: each case as lcm(C, 16) lanes, with its groups' statistics."""
    reference, ours = pair(groups, shape, dtype=policy, **args)
    dtype = tf.bfloat16 if policy == "mixed_bfloat16" else tf.float32
    rng = np.random.default_rng(11)
    x = tf.cast(rng.normal(2.0, 3.0, shape).astype(np.float32), dtype)
    weights = tf.constant(rng.normal(size=shape).astype(np.float32))
    train = tf.function(lambda v: ours(v, training=True))
    assert fused_widths(train, x) == {math.lcm(shape[-1], 16)}
    atol = 2 ** -7 if dtype == tf.bfloat16 else 2e-5
    for theirs, mine in zip(value_and_grads(reference, x, weights, True),
                            value_and_grads(ours, x, weights, True), strict=True):
        scale = max(1.0, float(np.abs(theirs.numpy()).max()))
        np.testing.assert_allclose(mine.numpy() / scale, theirs.numpy() / scale, atol=atol)


def test_fused_inference_on_lanes():
    reference, ours = pair(2, (2, 6, 6, 6, 2), center=False, scale=False)
    x = tf.constant(np.random.default_rng(12).normal(size=(2, 6, 6, 6, 2)).astype(np.float32))

    @tf.function
    def fused(v):
        with fused_inference():
            return ours(v, training=False)

    assert fused_widths(fused, x) == {16}
    np.testing.assert_allclose(fused(x).numpy(), reference(x).numpy(), atol=2e-5)


def test_bfloat16_cases_outside_whole_rows_stay_plain():
    """27 pixels of 2 channels do not fill 16-value rows: bfloat16 keeps the plain graph
    (oneDNN's slow path), float32 the per-channel image."""
    _, layer = pair(2, (2, 3, 3, 3, 2), dtype="mixed_bfloat16")
    x = tf.zeros((2, 3, 3, 3, 2), tf.bfloat16)
    assert fused_widths(tf.function(lambda v: layer(v, training=True)), x) == set()
    _, layer = pair(2, (2, 3, 3, 3, 2))
    x = tf.zeros((2, 3, 3, 3, 2))
    assert fused_widths(tf.function(lambda v: layer(v, training=True)), x) == {2}
