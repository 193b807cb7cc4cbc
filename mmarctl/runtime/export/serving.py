"""The one serving function every TensorFlow-based format is traced from.

The checkpoint's Keras model is wrapped in a ``tf.function`` whose input ``TensorSpec`` is
named after the input node (``NV_MODEL_INPUT``) and whose output passes through
``tf.identity(name=<output node>)``, so the frozen graph carries both names as node names,
the SavedModel signature uses them as keys and the ONNX graph inherits the input name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_INPUT = "NV_MODEL_INPUT"
DEFAULT_OUTPUT = "NV_MODEL_OUTPUT"
LAYOUT = "channels_last"


@dataclass(frozen=True)
class ServingSpec:
    """What the exported model takes and gives.

    Attributes:
        input_shape: ``(None, *spatial, C)``; a spatial entry is None when dynamic.
        output_channels: channels of the output (the network's ``num_classes``).
        input_name: the input node / tensor name.
        output_name: the output node / tensor name.
        spatial_output: True for segmentation (the output keeps the input's spatial axes),
            False for classification (output ``(batch, K)``).
    """

    input_shape: tuple[int | None, ...]
    output_channels: int
    input_name: str = DEFAULT_INPUT
    output_name: str = DEFAULT_OUTPUT
    spatial_output: bool = True
    #: ``channels_first`` only for exports of a channels-first TF1 graph (Clara's layout,
    #: kept as the graph has it): then shapes are ``(None, C, *spatial)``.
    layout: str = LAYOUT

    @property
    def channels_first(self) -> bool:
        return self.layout == "channels_first"

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """``(None, *spatial, K)`` for segmentation (``(None, K, *spatial)`` channels first),
        ``(None, K)`` for classification."""
        if not self.spatial_output:
            return (None, self.output_channels)
        if self.channels_first:
            return (self.input_shape[0], self.output_channels, *self.input_shape[2:])
        return tuple(self.input_shape[:-1]) + (self.output_channels,)

    @property
    def spatial_dims(self) -> int:
        return len(self.input_shape) - 2

    @property
    def spatial_shape(self) -> tuple[int | None, ...]:
        return tuple(self.input_shape[2:] if self.channels_first else self.input_shape[1:-1])

    @property
    def dynamic(self) -> bool:
        """Whether any spatial size is left open."""
        return any(v is None for v in self.spatial_shape)


def input_signature(spec: ServingSpec) -> list[Any]:
    """``[tf.TensorSpec(input_shape, float32, name=input_name)]``."""
    import tensorflow as tf

    return [tf.TensorSpec(list(spec.input_shape), tf.float32, name=spec.input_name)]


def serving_function(model: Any, spec: ServingSpec) -> Any:
    """A ``tf.function`` mapping the named input to ``{output_name: probabilities}``.

    The model runs in inference mode; its output is cast to float32 (a mixed-precision
    network already ends in float32, so this is a no-op then).
    """
    import tensorflow as tf

    @tf.function(input_signature=input_signature(spec))
    def serve(image):
        probabilities = tf.cast(model(image, training=False), tf.float32)
        return {spec.output_name: tf.identity(probabilities, name=spec.output_name)}

    return serve
