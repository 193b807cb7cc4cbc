"""The built Unet takes low-resolution decoder joins (and bfloat16 pooling) in its runtime
graphs, equals its functional graph, and keeps what checkpoints record."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks.unet import Unet  # noqa: E402
from runtime_graph_checks import (  # noqa: E402
    checkpoint_keys, count_joins, plain_and_fused_inference, runtime_and_functional)


def small_unet(**norm):
    keras.utils.set_random_seed(0)
    return Unet(num_classes=2, nf_enc="4,8", nf_dec="8,8,4,4", **norm).build(3, 1)


@pytest.mark.parametrize("norm", [{}, {"use_group_norm": True}, {"use_batch_norm": True}])
def test_unet_runtime_graph_equals_the_functional_graph(norm):
    """Training step output and gradients; the 12^3 join is low-resolution, the 6^3 one not."""
    model = small_unet(**norm)
    images = tf.constant(np.random.default_rng(2).normal(size=(2, 24, 24, 24, 1)), tf.float32)
    runtime, plain, joins = runtime_and_functional(model, images)
    assert joins == 1  # dec2 (12^3 up to 24^3); dec1 (6^3) is below the threshold
    for got, expected in zip(runtime, plain):
        # float32 summation order only; normalisation by small deviations magnifies it
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def test_unet_fused_inference_takes_joins_and_plain_predict_does_not():
    model = small_unet(use_group_norm=True)
    images = tf.constant(np.random.default_rng(4).normal(size=(1, 24, 24, 24, 1)), tf.float32)
    plain, fused, plain_joins, fused_joins = plain_and_fused_inference(model, images)
    assert (plain_joins, fused_joins) == (0, 1)  # exports trace the plain graph
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
    ours, plain = checkpoint_keys(model, tmp_path)
    assert ours == plain
    names = [layer.name for layer in model.layers]
    assert {"enc0_norm", "bottleneck_norm", "dec2_norm", "up1", "skip1"} <= set(names)


@pytest.mark.native_bfloat16
def test_unet_runtime_graph_pools_bfloat16_directly_and_stays_close():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = small_unet(use_group_norm=True)
        functional = keras.Model(model.inputs, model.outputs)
        images = tf.constant(np.random.default_rng(5).normal(size=(2, 24, 24, 24, 1)),
                             tf.float32)
        with mock.patch.object(tf.nn, "max_pool", wraps=tf.nn.max_pool) as pools:
            runtime = model(images, training=True)
        assert pools.call_count == 2 and all(
            call.args[0].dtype == tf.bfloat16 for call in pools.call_args_list)
        plain = functional(images, training=True)
        assert runtime.dtype == plain.dtype == tf.float32
        assert np.abs(np.asarray(runtime) - np.asarray(plain)).max() < 0.05  # bfloat16 steps
    finally:
        keras.mixed_precision.set_global_policy("float32")
