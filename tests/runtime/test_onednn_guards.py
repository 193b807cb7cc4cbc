"""The guard around oneDNN's bfloat16 Conv3D filter gradient (mmarctl/runtime/onednn_guards.py).

Gradients of bfloat16 convolutions are compared with float64 ones computed from the same
bfloat16-rounded operands, over the depths where TensorFlow 2.21's own kernel is wrong and
around them.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.runtime import onednn_guards  # noqa: E402
from mmarctl.runtime.precision import Precision, apply  # noqa: E402

#: bfloat16 keeps 8 bits: sums of up to 27 x 64 rounded products stay well within this
TOLERANCE = 0.03


@pytest.fixture(scope="module", autouse=True)
def guard():
    onednn_guards.install()


def _gradients(depth: int, taps: int, channels: int = 16, *, dynamic: bool = False,
               data_format: str = "NDHWC"):
    """(filter gradient in bfloat16 through the tape, the same in float64)."""
    rng = np.random.default_rng(depth * 10 + taps)
    spatial = (depth, 5, 4)
    shape = (2, *spatial, channels) if data_format == "NDHWC" else (2, channels, *spatial)
    images = tf.cast(tf.constant(rng.normal(size=shape), tf.float32), tf.bfloat16)
    kernel = tf.cast(tf.constant(rng.normal(size=(taps, 3, 3, channels, channels)),
                                 tf.float32), tf.bfloat16)
    upstream = tf.cast(tf.constant(rng.normal(size=shape), tf.float32), tf.bfloat16)

    def filter_gradient(images, kernel, upstream):
        with tf.GradientTape() as tape:
            tape.watch(kernel)
            out = tf.nn.conv3d(images, kernel, [1] * 5, "SAME", data_format=data_format)
            loss = tf.reduce_sum(tf.cast(out, upstream.dtype) * upstream)
        return tape.gradient(loss, kernel)

    signature = [tf.TensorSpec([2, None, None, None, None], tf.bfloat16),
                 tf.TensorSpec(kernel.shape, tf.bfloat16),
                 tf.TensorSpec([2, None, None, None, None], tf.bfloat16)] if dynamic else None
    traced = tf.function(filter_gradient, input_signature=signature)
    ours = traced(images, kernel, upstream)
    reference = filter_gradient(*(tf.cast(t, tf.float64) for t in (images, kernel, upstream)))
    return ours, reference


def _relative_error(ours, reference) -> float:
    error = np.max(np.abs(np.asarray(tf.cast(ours, tf.float64)) - reference.numpy()))
    return float(error / np.max(np.abs(reference.numpy())))


@pytest.mark.parametrize("taps,depth", [(3, 1), (3, 2), (3, 3), (3, 4), (5, 2), (5, 3),
                                        (5, 4), (5, 6), (4, 3)])
@pytest.mark.native_bfloat16
def test_bfloat16_filter_gradients_are_right_at_every_depth(taps, depth):
    ours, reference = _gradients(depth, taps)
    assert ours.dtype == tf.bfloat16
    assert _relative_error(ours, reference) < TOLERANCE


@pytest.mark.parametrize("depth", [2, 3])
def test_a_depth_known_only_when_run_is_decided_in_the_graph(depth):
    ours, reference = _gradients(depth, 3, dynamic=True)
    assert _relative_error(ours, reference) < TOLERANCE


def test_float32_gradients_are_tensorflows_own():
    from tensorflow.python.framework import ops

    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(2, 2, 5, 4, 8)), tf.float32)
    kernel = tf.Variable(rng.normal(size=(3, 3, 3, 8, 8)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.conv3d(images, kernel, [1] * 5, "SAME") ** 2)
    guarded = tape.gradient(loss, kernel)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.conv3d(images, kernel, [1] * 5, "SAME") ** 2)
    with _unguarded(ops):
        plain = tape.gradient(loss, kernel)
    np.testing.assert_array_equal(guarded.numpy(), plain.numpy())


class _unguarded:
    """TensorFlow's own Conv3D gradient for the block (the one the guard wraps)."""

    def __init__(self, ops):
        self.entry = ops._gradient_registry._registry["Conv3D"]

    def __enter__(self):
        from tensorflow.python.ops import nn_grad

        self.saved = self.entry["type"]
        self.entry["type"] = nn_grad._Conv3DGrad

    def __exit__(self, *exc):
        self.entry["type"] = self.saved


def test_install_is_idempotent_and_bfloat16_precision_installs_it():
    from tensorflow.python.framework import ops

    onednn_guards.install()
    first = ops._gradient_registry.lookup("Conv3D")
    with _unguarded(ops):
        assert not onednn_guards.installed()
        apply(Precision("float32", "test"))
        assert not onednn_guards.installed()
        try:
            apply(Precision("mixed_bfloat16", "test"))
            assert onednn_guards.installed()
        finally:
            apply(Precision("float32", "test"))
    onednn_guards.install()
    assert ops._gradient_registry.lookup("Conv3D") is first


def test_a_unet_at_the_depth_that_broke_keeps_finite_weights():
    """The scaffold's Unet on 32^3 patches (2 voxels deep at its bottom) in bfloat16: its
    gradients match the float32 model's, where oneDNN's kernel gave 1e30 and NaN."""
    import keras

    from mmarctl.runtime.networks.unet import Unet

    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 32, 32, 32, 1)).astype(np.float32)
    gradients = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            model = Unet(num_classes=2, nf_enc="8,16,16,32", nf_dec="32,16,16,16,8").build(3, 1)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        @tf.function  # as training runs it
        def step(images, model=model):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.cast(model(images, training=True), tf.float32)[..., 1])
            return tape.gradient(loss, model.trainable_variables)

        grads = step(images)
        gradients[policy] = {v.path: g for v, g in zip(model.trainable_variables, grads)}
    for path, exact in gradients["float32"].items():
        ours = gradients["mixed_bfloat16"][path]
        assert np.isfinite(ours.numpy()).all(), path
        scale = float(np.max(np.abs(exact.numpy()))) + 1e-12
        assert float(np.max(np.abs(ours.numpy() - exact.numpy()))) / scale < 0.1, path
