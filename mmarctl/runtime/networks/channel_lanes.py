"""Batch (and group) normalisation for channel counts oneDNN handles badly, on whole lanes.

oneDNN's batch-norm kernels are fast for channels in whole AVX-512 blocks of 16 and take
a slow path for others, in float32 as well as bfloat16 (2 x 48^3 x 2, forward + backward,
AMD EPYC Zen 4: 23.4 ms fused in bfloat16, 7.5 in float32, 5.8 for Keras' elementwise
graph). In memory, a channels-last tensor with C channels is rows of ``L = lcm(C, 16)``
values, each holding ``L / C`` whole pixels. Viewed as an image of L channels ("lanes"),
lane j holds only channel ``j mod C``, and the kernels run on whole blocks: the same
tensor takes 0.96 ms in bfloat16 and 1.1 ms in float32 here.

Training normalises with the true channels' statistics, not the lanes': one training-mode
``FusedBatchNormV3`` pass gives each lane's mean and variance, which combine exactly
(every lane of a channel counts the same number of values, so the channel's variance is
the lanes' mean variance plus the variance of their means), and an inference-mode pass
normalises with them. The gradient is written out for the same reason: with ``x^`` the
normalised input, ``r`` the reciprocal standard deviation and N values per channel,

    dx = gamma r dy - gamma r (sum dy) / N - gamma r^2 (x - mean) (sum dy x^) / N,

where the first term and the lanes' ``sum dy`` and ``sum dy x^`` come from one
inference-mode ``FusedBatchNormGradV3`` pass and the rest, an affine function of x per
channel, is one more inference-mode ``FusedBatchNormV3`` pass.

:class:`Lanes` carries the view and the moves between per-channel and per-lane vectors;
the fused group norm (:mod:`.fused_group_norm`) runs each case through it the same way.
"""

from __future__ import annotations

import math

import tensorflow as tf

from mmarctl.runtime.networks import fused_kernels

#: Lanes come in whole blocks of this many (the AVX-512 vector of oneDNN's fast kernels).
BLOCK = fused_kernels.BFLOAT16_CHANNEL_BLOCK


def lane_count(channels: int) -> int:
    """``lcm(channels, BLOCK)``: values per row of the lane view."""
    return math.lcm(channels, BLOCK)


def fits_pixels(pixels: int | None, channels: int | None) -> bool:
    """Whether ``pixels`` pixels of ``channels`` channels outside whole blocks make a lane
    view: whole rows, at least two of them (a variance)."""
    if pixels is None or channels is None or channels % BLOCK == 0:
        return False
    pixels_per_row = lane_count(channels) // channels
    return pixels % pixels_per_row == 0 and pixels // pixels_per_row >= 2


def fits(inputs) -> bool:
    """Whether all of ``inputs`` (a static shape, channels outside whole blocks) makes a
    lane view, as batch norm's statistics over every pixel need."""
    if not inputs.shape[:-1].is_fully_defined():
        return False
    return fits_pixels(math.prod(inputs.shape[:-1]), inputs.shape[-1])


