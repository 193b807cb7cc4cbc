"""What every network component shares: argument checks, normalisation and the output head."""

from __future__ import annotations

from typing import Any

import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.component import Component

#: Final activations a network accepts (Clara's spellings).
ACTIVATIONS = ("softmax", "sigmoid", "linear")


class Network(Component):
    """Base class: holds ``num_classes`` and ``final_activation``; subclasses build the model.

    ``data_format`` (Clara's ``channels_first`` / ``channels_last``) is accepted and recorded
    but the built model is always channels-last: mmarctl's pipelines hand TensorFlow
    channels-last batches because that is the layout TensorFlow's CPU and GPU kernels run
    fastest in, so the argument only documents the layout the original MMAR used.
    """

    #: Spatial dimensionalities the network supports.
    supported_dims: tuple[int, ...] = (2, 3)

    def __init__(self, *, num_classes: Any, final_activation: Any,
                 data_format: Any = "channels_first", **config: Any) -> None:
        name = self.clara_name or type(self).__name__
        self.num_classes = argcheck.as_int(num_classes, component=name, arg="num_classes",
                                           minimum=1)
        self.final_activation = argcheck.as_choice(final_activation, ACTIVATIONS,
                                                   component=name, arg="final_activation")
        self.data_format = argcheck.as_choice(data_format, ("channels_first", "channels_last"),
                                              component=name, arg="data_format")
        super().__init__(num_classes=num_classes, final_activation=final_activation,
                         data_format=data_format, **config)

    def build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        """The Keras model for ``spatial_dims``-D input with ``in_channels`` channels."""
        name = self.clara_name or type(self).__name__
        if spatial_dims not in self.supported_dims:
            raise argcheck.fail(name, "spatial_dims",
                                " or ".join(str(d) for d in self.supported_dims), spatial_dims)
        argcheck.as_int(in_channels, component=name, arg="in_channels", minimum=1)
        return self._build(spatial_dims, in_channels)

    def _build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        raise NotImplementedError


def conv(dims: int, filters: int, kernel: int = 3, strides: int = 1, **kwargs: Any):
    """A same-padded ``dims``-D convolution layer."""
    cls = keras.layers.Conv3D if dims == 3 else keras.layers.Conv2D
    return cls(filters, kernel, strides=strides, padding="same", **kwargs)


def normalization(kind: str, filters: int, groups: int = 8):
    """``"batch"``, ``"group"`` (``groups`` reduced until it divides ``filters``) or None."""
    if kind == "batch":
        return keras.layers.BatchNormalization()
    if kind == "group":
        groups = min(groups, filters)
        while filters % groups:
            groups -= 1
        return keras.layers.GroupNormalization(groups=groups)
    return None


def output_head(x, dims: int, num_classes: int, activation: str):
    """1x1 convolution to ``num_classes`` then the final activation, computed in float32.

    The activation layer carries ``dtype="float32"`` so that under a ``mixed_float16``
    policy the probabilities (and so the loss) are float32, as Keras' mixed-precision guide
    requires for numerically stable softmax.
    """
    logits = conv(dims, num_classes, kernel=1, name="logits")(x)
    return keras.layers.Activation(activation, dtype="float32", name="probabilities")(logits)
