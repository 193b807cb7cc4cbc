"""mmarctl's GroupNormalization equals Keras' layer: values, gradients, weights, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

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


def value_and_grads(layer, x, weights):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * weights)
    return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]


@pytest.mark.parametrize("shape,groups,args", [
    ((2, 12, 10, 8, 16), 8, {}),                          # 3D, the networks' group norm
    ((3, 9, 7, 6), 3, {}),                                # 2D, odd sizes
    ((2, 6, 6, 6, 8), 8, {"center": False, "scale": False}),  # instance norm (MONAI's)
    ((1, 4, 4, 4, 12), 1, {}),                            # one group: layer norm
])
def test_equals_keras_group_normalization(shape, groups, args):
    reference, ours = pair(groups, shape, **args)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(5.0, 3.0, shape).astype(np.float32))  # a large mean as well
    weights = tf.constant(rng.normal(size=shape).astype(np.float32))
    for theirs, mine in zip(value_and_grads(reference, x, weights),
                            value_and_grads(ours, x, weights), strict=True):
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
