"""Batch normalisation through TensorFlow's fused kernel on CPUs: a third of Keras' time.

Keras 3's ``BatchNormalization`` casts bfloat16 activations to float32 and computes its
moments, the normalisation and their gradients as separate elementwise operations and
reductions: about ten full passes over the activations. ``FusedBatchNormV3`` (oneDNN on
CPUs) reads bfloat16 directly and normalises with the batch's statistics in one training
pass; its gradient kernel is one more. Activations ``(B, *S, C)`` go in as the NHWC image
``(B, prod(S[:-1]), S[-1], C)``, which has the same per-channel statistics.

Measured forward + backward at 2 x 48^3 x 16 (AMD EPYC Zen 4, 2 cores): 5.6 against 17.4
ms for Keras' layer in bfloat16, 7.1 against 18.0 ms in float32; values and gradients equal
to 1e-5 (tests/runtime/test_batch_norm.py). The layer subclasses Keras' and keeps its
arguments, weights and moving-statistics update (the biased batch variance, as Keras
keeps), so checkpoints are interchangeable with ``keras.layers.BatchNormalization``.

Channel counts outside whole blocks of 16 (the tutorial UNet's two-channel top level)
are slow in oneDNN's kernel; where the pixel count allows they go through
:mod:`~mmarctl.runtime.networks.channel_lanes` instead (2 x 48^3 x 2, forward + backward:
0.96 against 5.8 ms for Keras' graph in bfloat16; tutorial UNet training step in
bfloat16, best of 40 steps, three alternating runs each: 61.2-63.6 against 65.9-76.9 ms).

The fused kernel is used in training and, at inference, inside
:func:`~mmarctl.runtime.networks.fused_kernels.fused_inference`; everywhere else (exports,
masks, renormalisation, synchronised statistics, frozen layers in training, another axis
than the last, and where :func:`~mmarctl.runtime.networks.fused_kernels.suits` says no)
Keras' own computation runs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mmarctl.runtime.networks import channel_lanes, fused_kernels


class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization``, through the fused kernel where it is faster."""

    def call(self, inputs, training=None, mask=None):
        training = bool(training) and self.trainable  # frozen layers use the moving statistics
        path = self._route(inputs, training, mask)
        if path is None:
            return super().call(inputs, training=training, mask=mask)
        channels = int(inputs.shape[-1])
        gamma = self.gamma if self.scale else tf.ones([channels])
        beta = self.beta if self.center else tf.zeros([channels])
        if path == "lanes":
            out = self._normalise_lanes(inputs, gamma, beta, training)
        else:
            out = self._normalise_image(inputs, gamma, beta, training)
        return tf.cast(out, self.compute_dtype)

    def _normalise_image(self, inputs, gamma, beta, training: bool):
        """The fused kernel on the NHWC image of ``inputs``, one channel per channel."""
        image = fused_kernels.as_image(inputs)
        if training:
            out, mean, variance = fused_kernels.normalise_with_batch_statistics(
                image, gamma, beta, self.epsilon)
            self._update_moving_statistics(mean, variance)
        else:
            out, *_ = tf.raw_ops.FusedBatchNormV3(
                x=image, scale=gamma, offset=beta, mean=self.moving_mean,
                variance=self.moving_variance, epsilon=self.epsilon, data_format="NHWC",
                is_training=False)
        return tf.reshape(out, tf.shape(inputs))

    def _normalise_lanes(self, inputs, gamma, beta, training: bool):
        """The fused kernels on whole 16-value lanes (:mod:`.channel_lanes`)."""
        if not training:
            return channel_lanes.normalise_with_statistics(
                inputs, gamma, beta, self.moving_mean, self.moving_variance, self.epsilon)
        out, mean, variance = channel_lanes.normalise_with_batch_statistics(
            inputs, gamma, beta, self.epsilon)
        self._update_moving_statistics(mean, variance)
        return out

    def _update_moving_statistics(self, mean, variance) -> None:
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))

    def _route(self, inputs, training: bool, mask) -> str | None:
        """``"image"``, ``"lanes"`` or None (Keras' graph) for this call (module docstring)."""
        if mask is not None or self.renorm or self.synchronized:
            return None
        if self.axis not in (-1, len(inputs.shape) - 1):
            return None
        if not fused_kernels.available(inputs, training):
            return None
        if channel_lanes.fits(inputs):
            return "lanes"
        return "image" if fused_kernels.suits(inputs, training) else None
