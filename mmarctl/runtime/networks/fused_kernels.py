"""When a normalisation layer may take TensorFlow's fused batch-norm kernels (oneDNN on CPUs).

mmarctl's group norm and batch norm compute, on CPUs, through ``FusedBatchNormV3`` and its
gradient, which read bfloat16 directly and pass over the activations once or twice instead
of the many elementwise operations of the plain graph. They do so only where that was
measured to be faster and where nothing reads the graph afterwards:

* on CPUs (no GPU visible: the GPU check has not measured them there yet);
* for float32 and bfloat16 (oneDNN has no float16 batch-norm kernel on CPUs);
* in bfloat16 only for channel counts that are multiples of 16, the AVX-512 block: oneDNN
  takes a slow reference path for others (2 x 48^3, forward + backward, AMD EPYC Zen 4:
  2 channels 23.6 against 6.1 ms for Keras' batch norm, 8 channels 28.7 against 8.8; 16
  channels 4.3 against 16.6);
* at inference only inside :func:`fused_inference`, which the runtime's predict functions
  enter: exports trace the model outside it, so ONNX and TensorRT see the plain operations.

Batch and group norm take channel counts outside the 16-blocks through
:mod:`~mmarctl.runtime.networks.channel_lanes`, which keeps the kernels on whole blocks.

Accuracy: the kernel sums in float32, so its batch mean is off by up to about 1e-3 of the
mean itself (2 x 48^3 values); that is invisible while the mean is within some tens of
standard deviations, as convolution outputs are, and is the kernel Keras 2's
``BatchNormalization(fused=True)``, its default, ran on CPUs.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import tensorflow as tf

#: Set while a predict function traces: inference may use the fused kernels.
_FUSED_INFERENCE = contextvars.ContextVar("fused_norm_inference", default=False)
#: Activations the fused kernels take (float16 has no oneDNN batch-norm kernel on CPU).
FUSED_DTYPES = (tf.float32, tf.bfloat16)
#: oneDNN's bfloat16 batch norm is fast only for whole blocks of this many channels.
BFLOAT16_CHANNEL_BLOCK = 16


@contextlib.contextmanager
def fused_inference() -> Iterator[None]:
    """Layers called with ``training=False`` inside the block use the fused inference path.

    Wrap the body of a ``tf.function`` that only predicts (it takes effect while tracing).
    """
    token = _FUSED_INFERENCE.set(True)
    try:
        yield
    finally:
        _FUSED_INFERENCE.reset(token)


def available(inputs, training: bool) -> bool:
    """Every condition of :func:`suits` but the channel count's (module docstring)."""
    if not (inputs.shape.rank in (4, 5) and inputs.dtype in FUSED_DTYPES
            and inputs.shape[-1] is not None):
        return False
    return runtime_graph(training)


def runtime_graph(training: bool) -> bool:
    """Whether layers may compute in the runtime's own forms: on CPUs, in training or inside
    :func:`fused_inference`."""
    if tf.config.list_logical_devices("GPU"):
        return False  # not measured on GPUs yet: the plain graph, as before
    return bool(training) or _FUSED_INFERENCE.get()


def suits(inputs, training: bool) -> bool:
    """Whether channels-last ``inputs`` may go through the fused kernels (module docstring).

    Callers add their own conditions (a known batch for group norm's training path).
    """
    if inputs.dtype == tf.bfloat16 and (inputs.shape[-1] or 0) % BFLOAT16_CHANNEL_BLOCK:
        return False
    return available(inputs, training)


def as_image(x):
    """Channels-last ``(B, *S, C)`` as the NHWC image ``(B, prod(S[:-1]), S[-1], C)``.

    oneDNN's 5-D batch norm runs an Eigen kernel about 3x slower than its 4-D one; the
    statistics per channel are the same either way.
    """
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([shape[:1], [-1], shape[-2:]], 0))


def normalise_with_batch_statistics(image, scale, offset, epsilon: float):
    """One training-mode ``FusedBatchNormV3`` pass over an NHWC ``image``.

    Returns:
        the normalised image (``image``'s dtype), and each channel's mean and biased
        variance over all other axes (float32; the kernel itself returns ``n / (n - 1)``
        times the variance, the unbiased estimate).
    """
    channels = int(image.shape[-1])
    out, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=image, scale=scale, offset=offset, mean=tf.zeros([0]), variance=tf.zeros([0]),
        epsilon=epsilon, data_format="NHWC", is_training=True)
    count = tf.cast(tf.size(image) // channels, tf.float32)
    return out, mean, variance * (count - 1.0) / count
