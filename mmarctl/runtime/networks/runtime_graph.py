"""Functional models whose runtime graphs run the network's layers step by step.

Called in training, or inside :func:`~mmarctl.runtime.networks.fused_kernels.fused_inference`
(the runtime's predict functions), on a CPU, a :class:`RuntimeGraphModel` applies its own
layers through the network's ``forward(x, layers)`` with ``layers`` a :class:`BuiltLayers`
of that network, so that steps can take faster forms than the functional graph has:

* each decoder join (2x up-sampling, concatenation, 3^d convolution) goes through
  :mod:`~mmarctl.runtime.networks.upsampled_join` without forming the up-sampled and
  concatenated tensors;
* max pooling stays in bfloat16 (the layers pool in float32 for want of a float16 CPU
  kernel; the bfloat16 one saves the casts both ways: 2 x 48^3 x 16, forward + backward,
  1.1 against 3.0 ms).

Everywhere else (exports, GPUs, plain ``predict``) the model is the functional graph
itself, which is also what checkpoints record: the layers, their order and their weights
are the same either way.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mmarctl.runtime.networks import fused_kernels, upsampled_join


class RuntimeGraphModel(keras.Model):
    """A functional model that keeps the network that built it, for its runtime graph.

    ``network`` has ``forward(x, layers)`` and ``built_layers(model, training)``; the
    latter gives a :class:`BuiltLayers` of that network.
    """

    def __init__(self, inputs, outputs, network, **kwargs) -> None:
        super().__init__(inputs, outputs, **kwargs)
        self._network = network

    def call(self, inputs, training=None, mask=None):
        """The functional graph, or the runtime graph (module docstring)."""
        if not fused_kernels.runtime_graph(bool(training)):
            return super().call(inputs, training=training, mask=mask)
        network = self._network
        return network.forward(inputs, network.built_layers(self, bool(training)))


class BuiltLayers:
    """A network's steps applied with a built model's own layers, found by name.

    Networks subclass it with the same step methods their build-time layer makers have;
    ``network`` is the network component (its settings, e.g. the Unet's ``norm``).
    """

    def __init__(self, model: keras.Model, training: bool, network) -> None:
        self.model, self.training, self.network = model, training, network

    def apply(self, name: str, x):
        """The model's layer ``name`` on ``x``."""
        return self.model.get_layer(name)(x, training=self.training)

    def pool(self, x, name: str):
        """The max-pooling layer ``name``; bfloat16 stays bfloat16 (module docstring)."""
        layer = self.model.get_layer(name)
        if x.dtype != tf.bfloat16:
            return layer(x, training=self.training)
        return tf.nn.max_pool(x, layer.pool_size, layer.strides, layer.padding.upper())

    def joined(self, low, skip, up: str, concatenation: str, convolution: str):
        """The convolution layer's output on the concatenation of ``[up(low), skip]``, at low
        resolution where :func:`upsampled_join.suits`, else through the three layers."""
        layer = self.model.get_layer(convolution)
        if upsampled_join.suits(low, skip, layer):
            return layer.call_joined(low, skip, low_first=True, training=self.training)
        return self.apply(convolution, self.apply(concatenation, [self.apply(up, low), skip]))

    def head(self, x):
        """Logits and the float32 final activation (:func:`.base.output_head`'s layers)."""
        return self.apply("probabilities", self.apply("logits", x))
