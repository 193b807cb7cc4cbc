"""Keras' convolution layers with the bias gradient summed accurately, and faster.

Keras adds a convolution's bias with ``tf.nn.bias_add``, whose gradient is TensorFlow's
``BiasAddGrad``: on CPUs it accumulates bfloat16 in bfloat16, so over a full-resolution
layer the bias gradient is mostly rounding (2 x 48^3 x 16 activations, gradients of mean
0.3: channel sums off by up to 97 %, against 0.4 % here), and it is slow for few channels
(2 x 48^3 x 2: 1.5 ms in bfloat16, 1.0 ms in float32). Here the bias gradient is a sum
over the activations viewed as rows of :data:`ROW` values, which TensorFlow's ``Sum``
reduces with a float32 accumulator and full vectors (0.23 and 0.32 ms on the same tensor;
AMD EPYC Zen 4, 2 cores).

Only training uses the written-out gradient: called with ``training=False`` (validation,
inference, every export) the layers are Keras' own graph, so converters see a plain
``BiasAdd``. Weights, arguments and checkpoints are Keras'.

A decoder's up-sampling, concatenation and convolution can be computed at the lower
resolution through :meth:`Conv3D.call_joined` (:mod:`.upsampled_join`); the networks that
have such joins call it from their runtime graphs.

Transposed convolutions with few output channels compute through :mod:`.subpixel` in
training and inside :func:`~mmarctl.runtime.networks.fused_kernels.fused_inference` (the
runtime's predict functions); exports trace Keras' transposed convolution.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mmarctl.runtime.networks import fused_kernels, subpixel, upsampled_join

#: Channel counts dividing this are summed as rows of this many values (full SIMD vectors).
ROW = 16


def channel_sums(grad):
    """Per-channel sums of a channels-last tensor, ``(C,)`` in its dtype."""
    channels = int(grad.shape[-1])
    width = ROW if ROW % channels == 0 else channels
    sums = tf.reduce_sum(tf.reshape(grad, [-1, width]), axis=0)
    if width != channels:  # rows of ROW values hold ROW / C whole pixels
        sums = tf.reduce_sum(tf.reshape(sums, [width // channels, channels]), axis=0)
    return sums


def add_bias(x, bias):
    """``tf.nn.bias_add(x, bias)`` (channels last) whose bias gradient is :func:`channel_sums`."""
    @tf.custom_gradient
    def forward(x, bias):
        return tf.nn.bias_add(x, bias), lambda grad: (grad, channel_sums(grad))

    return forward(x, bias)


class _SummedBias:
    """Mixin: in training, the bias goes through :func:`add_bias` (module docstring)."""

    def call(self, inputs, training=None):
        convolve = self._runtime_convolution(inputs, training)
        summed = (training and self.use_bias and self.data_format == "channels_last"
                  and inputs.shape[-1] is not None)
        if convolve is None and not summed:
            return super().call(inputs)
        return self._finish((convolve or self._convolve)(inputs), summed)

    def _finish(self, outputs, summed: bool):
        """Bias (through :func:`add_bias` when ``summed``) and activation."""
        if self.use_bias:
            bias = tf.cast(self.bias, outputs.dtype)  # a tensor, not the variable
            outputs = add_bias(outputs, bias) if summed else tf.nn.bias_add(outputs, bias)
        return outputs if self.activation is None else self.activation(outputs)

    def _runtime_convolution(self, inputs, training):
        """A faster form of this layer's convolution for the runtime's own graphs, or None."""
        return None


class _Forward(_SummedBias):
    def _convolve(self, inputs):
        return self.convolution_op(inputs, self.kernel)

    def call_joined(self, low, skip, low_first: bool = True, training=None):
        """This layer on ``concat([up(low), skip])`` (``[skip, up(low)]`` when not
        ``low_first``; ``up`` repeats each voxel 2x per axis) without forming either tensor:
        :mod:`.upsampled_join`, for callers that checked :func:`upsampled_join.suits`."""
        low, skip = (tf.cast(t, self.compute_dtype) for t in (low, skip))
        kernel = tf.cast(self.kernel, tf.float32)  # called outside Keras' autocast: float32
        outputs = upsampled_join.joined_convolution(low, skip, kernel, low_first)
        return self._finish(outputs, bool(training) and self.use_bias)


class _Transposed(_SummedBias):
    def _convolve(self, inputs):
        return keras.ops.conv_transpose(
            inputs, self.kernel, strides=list(self.strides), padding=self.padding,
            output_padding=self.output_padding, dilation_rate=self.dilation_rate,
            data_format=self.data_format)

    def _runtime_convolution(self, inputs, training):
        """The sub-pixel form (:mod:`.subpixel`) where it is faster: in training and in
        :func:`~mmarctl.runtime.networks.fused_kernels.fused_inference` only, so exports
        keep Keras' transposed convolution."""
        if not (self.data_format == "channels_last"
                and fused_kernels.available(inputs, bool(training))
                and subpixel.suits(self.kernel.shape, self.strides, self.padding,
                                   self.output_padding, self.dilation_rate)):
            return None
        return lambda x: subpixel.conv_transpose(x, tf.cast(self.kernel, x.dtype),
                                                 self.strides)


class Conv2D(_Forward, keras.layers.Conv2D):
    """``keras.layers.Conv2D`` with the bias gradient of :func:`add_bias` in training."""


class Conv3D(_Forward, keras.layers.Conv3D):
    """``keras.layers.Conv3D`` with the bias gradient of :func:`add_bias` in training."""


class Conv2DTranspose(_Transposed, keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` with the bias gradient of :func:`add_bias` in training."""


class Conv3DTranspose(_Transposed, keras.layers.Conv3DTranspose):
    """``keras.layers.Conv3DTranspose`` with the bias gradient of :func:`add_bias` in training."""


def convolution(dims: int, transposed: bool = False):
    """The layer class for ``dims`` (2 or 3) spatial dimensions."""
    if transposed:
        return Conv3DTranspose if dims == 3 else Conv2DTranspose
    return Conv3D if dims == 3 else Conv2D
