"""The built Unet: Keras' functional model, whose runtime graphs take decoder joins at low
resolution.

Called in training, or inside :func:`~mmarctl.runtime.networks.fused_kernels.fused_inference`
(the runtime's predict functions), on a CPU, the model applies its own layers step by step
through :meth:`Unet.forward <mmarctl.runtime.networks.unet.Unet.forward>`, so that each
decoder join (up-sampling, concatenation, convolution) can go through
:mod:`~mmarctl.runtime.networks.upsampled_join` without forming the up-sampled and
concatenated tensors. Everywhere else (exports, GPUs, plain ``predict``) it is the
functional graph itself, which is also what checkpoints record: the layers, their order and
their weights are the same either way.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mmarctl.runtime.networks import fused_kernels, upsampled_join


class UnetModel(keras.Model):
    """A functional Unet model that keeps the network (``unet``) that built it."""

    def __init__(self, inputs, outputs, unet, **kwargs) -> None:
        super().__init__(inputs, outputs, **kwargs)
        self._unet = unet

    def call(self, inputs, training=None, mask=None):
        """The functional graph, or the runtime graph (module docstring)."""
        if not fused_kernels.runtime_graph(bool(training)):
            return super().call(inputs, training=training, mask=mask)
        return self._unet.forward(inputs, _BuiltLayers(self, bool(training)))


class _BuiltLayers:
    """The Unet's steps (:class:`~mmarctl.runtime.networks.unet._NewLayers`) applied with the
    built model's layers, found by name."""

    def __init__(self, model: UnetModel, training: bool) -> None:
        self.model, self.training = model, training

    def _apply(self, name: str, x):
        return self.model.get_layer(name)(x, training=self.training)

    def block(self, x, filters: int, name: str, convolved=None):
        """Convolution (unless ``convolved`` is its output already) (+ norm) + ReLU."""
        x = self._apply(f"{name}_conv", x) if convolved is None else convolved
        if self.model._unet.norm is not None:
            x = self._apply(f"{name}_norm", x)
        return self._apply(f"{name}_relu", x)

    def pool(self, x, name: str):
        """The pooling layer ``name``; bfloat16 stays bfloat16.

        The layer pools in float32 because TensorFlow has no float16 max-pooling kernel on
        CPUs; it has a bfloat16 one, which saves the casts both ways (2 x 48^3 x 16,
        forward + backward: 1.1 against 3.0 ms through float32).
        """
        layer = self.model.get_layer(name)
        if x.dtype != tf.bfloat16:
            return layer(x, training=self.training)
        return tf.nn.max_pool(x, layer.pool_size, layer.strides, layer.padding.upper())

    def join(self, low, skip, filters: int, level: int):
        """Decoder step ``level``, at low resolution where :func:`upsampled_join.suits`."""
        name = f"dec{level}"
        convolution = self.model.get_layer(f"{name}_conv")
        if not upsampled_join.suits(low, skip, convolution):
            x = self._apply(f"skip{level}", [self._apply(f"up{level}", low), skip])
            return self.block(x, filters, name)
        convolved = convolution.call_joined(low, skip, low_first=True, training=self.training)
        return self.block(None, filters, name, convolved=convolved)

    def head(self, x):
        """Logits and the float32 final activation."""
        return self._apply("probabilities", self._apply("logits", x))
