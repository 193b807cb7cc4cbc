"""Clara-style TF1 artifacts for the tests: a Saver checkpoint with its meta graph and a frozen graph.

Built with ``tf.compat.v1`` in graph mode inside a private ``tf.Graph`` (eager state is left
alone). The network is what Clara 3.x GPU graphs look like, shrunk::

    NV_MODEL_INPUT (N, C, *spatial)  [channels first; channels last when asked]
      -> conv 3^d (C -> 4) + bias -> fused batch norm (inference) -> relu
      -> float16: conv 1^d (4 -> K) + bias -> float32
      -> softmax over the channel axis (sigmoid when K == 1) -> NV_MODEL_OUTPUT

The meta graph also holds training ops (a loss on a label placeholder, Adam), as a Clara
training run leaves it. Convolutions run in the graph's own layout (NCDHW / NCHW), which
TensorFlow 2.21 runs on this CPU. :func:`twin` computes the same network in NumPy from the
saved weights, an independent reference.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

WIDTH = 4
NAMES = ("conv1/kernel", "conv1/bias", "bn1/gamma", "bn1/beta", "bn1/moving_mean",
         "bn1/moving_variance", "conv2/kernel", "conv2/bias")
EPSILON = 1e-3


def make_weights(dims: int, channels: int, classes: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random but well-conditioned weights (TF kernel layout ``(*k, in, out)``)."""
    rng = np.random.default_rng(seed)
    f = lambda *shape, scale=0.5: (rng.standard_normal(shape) * scale).astype(np.float32)  # noqa
    return {"conv1/kernel": f(*(3,) * dims, channels, WIDTH, scale=0.4),
            "conv1/bias": f(WIDTH, scale=0.1),
            "bn1/gamma": (1.0 + f(WIDTH, scale=0.1)), "bn1/beta": f(WIDTH, scale=0.1),
            "bn1/moving_mean": f(WIDTH, scale=0.2),
            "bn1/moving_variance": (0.5 + rng.random(WIDTH)).astype(np.float32),
            "conv2/kernel": f(*(1,) * dims, WIDTH, classes, scale=0.8),
            "conv2/bias": f(classes, scale=0.1)}


def build(folder: Path, *, dims: int = 3, channels: int = 1, classes: int = 2,
          size: tuple[int, ...] | None = None, channels_first: bool = True,
          seed: int = 0, prefix: str = "model.ckpt", frozen: str | None = "model.fzn.pb",
          meta: bool = True) -> dict[str, np.ndarray]:
    """Write ``folder/model.ckpt.*`` (+ ``checkpoint``) and ``folder/model.fzn.pb``.

    Args:
        size: a fixed spatial size for the input placeholder; None leaves it open.
        meta: False deletes the ``.meta`` file afterwards.

    Returns:
        the weights written (NumPy), for :func:`twin`.
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    weights = make_weights(dims, channels, classes, seed)
    spatial = list(size) if size else [None] * dims
    shape = [None, channels, *spatial] if channels_first else [None, *spatial, channels]
    fmt = ("NC" + "DHW"[3 - dims:]) if channels_first else ("N" + "DHW"[3 - dims:] + "C")
    axis = 1 if channels_first else -1
    conv = tf.nn.conv3d if dims == 3 else tf.nn.conv2d
    strides = [1] * (dims + 2)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape, name="NV_MODEL_INPUT")
        var = {name: v1.get_variable(name, initializer=value,
                                     trainable="moving" not in name)
               for name, value in weights.items()}
        h = conv(x, var["conv1/kernel"], strides, "SAME", data_format=fmt)
        h = tf.nn.bias_add(h, var["conv1/bias"], data_format=fmt if dims == 3 or
                           not channels_first else "NCHW")
        h, _, _ = v1.nn.fused_batch_norm(
            h, var["bn1/gamma"], var["bn1/beta"], var["bn1/moving_mean"],
            var["bn1/moving_variance"], epsilon=EPSILON, data_format=fmt, is_training=False)
        h = tf.cast(tf.nn.relu(h), tf.float16)
        h = conv(h, tf.cast(var["conv2/kernel"], tf.float16), strides, "SAME", data_format=fmt)
        h = tf.nn.bias_add(h, tf.cast(var["conv2/bias"], tf.float16),
                           data_format=fmt if dims == 3 or not channels_first else "NCHW")
        logits = tf.cast(h, tf.float32)
        probabilities = (tf.nn.sigmoid(logits) if classes == 1 else
                         tf.nn.softmax(logits, axis=axis))
        output = tf.identity(probabilities, name="NV_MODEL_OUTPUT")
        label = v1.placeholder(tf.float32, output.shape, name="label")
        loss = tf.reduce_mean(tf.square(output - label))
        v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=v1.train.get_or_create_global_step())
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            folder.mkdir(parents=True, exist_ok=True)
            saver.save(session, str(folder / prefix))
            if frozen:
                graph_def = v1.graph_util.convert_variables_to_constants(
                    session, graph.as_graph_def(), ["NV_MODEL_OUTPUT"])
                (folder / frozen).write_bytes(graph_def.SerializeToString())
    if not meta:
        (folder / f"{prefix}.meta").unlink()
    return weights


def _conv(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """SAME convolution (stride 1) of channels-last ``x (N, *S, Ci)`` with ``(*k, Ci, Co)``."""
    dims = kernel.ndim - 2
    pads = [(k // 2, k // 2) for k in kernel.shape[:dims]]
    padded = np.pad(x, [(0, 0), *pads, (0, 0)])
    spatial = x.shape[1:-1]
    out = np.zeros((*x.shape[:-1], kernel.shape[-1]), np.float64)
    for offset in itertools.product(*(range(k) for k in kernel.shape[:dims])):
        window = padded[(slice(None), *(slice(o, o + s) for o, s in zip(offset, spatial)))]
        out += window @ kernel[offset]
    return out


def twin(weights: dict[str, np.ndarray], batch: np.ndarray, channels_first: bool = True
         ) -> np.ndarray:
    """The network of :func:`build` in NumPy, in the graph's layout (float16 section rounded)."""
    x = np.moveaxis(batch, 1, -1) if channels_first else batch
    h = _conv(x.astype(np.float64), weights["conv1/kernel"]) + weights["conv1/bias"]
    h = ((h - weights["bn1/moving_mean"]) / np.sqrt(weights["bn1/moving_variance"] + EPSILON)
         * weights["bn1/gamma"] + weights["bn1/beta"])
    h = np.maximum(h, 0).astype(np.float16).astype(np.float64)
    kernel = weights["conv2/kernel"].astype(np.float16).astype(np.float64)
    h = _conv(h, kernel) + weights["conv2/bias"].astype(np.float16)
    if h.shape[-1] == 1:
        p = 1 / (1 + np.exp(-h))
    else:
        e = np.exp(h - h.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
    p = p.astype(np.float32)
    return np.moveaxis(p, -1, 1) if channels_first else p
