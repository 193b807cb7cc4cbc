"""Keras' PReLU, computed by mmarctl's fused kernel in the runtime's own graphs.

MONAI's networks default to PReLU, and TensorFlow has no kernel for it: Keras writes it as
five element-wise operations forward and about eight backward, each a pass over the
activations. In training, and inside :func:`~mmarctl.runtime.networks.fused_kernels.fused_inference`,
on CPUs (:func:`~mmarctl.runtime.networks.fused_kernels.available`), this layer calls the
one-pass kernel of :mod:`mmarctl.runtime.kernels.prelu` instead. Everywhere else, and where
the kernel cannot be built, it is Keras' layer: exports trace the plain operations, so
SavedModel, ONNX and TensorRT never see a custom op. The weights are Keras' (one ``alpha``),
so checkpoints do not depend on which form ran.
"""

from __future__ import annotations

from typing import Any

import keras

from mmarctl.runtime.networks import fused_kernels


class PReLU(keras.layers.PReLU):
    """``keras.layers.PReLU`` with the fused CPU kernel in the runtime's graphs."""

    def call(self, inputs: Any, training: Any = None) -> Any:
        if fused_kernels.available(inputs, bool(training)):
            from mmarctl.runtime.kernels import prelu  # compiles the kernel on first use

            if prelu.fits(inputs, tuple(self.alpha.shape)):
                ops = prelu.library()
                if ops is not None:
                    return prelu.prelu(inputs, self.alpha, ops)
        return super().call(inputs)
