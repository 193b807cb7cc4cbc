"""Shared checks for networks built as ``runtime_graph.RuntimeGraphModel``: the runtime
graph against the functional graph over the same layers, and checkpoint keys."""

from __future__ import annotations

from unittest import mock

import keras
import numpy as np
import tensorflow as tf

from mmarctl.runtime.networks import upsampled_join


def count_joins():
    """Patch that counts decoder joins taken at low resolution."""
    return mock.patch.object(upsampled_join, "joined_convolution",
                             wraps=upsampled_join.joined_convolution)


def runtime_and_functional(model, images):
    """``(runtime, plain, joins)``: probabilities and gradients of a training step through
    the model's runtime graph and through a plain functional model over the same layers,
    and how many joins the runtime graph took at low resolution."""
    functional = keras.Model(model.inputs, model.outputs)

    def forward_and_grads(net):
        with tf.GradientTape() as tape:
            probabilities = net(images, training=True)
            loss = tf.reduce_sum(probabilities[..., 1] * tf.sin(probabilities[..., 1]))
        grads = tape.gradient(loss, model.trainable_variables)
        return [np.asarray(t) for t in (probabilities, *grads)]

    with count_joins() as joins:
        runtime = forward_and_grads(model)
    return runtime, forward_and_grads(functional), joins.call_count


def checkpoint_keys(model, folder) -> tuple[list, list]:
    """Checkpoint variables (name, shape) of ``model`` and of a plain functional model over
    the same graph."""
    plain = keras.Model(model.inputs, model.outputs)
    tf.train.Checkpoint(model=model).write(str(folder / "model"))
    tf.train.Checkpoint(model=plain).write(str(folder / "plain"))
    return (tf.train.list_variables(str(folder / "model")),
            tf.train.list_variables(str(folder / "plain")))


def plain_and_fused_inference(model, images):
    """``(plain, fused, plain_joins, fused_joins)``: predictions outside and inside
    ``fused_inference`` (exports trace the former), and the joins each took."""
    from mmarctl.runtime.networks import fused_kernels

    with count_joins() as joins:
        plain = np.asarray(model(images, training=False))
        plain_joins = joins.call_count
        with fused_kernels.fused_inference():
            fused = np.asarray(model(images, training=False))
    return plain, fused, plain_joins, joins.call_count - plain_joins
