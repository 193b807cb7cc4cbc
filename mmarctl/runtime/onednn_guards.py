"""A guard around a oneDNN kernel that TensorFlow 2.21 computes wrongly on CPUs.

**bfloat16 ``Conv3DBackpropFilter``, SAME padding, a shallow first spatial axis.** When the
first spatial axis (depth, in NDHWC) has more than one voxel but fewer than the kernel's
taps along it, oneDNN's bfloat16 filter gradient is wrong: off by the values' own size, and
often by orders of magnitude, inf or NaN. Measured on AMD EPYC (Zen 4, ``avx512_bf16``)
against float64, over depths 1 to 10, other axes 1 to 8, 4 to 64 channels: wrong exactly
for depth 2 under 3 taps, depths 2 and 3 under 4 taps, 2 to 4 under 5 taps; never for
depth 1, never along the other two axes, never for the forward pass or the input gradient,
never in float32, and never for 2-D convolutions. A U-Net meets it at its deepest level:
a 32^3 patch after four poolings is 2 voxels deep under 3^3 kernels, and one such step
sent a Clara spleen MMAR's weights to NaN.

:func:`install` wraps TensorFlow's registered ``Conv3D`` gradient. For a bfloat16
convolution whose depth is in that range (known when traced, else decided in the graph)
the filter gradient is computed in float32 from the same bfloat16 operands and rounded
once; every other gradient is TensorFlow's own. The layers are that small where it
applies, so the float32 kernel costs nothing measurable.
"""

from __future__ import annotations

from typing import Any

_GUARD_MARK = "_mmarctl_onednn_guard"


def install() -> None:
    """Route TensorFlow's ``Conv3D`` gradient through the guard (once per process).

    Gradients are looked up when a tape differentiates, so models built before the call
    are guarded too.
    """
    from tensorflow.python.framework import ops

    entry = ops._gradient_registry._registry["Conv3D"]  # TensorFlow's own lookup table
    original = entry["type"]
    if getattr(original, _GUARD_MARK, False):
        return

    def guarded_conv3d_gradient(op: Any, grad: Any) -> list[Any]:
        input_gradient, filter_gradient = original(op, grad)
        return [input_gradient, guarded_filter_gradient(op, grad, filter_gradient)]

    setattr(guarded_conv3d_gradient, _GUARD_MARK, True)
    entry["type"] = guarded_conv3d_gradient


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    from tensorflow.python.framework import ops

    return bool(getattr(ops._gradient_registry.lookup("Conv3D"), _GUARD_MARK, False))


def guarded_filter_gradient(op: Any, grad: Any, filter_gradient: Any) -> Any:
    """``filter_gradient`` of the ``Conv3D`` ``op``, or the same gradient in float32 where
    oneDNN's bfloat16 kernel is wrong (see the module's docstring)."""
    import tensorflow as tf

    images, kernel = op.inputs[0], op.inputs[1]
    taps = kernel.shape[0]
    if images.dtype != tf.bfloat16 or op.get_attr("padding") != b"SAME" or taps is None \
            or taps < 3:
        return filter_gradient
    data_format = op.get_attr("data_format").decode()
    depth_axis = 1 if data_format == "NDHWC" else 2

    def in_float32() -> Any:
        exact = tf.raw_ops.Conv3DBackpropFilterV2(
            input=tf.cast(images, tf.float32), filter_sizes=tf.shape(kernel),
            out_backprop=tf.cast(grad, tf.float32), strides=op.get_attr("strides"),
            padding="SAME", dilations=op.get_attr("dilations"), data_format=data_format)
        return tf.cast(exact, tf.bfloat16)

    depth = images.shape[depth_axis]
    if depth is not None:
        return in_float32() if 1 < depth < taps else filter_gradient
    depth = tf.shape(images)[depth_axis]
    return tf.cond(tf.logical_and(depth > 1, depth < taps), in_float32,
                   lambda: filter_gradient)
