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

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """``(None, *spatial, K)`` for segmentation, ``(None, K)`` for classification."""
        if not self.spatial_output:
            return (None, self.output_channels)
        return tuple(self.input_shape[:-1]) + (self.output_channels,)

    @property
    def spatial_dims(self) -> int:
        return len(self.input_shape) - 2

    @property
    def dynamic(self) -> bool:
        """Whether any spatial size is left open."""
        return any(v is None for v in self.input_shape[1:-1])


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
