"""mmarctl's convolution layers: Keras' values and gradients; bias gradients summed accurately."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks import convolution  # noqa: E402


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 16, 24])
def test_channel_sums_are_accurate(dtype, channels):
    """Against float64 sums of the same values: within the result's own rounding."""
    values = np.random.default_rng(channels).normal(0.5, 1.0, (2, 40, 40, 40, channels))
    grad = tf.cast(tf.constant(values, tf.float32), dtype)
    exact = np.asarray(tf.cast(grad, tf.float64)).reshape(-1, channels).sum(axis=0)
    sums = np.asarray(tf.cast(convolution.channel_sums(grad), tf.float64))
    rounding = 2 ** -7 if dtype == tf.bfloat16 else 1e-5
    np.testing.assert_allclose(sums, exact, rtol=rounding, atol=rounding * np.abs(exact).max())


def pair(keras_cls, ours_cls, shape, **args):
    """Keras' layer and ours with the same weights, built for ``shape``."""
    reference, ours = keras_cls(**args), ours_cls(**args)
    reference.build(shape)
    ours.build(shape)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in reference.weights]
    reference.set_weights(weights)
    ours.set_weights(weights)
    assert [(w.name, w.shape) for w in ours.weights] == \
        [(w.name, w.shape) for w in reference.weights]
    return reference, ours


def value_and_grads(layer, x, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.cos(tf.cast(y, tf.float32)))
    return [np.asarray(tf.cast(t, tf.float32))
            for t in (y, *tape.gradient(loss, [x, *layer.trainable_weights]))]


CASES = [
    ("Conv3D", (2, 6, 6, 6, 3), dict(filters=2, kernel_size=3, padding="same")),
    ("Conv3D", (1, 7, 6, 5, 4), dict(filters=16, kernel_size=3, strides=2, activation="relu")),
    ("Conv2D", (2, 9, 9, 3), dict(filters=5, kernel_size=3, padding="same")),
    ("Conv3DTranspose", (2, 4, 4, 4, 8), dict(filters=2, kernel_size=3, strides=2,
                                              padding="same")),
    ("Conv2DTranspose", (1, 5, 5, 2), dict(filters=4, kernel_size=2, strides=2)),
]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name,shape,args", CASES, ids=[c[0] + str(c[1]) for c in CASES])
def test_equals_keras(name, shape, args, training):
    reference, ours = pair(getattr(keras.layers, name), getattr(convolution, name), shape, **args)
    x = tf.constant(np.random.default_rng(2).normal(size=shape).astype(np.float32))
    for mine, theirs in zip(value_and_grads(ours, x, training),
                            value_and_grads(reference, x, training), strict=True):
        scale = max(1.0, float(np.abs(theirs).max()))
        np.testing.assert_allclose(mine / scale, theirs / scale, atol=2e-5)


def graph_ops(layer, x, training) -> list[str]:
    fn = tf.function(lambda v: layer(v, training=training))
    return [op.type for op in fn.get_concrete_function(x).graph.get_operations()]


def test_only_training_writes_the_gradient_out():
    """Inference and exports trace Keras' own graph: a plain BiasAdd, nothing wrapped."""
    _, ours = pair(keras.layers.Conv3D, convolution.Conv3D, (1, 4, 4, 4, 2), filters=2,
                   kernel_size=1)
    x = tf.zeros((1, 4, 4, 4, 2))
    assert "IdentityN" not in graph_ops(ours, x, False)
    assert "BiasAdd" in graph_ops(ours, x, False)
    assert "IdentityN" in graph_ops(ours, x, True)  # tf.custom_gradient's marker


def test_bfloat16_bias_gradient_is_the_float_sum():
    """Over a full-resolution layer the bias gradient equals the exact sum within bfloat16."""
    shape = (2, 24, 24, 24, 4)
    _, ours = pair(keras.layers.Conv3D, convolution.Conv3D, shape, filters=16, kernel_size=1,
                   dtype="mixed_bfloat16")
    x = tf.cast(np.random.default_rng(3).normal(size=shape).astype(np.float32), tf.bfloat16)
    upstream = tf.cast(np.random.default_rng(4).normal(0.3, 1.0, shape[:-1] + (16,))
                       .astype(np.float32), tf.bfloat16)
    with tf.GradientTape() as tape:
        y = ours(x, training=True)
    bias_grad = tape.gradient(y, ours.bias, output_gradients=upstream)
    exact = np.asarray(tf.cast(upstream, tf.float64)).reshape(-1, 16).sum(axis=0)
    np.testing.assert_allclose(bias_grad.numpy(), exact, rtol=2 ** -7,
                               atol=2 ** -7 * np.abs(exact).max())


@pytest.mark.parametrize("dims,transposed,expected", [
    (3, False, "Conv3D"), (2, False, "Conv2D"), (3, True, "Conv3DTranspose"),
    (2, True, "Conv2DTranspose")])
def test_convolution_picks_the_class(dims, transposed, expected):
    assert convolution.convolution(dims, transposed) is getattr(convolution, expected)


@pytest.mark.parametrize("network", ["unet", "resunet"])
def test_networks_use_these_layers(network):
    if network == "unet":
        from mmarctl.runtime.networks.unet import Unet
        model = Unet(num_classes=2, nf_enc="4,8", nf_dec="8,4,4").build(3, 1)
    else:
        from mmarctl.runtime.networks.resunet import ResidualUnet
        model = ResidualUnet(num_classes=2, channels=[4, 8], strides=[2]).build(3, 1)
    kinds = (keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Conv2DTranspose,
             keras.layers.Conv3DTranspose)
    convs = [layer for layer in model.layers if isinstance(layer, kinds)]
    assert convs
    assert all(type(layer).__module__ == convolution.__name__ for layer in convs)
