"""SegAhnet's runtime graph takes low-resolution decoder joins, equals its functional graph,
and keeps what checkpoints record."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.networks.segahnet import SegAhnet  # noqa: E402
from runtime_graph_checks import (  # noqa: E402
    checkpoint_keys, plain_and_fused_inference, runtime_and_functional)


def build(dims=3, psp=False):
    keras.utils.set_random_seed(0)
    return SegAhnet(num_classes=2, if_use_psp=psp, n_spatial_dim=dims).build(dims, 1)


@pytest.mark.parametrize("dims, psp, size, joins", [
    (3, False, 32, 2),   # decoder steps from 8^3 and 16^3; 2^3 and 4^3 stay plain
    (3, True, 32, 2),
    (2, False, 128, 2),  # 2D: from 32^2 and 64^2 (at least 8^3 = 512 voxels per case)
])
def test_runtime_graph_equals_the_functional_graph(dims, psp, size, joins):
    images = tf.constant(np.random.default_rng(1).normal(size=(2, *(size,) * dims, 1)),
                         tf.float32)
    runtime, plain, taken = runtime_and_functional(build(dims, psp), images)
    assert taken == joins
    np.testing.assert_allclose(runtime[0], plain[0], rtol=1e-3, atol=1e-4)
    # Gradients through 60 batch norms over a few voxels (2^3 x 2 at the bottom) magnify
    # float32 summation order by orders of magnitude (1.2 % of the norm with an AVX2-only
    # CPU's kernels, under 1 % with AVX-512's); a wrong join is off by order 1.
    for got, expected in zip(runtime[1:], plain[1:]):
        error = np.linalg.norm(np.asarray(got) - np.asarray(expected))
        assert error <= 5e-2 * np.linalg.norm(np.asarray(expected))


def test_fused_inference_takes_joins_and_plain_predict_does_not():
    model = build()
    images = tf.constant(np.random.default_rng(2).normal(size=(1, 32, 32, 32, 1)), tf.float32)
    plain, fused, plain_joins, fused_joins = plain_and_fused_inference(model, images)
    assert (plain_joins, fused_joins) == (0, 2)  # exports trace the plain graph
    np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5)


def test_checkpoint_records_what_a_plain_functional_model_does(tmp_path):
    ours, plain = checkpoint_keys(build(psp=True), tmp_path)
    assert ours == plain
