"""What every network component shares: argument checks, normalisation and the output head."""

from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from mmarctl.runtime.lazy import keras

from mmarctl.errors import ConfigError
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

    @property
    def size_divisor(self) -> int:
        """Every spatial input size must be a multiple of this (1: any size)."""
        return 1

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
        self.check_input(spatial_dims, in_channels)
        return self._build(spatial_dims, in_channels)

    def check_input(self, spatial_dims: int, in_channels: int) -> None:
        """Refuse an input this network cannot take (``mmarctl check`` calls it too).

        Raises:
            ConfigError: ``spatial_dims`` not supported or ``in_channels`` < 1.
        """
        name = self.clara_name or type(self).__name__
        if spatial_dims not in self.supported_dims:
            raise argcheck.fail(name, "spatial_dims",
                                " or ".join(str(d) for d in self.supported_dims), spatial_dims)
        argcheck.as_int(in_channels, component=name, arg="in_channels", minimum=1)

    def _build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        raise NotImplementedError


def conv(dims: int, filters: int, kernel: int = 3, strides: int = 1, **kwargs: Any):
    """A same-padded ``dims``-D convolution layer."""
    from mmarctl.runtime.networks.convolution import convolution  # Keras layers

    return convolution(dims)(filters, kernel, strides=strides, padding="same", **kwargs)


def normalization(kind: str, filters: int, groups: int = 8, name: str | None = None):
    """``"batch"``, ``"group"`` (``groups`` reduced until it divides ``filters``) or None."""
    if kind == "batch":
        from mmarctl.runtime.networks.batch_norm import BatchNormalization  # a Keras layer

        return BatchNormalization(name=name)
    if kind == "group":
        from mmarctl.runtime.networks.group_norm import GroupNormalization  # a Keras layer

        groups = min(groups, filters)
        while filters % groups:
            groups -= 1
        return GroupNormalization(groups=groups, name=name)
    return None


def upsample(dims: int, size: Any, name: str):
    """A nearest up-sampling layer by ``size`` (per axis or one for all):
    :class:`.nearest_upsampling.NearestUpSampling`, Keras' UpSampling without its
    ``tf.repeat``."""
    from mmarctl.runtime.networks.nearest_upsampling import NearestUpSampling  # a Keras layer

    return NearestUpSampling(size, dims, name=name)


def max_pool(dims: int, name: str):
    """A new 2x max-pooling layer computing in float32: TensorFlow has no float16
    MaxPool3D kernel on CPU, so under mixed precision the layer casts in and the next
    convolution casts back (the runtime graphs pool bfloat16 directly, see
    :mod:`.runtime_graph`)."""
    pool = keras.layers.MaxPooling3D if dims == 3 else keras.layers.MaxPooling2D
    return pool(2, dtype="float32", name=name)


def output_head(x, dims: int, num_classes: int, activation: str):
    """1x1 convolution to ``num_classes`` then the final activation, computed in float32.

    The activation layer carries ``dtype="float32"`` so that under a ``mixed_float16``
    policy the probabilities (and so the loss) are float32, as Keras' mixed-precision guide
    requires for numerically stable softmax.
    """
    logits = conv(dims, num_classes, kernel=1, name="logits")(x)
    return probabilities(logits, activation)


def probabilities(logits, activation: str):
    """The final activation as the float32 layer named ``probabilities``.

    A two-class softmax is computed as ``sigmoid(logits @ [[1, -1], [-1, 1]])``, which is
    the same function (``softmax(a, b)_0 = sigmoid(a - b)``): on CPU, TensorFlow's oneDNN
    softmax over a last axis of 2 was the slowest single op of a small U-Net's training
    step, and this form made the step about 15 % faster (benchmarks/monai, row 4). The
    layer has no weights either way, so checkpoints do not depend on which form ran.
    """
    if activation == "softmax" and logits.shape[-1] == 2:
        return keras.layers.Lambda(two_class_softmax, dtype="float32",
                                   name="probabilities")(logits)
    return keras.layers.Activation(activation, dtype="float32", name="probabilities")(logits)


def two_class_softmax(logits):
    """``softmax`` over a last axis of 2, as one 2x2 matmul and a sigmoid."""
    difference = keras.ops.convert_to_tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=logits.dtype)
    return keras.ops.sigmoid(keras.ops.matmul(logits, difference))


def l2(weight: float):
    """A Keras L2 kernel regulariser, or None for weight 0 (its loss lands in model.losses)."""
    return keras.regularizers.L2(weight) if weight > 0 else None


#: True while a network is built only to receive a checkpoint's weights (validate, infer,
#: export): its pretrain_weight_name would be overwritten, so it is neither read nor warned of.
_CHECKPOINT_FOLLOWS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "checkpoint_follows", default=False)


@contextmanager
def checkpoint_follows() -> Iterator[None]:
    """Build networks inside the block without their ``pretrain_weight_name``."""
    token = _CHECKPOINT_FOLLOWS.set(True)
    try:
        yield
    finally:
        _CHECKPOINT_FOLLOWS.reset(token)


def load_pretrained(model: keras.Model, path: Any, component: str) -> keras.Model:
    """Load ``pretrain_weight_name`` into ``model`` when it names an existing file.

    Clara MMARs point ``PRETRAIN_WEIGHTS_FILE`` at a file inside NVIDIA's container
    (``/var/tmp/resnet50_weights_tf_dim_ordering_tf_kernels.h5``) that does not exist
    elsewhere, so an empty value or a missing file only logs a warning and training starts
    from random weights. An existing file that does not fit the model is an error.
    """
    if not path or _CHECKPOINT_FOLLOWS.get():
        return model
    file = Path(str(path))
    if not file.is_file():
        logging.getLogger("mmarctl.runtime").warning(
            "%s: pretrain_weight_name %s does not exist; starting from random weights",
            component, file)
        return model
    try:
        model.load_weights(str(file))
    except Exception as error:  # Keras raises ValueError/OSError/KeyError variously
        raise ConfigError(f"{component}: cannot load pretrain_weight_name into the network: "
                          f"{error}; Received: pretrain_weight_name={str(path)!r}",
                          file=file, hint="give a Keras .weights.h5 file saved from the "
                          "same network and arguments, or set it to \"\"") from error
    return model
