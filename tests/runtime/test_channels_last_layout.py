"""Channels-first graphs (Clara's NCDHW) rewritten to channels-last for the CPU kernels."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.model_sources.layout import (channels_first_nodes,  # noqa: E402
                                                  channels_last_graph_def)

v1 = tf.compat.v1
RNG = np.random.default_rng(0)
KERNEL = RNG.standard_normal((3, 3, 3, 2, 4)).astype("f") * 0.3
UP_KERNEL = RNG.standard_normal((2, 2, 2, 3, 4)).astype("f") * 0.3  # (d, h, w, out, in)
BIAS = RNG.standard_normal(4).astype("f")
SCALE, OFFSET = RNG.uniform(0.5, 1.5, 4).astype("f"), RNG.standard_normal(4).astype("f")
MEAN, VARIANCE = RNG.standard_normal(4).astype("f"), RNG.uniform(0.5, 2, 4).astype("f")


def _network(channels_first: bool, dtype=tf.float32) -> tuple[object, list[str]]:
    """Every layout-carrying op of a Clara Unet, in one layout; input and output are in
    that layout. Returns (GraphDef, names of the outputs to compare)."""
    fmt, bias_fmt = ("NCDHW", "NCHW") if channels_first else ("NDHWC", "NHWC")
    graph = tf.Graph()
    with graph.as_default():
        shape = [None, 2, 8, 8, 8] if channels_first else [None, 8, 8, 8, 2]
        x = v1.placeholder(tf.float32, shape, name="NV_MODEL_INPUT")
        h = tf.nn.conv3d(tf.cast(x, dtype), tf.constant(KERNEL, dtype), [1, 1, 2, 1, 1]
                         if not channels_first else [1, 1, 1, 2, 1], "SAME", data_format=fmt)
        h = tf.nn.bias_add(h, tf.constant(BIAS, dtype), data_format=bias_fmt)
        h = tf.cast(h, tf.float32)
        h, batch_mean, *_ = tf.raw_ops.FusedBatchNormV3(
            x=h, scale=SCALE, offset=OFFSET, mean=MEAN, variance=VARIANCE, epsilon=1e-3,
            data_format=fmt, is_training=False, name="bn")
        tf.identity(batch_mean, name="bn_mean")  # a secondary output, consumed by name:1
        h = tf.nn.relu(h)
        pooled = tf.nn.max_pool3d(h, 2, 2, "SAME", data_format=fmt)
        averaged = tf.nn.avg_pool3d(h, 2, 2, "SAME", data_format=fmt)
        h = pooled + averaged
        batch = tf.shape(h)[0]
        size = tf.stack([batch, 3, 8, 4, 8] if channels_first else [batch, 8, 4, 8, 3])
        up = tf.nn.conv3d_transpose(h, tf.constant(UP_KERNEL), size, [1, 1, 2, 2, 2]
                                    if channels_first else [1, 2, 2, 2, 1], "SAME",
                                    data_format=fmt)
        tf.nn.softmax(up, axis=1 if channels_first else -1, name="NV_MODEL_OUTPUT")
    return graph.as_graph_def(), ["NV_MODEL_OUTPUT:0", "bn_mean:0"]


def _run(graph_def, batch: np.ndarray, names: list[str]) -> list[np.ndarray]:
    graph = tf.Graph()
    with graph.as_default():
        v1.import_graph_def(graph_def, name="")
    with v1.Session(graph=graph) as session:
        return session.run(names, {"NV_MODEL_INPUT:0": batch})


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16], ids=["float32", "float16"])
def test_a_channels_first_graph_gives_the_channels_last_results(dtype):
    batch = RNG.standard_normal((2, 8, 8, 8, 2)).astype("f")
    last, names = _network(channels_first=False, dtype=dtype)
    first, _ = _network(channels_first=True, dtype=dtype)
    rewritten = channels_last_graph_def(first)
    assert channels_first_nodes(rewritten) == []
    expected, expected_mean = _run(last, batch, names)
    got, got_mean = _run(rewritten, np.moveaxis(batch, -1, 1), names)
    tolerance = 2e-3 if dtype == tf.float16 else 1e-5
    np.testing.assert_allclose(np.moveaxis(got, 1, -1), expected, atol=tolerance)
    np.testing.assert_allclose(got_mean, expected_mean, atol=tolerance)


def test_names_inputs_and_the_original_graph_are_kept():
    first, _ = _network(channels_first=True)
    before = first.SerializeToString()
    rewritten = channels_last_graph_def(first)
    assert first.SerializeToString() == before                  # a copy was rewritten
    original_names = {node.name for node in first.node}
    assert original_names <= {node.name for node in rewritten.node}
    conv = next(n for n in rewritten.node if n.name == "Conv3D")
    assert conv.op == "Transpose"                               # consumers read NCDHW still
    inner = next(n for n in rewritten.node if n.name == "Conv3D/mmarctl_channels_last")
    assert inner.attr["data_format"].s == b"NDHWC"
    assert list(inner.attr["strides"].list.i) == [1, 1, 2, 1, 1]  # NCDHW [1,1,1,2,1]
    mean = next(n for n in rewritten.node if n.name == "bn_mean")
    assert list(mean.input) == ["bn/mmarctl_channels_last:1"]


def test_a_channels_last_graph_is_returned_as_it_is():
    last, _ = _network(channels_first=False)
    assert channels_first_nodes(last) == []
    assert channels_last_graph_def(last) is last
