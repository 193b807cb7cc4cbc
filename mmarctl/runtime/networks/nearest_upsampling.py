"""Nearest-neighbour up-sampling by broadcasting, in place of Keras' UpSampling2D/3D.

Keras repeats each axis with ``tf.repeat``, whose gradient (Tile's) transposes an int32
shape tensor. oneDNN has no int32 transpose on this class of CPU and logs
``E0000 ... oneDNN supports DT_INT32 only on platforms with AVX-512`` whenever the train step
is traced again for a new batch size (a crop's ``batch_size`` other than the pipeline's
``output_batch_size`` makes a short last batch): an error-level line in the middle of a
healthy run. Broadcasting each axis to ``factor`` copies gives the same values; its
gradient is a sum over the broadcast axis.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class NearestUpSampling(keras.layers.Layer):
    """Repeat every voxel ``size`` times along each spatial axis (channels last).

    Args:
        size: an integer (every axis) or one integer per spatial axis.
        dims: 2 or 3 spatial axes.
    """

    def __init__(self, size: int | tuple[int, ...] = 2, dims: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dims = int(dims)
        self.size = tuple(int(s) for s in (size if isinstance(size, (tuple, list))
                                           else (size,) * self.dims))
        if len(self.size) != self.dims:
            raise ValueError(f"size needs {self.dims} values; Received: size={size!r}")

    def call(self, inputs):
        # One axis at a time, as a 4-D (before, extent, 1, after) -> (.., factor, ..)
        # broadcast: TensorFlow's CPU BroadcastTo takes few dimensions.
        x = inputs
        shape = tf.unstack(tf.shape(inputs))
        for axis, factor in enumerate(self.size, start=1):
            if factor == 1:
                continue
            before = tf.reduce_prod(tf.stack(shape[:axis]))
            after = tf.reduce_prod(tf.stack(shape[axis + 1:]))
            x = tf.reshape(x, tf.stack([before, shape[axis], 1, after]))
            x = tf.broadcast_to(x, tf.stack([before, shape[axis], factor, after]))
            shape[axis] = shape[axis] * factor
            x = tf.reshape(x, tf.stack(shape))
        # The dynamic reshapes lose the static shape the next layers' input specs read.
        return tf.ensure_shape(x, self.compute_output_shape(tuple(inputs.shape)))

    def compute_output_shape(self, input_shape):
        spatial = [None if n is None else n * f
                   for n, f in zip(input_shape[1:1 + self.dims], self.size)]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "dims": self.dims}
