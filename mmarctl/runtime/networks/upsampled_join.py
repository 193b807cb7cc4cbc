"""A decoder join (2x nearest up-sampling, concatenation with a skip, a 3^d convolution)
computed at the lower resolution.

Clara's Unet decoder repeats every voxel of the level below 2x per axis, concatenates the
encoder's skip and convolves with a "same" 3^d kernel. The repeats make most of that
convolution's work on the up-sampled channels redundant: along each axis, output voxels
``2s - 1`` and ``2s`` both read only input voxels ``s - 1`` and ``s`` through the
kernel's three taps, with the taps summed in pairs (``k0 + k1, k2`` for ``2s - 1``;
``k0, k1 + k2`` for ``2s``). So the up-sampled half of the join equals one 2^d
convolution of the low-resolution input, zero-padded by one voxel, into ``2^d x C_out``
channels (one group per output position in the pair grid), interleaved into the grid
twice as large and cropped by one voxel on every side. The skip half stays an ordinary
convolution at full resolution, and the two are added; neither the up-sampled nor the
concatenated tensor is formed.

Work on the up-sampled half per ``N^3`` input: ``64 (N + 1)^3`` against ``216 N^3``
multiply-adds per input-output channel pair in 3D (``16 (N + 1)^2`` against ``36 N^2`` in
2D). The spleen scaffold's Unet spends two thirds of its multiply-adds in the last join
(24^3 x 32 up-sampled + 48^3 x 16 skip -> 16 channels at batch 2); forward + backward,
AMD EPYC Zen 4 (2 cores): bfloat16 44.3 against 73.6 ms, float32 79.3 against 133.1 ms.
Below about 8^3 input voxels per case the extra padding and interleaving cost more than
they save (forward + backward, batch 2, 32 + 32 -> 32 channels, bfloat16: 3.9 against
3.3 ms at 6^3, 6.4 against 7.1 ms at 8^3), so such joins stay plain.

The interleave is :func:`.subpixel.interleave`; its gradient here is written out (a pad and
:func:`.subpixel.deinterleave`): TensorFlow's own goes through ``StridedSliceGrad``, which
took 38 ms of the 48^3 join's backward.
"""

from __future__ import annotations

import math
import string

import numpy as np
import tensorflow as tf

from mmarctl.runtime.networks import subpixel

#: Joins whose low-resolution input has fewer voxels than this stay plain (module docstring).
MIN_LOW_VOXELS = 8 ** 3

#: Per axis: ``_TAPS[position, tap, k]`` says which of the 3 kernel taps sum into the 2-tap
#: kernel of each output position in a pair (``2s - 1``, then ``2s``), reading input
#: voxels ``s - 1`` (tap 0) and ``s`` (tap 1).
_TAPS = np.array([[[1, 1, 0], [0, 0, 1]],
                  [[1, 0, 0], [0, 1, 1]]], np.float32)


def suits(low, skip, layer) -> bool:
    """Whether ``layer(concat([up(low), skip]))`` may take the low-resolution form.

    Needs known spatial sizes with ``skip`` exactly twice ``low``'s, at least
    :data:`MIN_LOW_VOXELS` of them in ``low``, and a channels-last, stride-1, undilated,
    ungrouped ``"same"`` convolution with a 3^d kernel.
    """
    low_shape, skip_shape = tuple(low.shape), tuple(skip.shape)
    dims = len(low_shape) - 2
    if dims not in (2, 3) or len(skip_shape) != dims + 2 or None in low_shape[1:] + skip_shape[1:]:
        return False
    low_sizes, skip_sizes = low_shape[1:-1], skip_shape[1:-1]
    if list(skip_sizes) != [2 * n for n in low_sizes] or math.prod(low_sizes) < MIN_LOW_VOXELS:
        return False
    return (tuple(layer.kernel_size) == (3,) * dims and tuple(layer.strides) == (1,) * dims
            and tuple(layer.dilation_rate) == (1,) * dims and layer.padding == "same"
            and layer.data_format == "channels_last" and getattr(layer, "groups", 1) == 1)


