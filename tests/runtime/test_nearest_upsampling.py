"""NearestUpSampling gives Keras' UpSampling2D/3D values and gradients, without the
tf.repeat whose gradient made oneDNN log an "E0000 ... DT_INT32" line on retrace."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from mmarctl.runtime.networks.nearest_upsampling import NearestUpSampling  # noqa: E402


@pytest.mark.parametrize("dims,size,shape", [
    (3, 2, (2, 3, 4, 5, 6)), (3, (1, 2, 3), (1, 2, 3, 2, 4)), (2, 2, (2, 5, 3, 7)),
    (2, (3, 1), (1, 4, 4, 2))])
def test_values_and_gradients_match_keras(dims, size, shape):
    x = tf.constant(np.random.default_rng(0).normal(size=shape), tf.float32)
    ours = NearestUpSampling(size, dims)
    theirs = (keras.layers.UpSampling3D if dims == 3 else keras.layers.UpSampling2D)(size)
    weights = tf.constant(np.random.default_rng(1).normal(
        size=theirs.compute_output_shape(shape)), tf.float32)
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * weights)
        results.append((y.numpy(), tape.gradient(loss, x).numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6, atol=1e-6)
    assert ours.compute_output_shape(shape) == tuple(results[0][0].shape)


def test_unknown_batch_and_spatial_sizes_trace_once():
    layer = NearestUpSampling(2, 3)
    step = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, None, 3])])
    out = step(tf.ones([1, 2, 3, 4, 3]))
    assert out.shape == (1, 4, 6, 8, 3)
    assert step(tf.ones([3, 1, 1, 1, 3])).shape == (3, 2, 2, 2, 3)


def test_a_size_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="size needs 3 values"):
        NearestUpSampling((2, 2), 3)
