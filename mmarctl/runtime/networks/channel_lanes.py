"""Batch normalisation for channel counts oneDNN handles badly, on a view of whole lanes.

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
"""

from __future__ import annotations

import math

import tensorflow as tf

from mmarctl.runtime.networks.fused_kernels import BFLOAT16_CHANNEL_BLOCK

#: Lanes come in whole blocks of this many (the AVX-512 vector of oneDNN's fast kernels).
BLOCK = BFLOAT16_CHANNEL_BLOCK


def lane_count(channels: int) -> int:
    """``lcm(channels, BLOCK)``: values per row of the lane view."""
    return math.lcm(channels, BLOCK)


def fits(inputs) -> bool:
    """Whether ``inputs`` has few-block channels and a static pixel count the view can take.

    The pixel count must split into whole rows, with at least two rows (a variance).
    """
    channels = inputs.shape[-1]
    if channels is None or channels % BLOCK == 0 or not inputs.shape[:-1].is_fully_defined():
        return False
    pixels_per_row = lane_count(channels) // channels
    pixels = math.prod(inputs.shape[:-1])
    return pixels % pixels_per_row == 0 and pixels // pixels_per_row >= 2


def _view(x, lanes: int):
    """``x`` as the NHWC image ``(1, rows, 1, lanes)``, the layout measured fastest."""
    return tf.reshape(x, [1, -1, 1, lanes])


class _Lanes:
    """Moving per-channel vectors to and from per-lane ones for ``channels``."""

    def __init__(self, channels: int):
        self.channels = channels
        self.lanes = lane_count(channels)
        self.repeats = self.lanes // channels

    def spread(self, per_channel):
        """``(C,)`` -> ``(L,)``: lane j takes channel ``j mod C``."""
        return tf.tile(per_channel, [self.repeats])

    def mean(self, per_lane):
        """``(L,)`` -> ``(C,)``: each channel's mean over its lanes."""
        return tf.reduce_mean(tf.reshape(per_lane, [self.repeats, self.channels]), axis=0)


def _normalise(view, lanes: _Lanes, scale, offset, mean, variance, epsilon: float):
    """One inference-mode pass: ``(view - mean) rsqrt(variance + eps) scale + offset``."""
    out, *_ = tf.raw_ops.FusedBatchNormV3(
        x=view, scale=lanes.spread(scale), offset=lanes.spread(offset),
        mean=lanes.spread(mean), variance=lanes.spread(variance), epsilon=epsilon,
        data_format="NHWC", is_training=False)
    return out


def normalise_with_statistics(x, scale, offset, mean, variance, epsilon: float):
    """Batch norm of channels-last ``x`` with given per-channel statistics (inference)."""
    lanes = _Lanes(int(x.shape[-1]))
    out = _normalise(_view(x, lanes.lanes), lanes, scale, offset, mean, variance, epsilon)
    return tf.reshape(out, tf.shape(x))


def normalise_with_batch_statistics(x, scale, offset, epsilon: float):
    """Training-mode batch norm of channels-last ``x`` (any shape :func:`fits` accepts).

    Returns:
        the normalised tensor (``x``'s dtype and shape), and each channel's mean and
        biased variance (float32, for the moving statistics; they carry no gradient).
    """
    lanes = _Lanes(int(x.shape[-1]))

    @tf.custom_gradient
    def forward(x, scale, offset):
        view = _view(x, lanes.lanes)
        per_lane = tf.cast(tf.size(view) // lanes.lanes, tf.float32)
        _, lane_mean, lane_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=view, scale=tf.ones([lanes.lanes]), offset=tf.zeros([lanes.lanes]),
            mean=tf.zeros([0]), variance=tf.zeros([0]), epsilon=epsilon,
            data_format="NHWC", is_training=True)
        lane_variance = lane_variance * (per_lane - 1.0) / per_lane  # the kernel's is unbiased
        mean = lanes.mean(lane_mean)
        variance = lanes.mean(lane_variance + tf.square(lane_mean - lanes.spread(mean)))
        out = _normalise(view, lanes, scale, offset, mean, variance, epsilon)

        def gradient(grad, _mean_grad, _variance_grad):
            x_term, lane_dscale, lane_doffset, *_ = tf.raw_ops.FusedBatchNormGradV3(
                y_backprop=_view(grad, lanes.lanes), x=view, scale=lanes.spread(scale),
                reserve_space_1=lanes.spread(mean), reserve_space_2=lanes.spread(variance),
                reserve_space_3=tf.zeros([0]), epsilon=epsilon, data_format="NHWC",
                is_training=False)
            dscale = lanes.mean(lane_dscale) * lanes.repeats  # sums over a channel's lanes
            doffset = lanes.mean(lane_doffset) * lanes.repeats
            count = per_lane * lanes.repeats
            rstd = tf.math.rsqrt(variance + epsilon)
            shift = scale * rstd * doffset / count
            slope = scale * rstd * rstd * dscale / count
            # -(x - mean) slope - shift as an affine pass: mean 0, variance 1 - eps -> x.
            statistics_term = _normalise(view, lanes, -slope, mean * slope - shift,
                                         tf.zeros_like(mean), tf.ones_like(variance) - epsilon,
                                         epsilon)
            dx = tf.reshape(x_term + statistics_term, tf.shape(x))
            return dx, dscale, doffset

        return (tf.reshape(out, tf.shape(x)), tf.stop_gradient(mean),
                tf.stop_gradient(variance)), gradient

    # tensors, not variables: tf.custom_gradient would want a gradient for each variable read
    return forward(x, tf.convert_to_tensor(scale), tf.convert_to_tensor(offset))
