"""Group normalisation computed per channel first: Keras' function in half its time.

Keras 3's ``GroupNormalization`` reshapes channels-last ``(B, *S, C)`` activations to
``(B, *S, G, C/G)`` and reduces over the spatial axes and the last one, with the group
axis in between; TensorFlow's CPU kernels are slow at that strided reduction and at the
full-size broadcasts its gradient makes. This layer computes the same statistics in the
order the memory lies: per-channel sums over the spatial axes (``(B, C)``, contiguous),
then sums of those within each group (tiny), then one fused ``x * scale + shift`` with
per-(case, channel) ``scale`` and ``shift``. The variance stays two-pass (squared
differences from the mean), as Keras' is, so large means lose no precision.

Measured forward + backward at 2 x 48^3 x 16, 8 groups: 18.7 ms against 36.8 ms for
Keras' layer; results equal to 1e-5 (tests/runtime/test_group_norm.py). It subclasses
Keras' layer and keeps its arguments and weights (``gamma``, ``beta``), so checkpoints are
interchangeable with ``keras.layers.GroupNormalization``.

On a CPU the layer takes a shorter road through TensorFlow's fused batch-norm kernels
(:mod:`mmarctl.runtime.networks.fused_group_norm`): when training, and at inference inside
:func:`~mmarctl.runtime.networks.fused_kernels.fused_inference` (the runtime's predict
functions: validation, inference, sliding windows). Measured at 2 x 48^3 x 16, forward +
backward: 5.3 against 15.1 ms in bfloat16, 7.9 against 14.2 ms in float32. Channel counts
outside whole blocks of 16 (MONAI's default instance norm on a two-class top level) run on
lane views (:mod:`~mmarctl.runtime.networks.channel_lanes`) where a case's size allows.
Everywhere else (exports, a model called outside the runtime, float16, bfloat16 with
channels outside 16-blocks and no lane view, GPUs until the GPU check has measured them) it
keeps the plain operations: ONNX and TensorRT converters read those
(:mod:`~mmarctl.runtime.networks.fused_kernels`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mmarctl.runtime.networks import fused_group_norm, fused_kernels


class GroupNormalization(keras.layers.GroupNormalization):
    """``keras.layers.GroupNormalization`` over the last axis, computed channel-first.

    Statistics are computed in float32 (as Keras does: group statistics overflow in
    float16) and the result is cast to the layer's compute dtype. Only the last axis may be
    the channel axis, as in every mmarctl network.
    """

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape) - 1):
            raise ValueError(f"{type(self).__name__} normalises the last axis only; "
                             f"Received: axis={self.axis}")
        super().build(input_shape)

    def call(self, inputs, training=None):
        training = bool(training)
        if self._fusable(inputs, training):
            channels = int(inputs.shape[-1])
            gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
            beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
            out = fused_group_norm.normalise(inputs, gamma, beta, groups=self.groups,
                                             epsilon=self.epsilon, training=training)
            return tf.cast(out, self.compute_dtype)
        x = tf.cast(inputs, tf.float32)
        channels = int(inputs.shape[-1])
        per_group = channels // self.groups
        spatial = list(range(1, len(inputs.shape) - 1))
        batch = tf.shape(x)[0]
        count = tf.cast(tf.reduce_prod(tf.shape(x)[1:-1]) * per_group, tf.float32)

        def group_mean(per_channel_sum):
            """(B, C) sums -> each channel's group mean, (B, C)."""
            grouped = tf.reshape(per_channel_sum, [batch, self.groups, per_group])
            mean = tf.reduce_sum(grouped, axis=-1, keepdims=True) / count
            # Broadcast, not tf.repeat: repeat's gradient (Tile's) transposes an int32
            # shape tensor, which oneDNN logs as an "E0000 ... DT_INT32" line on retrace.
            return tf.reshape(tf.broadcast_to(mean, [batch, self.groups, per_group]),
                              [batch, channels])

        mean = group_mean(tf.reduce_sum(x, axis=spatial))
        broadcast = [batch] + [1] * len(spatial) + [channels]
        squares = tf.math.squared_difference(x, tf.reshape(mean, broadcast))
        variance = group_mean(tf.reduce_sum(squares, axis=spatial))
        scale = tf.math.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * tf.cast(self.gamma, tf.float32)
        shift = -mean * scale
        if self.center:
            shift = shift + tf.cast(self.beta, tf.float32)
        y = x * tf.reshape(scale, broadcast) + tf.reshape(shift, broadcast)
        return tf.cast(y, self.compute_dtype)

    def _fusable(self, inputs, training: bool) -> bool:
        """Whether this call goes through the fused kernels (module docstring)."""
        if not fused_kernels.available(inputs, training):
            return False
        if inputs.dtype == tf.bfloat16 and not fused_group_norm.can_take(inputs):
            return False  # oneDNN's slow path outside whole blocks: the plain graph
        return not training or fused_group_norm.can_train(inputs)