def _tap_sums(dims: int) -> np.ndarray:
    """``(4^d, 3^d)``: row (taps per axis, positions per axis), column (3^d kernel taps); the
    product over axes of :data:`_TAPS`."""
    positions, taps, kernel_taps = (string.ascii_lowercase[8 * i:8 * i + dims] for i in range(3))
    equation = ",".join(f"{p}{t}{k}" for p, t, k in zip(positions, taps, kernel_taps))
    equation += f"->{taps}{positions}{kernel_taps}"
    return np.einsum(equation, *([_TAPS] * dims)).reshape(4 ** dims, 3 ** dims)


def phase_kernel(kernel):
    """The ``(2,)*d + (C_in, 2^d * C_out)`` kernel of the up-sampled half, from a
    ``(3,)*d + (C_in, C_out)`` one; output channels are ordered (position per axis, C_out).

    One matmul with the constant tap sums (an einsum per axis took 1.5x as long).
    """
    dims = kernel.shape.rank - 2
    channels_in, channels_out = int(kernel.shape[-2]), int(kernel.shape[-1])
    flat = tf.reshape(kernel, [3 ** dims, channels_in * channels_out])
    summed = tf.matmul(tf.constant(_tap_sums(dims), kernel.dtype), flat)
    summed = tf.reshape(summed, [2 ** dims, 2 ** dims, channels_in, channels_out])
    return tf.reshape(tf.transpose(summed, [0, 2, 1, 3]),
                      [2] * dims + [channels_in, 2 ** dims * channels_out])


def _interleave(pairs, dims: int, channels: int):
    """``(B, *(n + 1), 2^d * C)`` pair-grid outputs -> ``(B, *2n, C)``: the pairs laid out
    (:func:`.subpixel.interleave`) and cropped by one voxel on every side."""
    strides = (2,) * dims
    crop = (slice(None),) + (slice(1, -1),) * dims

    @tf.custom_gradient
    def interleave(pairs):
        def gradient(upstream):
            return subpixel.deinterleave(_pad_one(upstream), strides, channels)

        return subpixel.interleave(pairs, strides, channels)[crop], gradient

    return interleave(pairs)


def _pad_one(x):
    """``x`` with one zero voxel added on both sides of every spatial axis.

    Written as ``PadV2``, not ``tf.pad``'s ``Pad``: Grappler's remapper fuses a ``Pad``
    into the convolution it feeds and deletes it, although the convolution's gradient
    still reads its shape, and then abandons all of its fusions for the step with an
    error line in every training run ("remapper failed: ... missing node").
    """
    dims = x.shape.rank - 2
    return tf.raw_ops.PadV2(input=x, paddings=[[0, 0]] + [[1, 1]] * dims + [[0, 0]],
                            constant_values=tf.zeros([], x.dtype))


def _convolve(x, kernel, padding: str):
    """A stride-1 channels-last convolution (``tf.nn.convolution``'s 3D gradient fails eagerly)."""
    if x.shape.rank == 5:
        return tf.nn.conv3d(x, kernel, [1] * 5, padding)
    return tf.nn.conv2d(x, kernel, 1, padding)


def joined_convolution(low, skip, kernel, low_first: bool = True):
    """``conv(concat([up(low), skip]), kernel)`` (or ``[skip, up(low)]`` when not
    ``low_first``) with "same" padding and no bias, computed as the module docstring says,
    in ``low``'s dtype. The taps are summed in ``kernel``'s dtype: pass the float32 weights
    so that a bfloat16 join rounds each summed tap once."""
    low_channels, skip_channels = int(low.shape[-1]), int(skip.shape[-1])
    if low_first:
        low_kernel, skip_kernel = kernel[..., :low_channels, :], kernel[..., low_channels:, :]
    else:
        skip_kernel, low_kernel = kernel[..., :skip_channels, :], kernel[..., skip_channels:, :]
    phases = tf.cast(phase_kernel(low_kernel), low.dtype)
    dims = low.shape.rank - 2
    pairs = _convolve(_pad_one(low), phases, "VALID")
    upsampled = _interleave(pairs, dims, int(kernel.shape[-1]))
    return upsampled + _convolve(skip, tf.cast(skip_kernel, skip.dtype), "SAME")