class Lanes:
    """A channels-last tensor's C channels as rows of ``lcm(C, 16)`` lanes, and per-channel
    vectors moved to and from per-lane ones. With whole blocks (one lane per channel) the
    moves are the identity."""

    def __init__(self, channels: int, lanes: int | None = None):
        self.channels = channels
        self.lanes = lanes or lane_count(channels)
        self.repeats = self.lanes // channels

    @classmethod
    def per_channel(cls, channels: int) -> Lanes:
        """One lane per channel: a tensor whose image the kernels take as it is."""
        return cls(channels, lanes=channels)

    def view(self, x):
        """``x`` as the NHWC image ``(1, rows, 1, lanes)``, the layout measured fastest."""
        return tf.reshape(x, [1, -1, 1, self.lanes])

    def spread(self, per_channel):
        """``(C,)`` -> ``(L,)``: lane j takes channel ``j mod C``."""
        return per_channel if self.repeats == 1 else tf.tile(per_channel, [self.repeats])

    def mean(self, per_lane):
        """``(L,)`` -> ``(C,)``: each channel's mean over its lanes."""
        if self.repeats == 1:
            return per_lane
        return tf.reduce_mean(tf.reshape(per_lane, [self.repeats, self.channels]), axis=0)

    def sum(self, per_lane):
        """``(L,)`` -> ``(C,)``: each channel's sum over its lanes."""
        if self.repeats == 1:
            return per_lane
        return tf.reduce_sum(tf.reshape(per_lane, [self.repeats, self.channels]), axis=0)

    def normalise(self, view, scale, offset, mean, variance, epsilon: float):
        """One inference-mode pass over a view: ``(view - mean) rsqrt(variance + eps) scale
        + offset``, with per-channel ``(C,)`` parameters."""
        out, *_ = tf.raw_ops.FusedBatchNormV3(
            x=view, scale=self.spread(scale), offset=self.spread(offset),
            mean=self.spread(mean), variance=self.spread(variance), epsilon=epsilon,
            data_format="NHWC", is_training=False)
        return out

    def statistics(self, view, epsilon: float):
        """Each channel's mean and biased variance over a lane view (float32 ``(C,)``):
        one training-mode pass, the lanes' statistics combined exactly."""
        _, lane_mean, lane_variance = fused_kernels.normalise_with_batch_statistics(
            view, tf.ones([self.lanes]), tf.zeros([self.lanes]), epsilon)
        mean = self.mean(lane_mean)
        return mean, self.mean(lane_variance + tf.square(lane_mean - self.spread(mean)))


def normalise_with_statistics(x, scale, offset, mean, variance, epsilon: float):
    """Batch norm of channels-last ``x`` with given per-channel statistics (inference)."""
    lanes = Lanes(int(x.shape[-1]))
    out = lanes.normalise(lanes.view(x), scale, offset, mean, variance, epsilon)
    return tf.reshape(out, tf.shape(x))


def normalise_with_batch_statistics(x, scale, offset, epsilon: float):
    """Training-mode batch norm of channels-last ``x`` (any shape :func:`fits` accepts).

    Returns:
        the normalised tensor (``x``'s dtype and shape), and each channel's mean and
        biased variance (float32, for the moving statistics; they carry no gradient).
    """
    lanes = Lanes(int(x.shape[-1]))

    @tf.custom_gradient
    def forward(x, scale, offset):
        view = lanes.view(x)
        mean, variance = lanes.statistics(view, epsilon)
        out = lanes.normalise(view, scale, offset, mean, variance, epsilon)

        def gradient(grad, _mean_grad, _variance_grad):
            x_term, lane_dscale, lane_doffset, *_ = tf.raw_ops.FusedBatchNormGradV3(
                y_backprop=lanes.view(grad), x=view, scale=lanes.spread(scale),
                reserve_space_1=lanes.spread(mean), reserve_space_2=lanes.spread(variance),
                reserve_space_3=tf.zeros([0]), epsilon=epsilon, data_format="NHWC",
                is_training=False)
            dscale = lanes.sum(lane_dscale)
            doffset = lanes.sum(lane_doffset)
            count = tf.cast(tf.size(view) // lanes.channels, tf.float32)
            rstd = tf.math.rsqrt(variance + epsilon)
            shift = scale * rstd * doffset / count
            slope = scale * rstd * rstd * dscale / count
            # -(x - mean) slope - shift as an affine pass: mean 0, variance 1 - eps -> x.
            statistics_term = lanes.normalise(view, -slope, mean * slope - shift,
                                              tf.zeros_like(mean),
                                              tf.ones_like(variance) - epsilon, epsilon)
            dx = tf.reshape(x_term + statistics_term, tf.shape(x))
            return dx, dscale, doffset

        return (tf.reshape(out, tf.shape(x)), tf.stop_gradient(mean),
                tf.stop_gradient(variance)), gradient

    # tensors, not variables: tf.custom_gradient would want a gradient for each variable read
    return forward(x, tf.convert_to_tensor(scale), tf.convert_to_tensor(offset))
