"""DenseNet121: densely connected classification network, 2D or 3D."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.networks.base import Network, conv, l2, load_pretrained, probabilities

#: Dense layers per block of DenseNet-121 (Huang et al. 2017).
BLOCKS = (6, 12, 24, 16)
GROWTH = 32
#: Transition layers halve the channel count.
COMPRESSION = 0.5
#: Batch-norm moving-statistics momentum. Keras's 0.99 averages over ~100 steps and starts
#: from mean 0 / variance 1, so after the few hundred steps of a typical medical-imaging run
#: the inference-mode statistics still lag the weights and every image gets the same score.
#: 0.9 (PyTorch's default, written 0.1 there, as in MONAI's DenseNet) tracks them within ~20 steps.
BN_MOMENTUM = 0.9
#: Batch-norm epsilon of the reference implementation (keras.applications).
BN_EPSILON = 1.001e-5


def _batch_norm(name: str):
    from mmarctl.runtime.networks.batch_norm import BatchNormalization  # a Keras layer

    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


class DenseNet121(Network):
    """DenseNet-121 (Huang et al., CVPR 2017) for 2D or 3D image classification.

    Implements Clara's ``DenseNet121``. Accepted args: ``num_classes``, ``weight_decay``,
    ``data_format``, ``pretrain_weight_name``, ``final_activation``.

    Layout: 7x7(x7) stride-2 stem with 64 filters, 3x3 stride-2 max pooling, four dense
    blocks of 6, 12, 24 and 16 layers (each: BN, ReLU, 1x1 conv to 128, BN, ReLU, 3x3 conv
    to 32, concatenated to its input), transitions (BN, ReLU, 1x1 conv halving the channels,
    2x average pooling) between blocks, then BN, ReLU, global average pooling and a dense
    layer to ``num_classes`` with ``final_activation`` (float32). Input spatial sizes are
    free (at least 32). The output is ``(batch, num_classes)``.

    Batch normalisation uses momentum ``BN_MOMENTUM`` (0.9) rather than Keras's 0.99, so
    inference-mode outputs (validate, infer, export) match training-mode ones after tens of
    steps rather than thousands; Clara did not document its value.

    Args:
        num_classes: outputs (labels of a multi-label problem, as in CheXpert).
        weight_decay: L2 penalty on kernels (in ``model.losses``); 0 disables. Default 0.
        data_format: Clara's layout, recorded only; the model is channels-last.
        pretrain_weight_name: a Keras weights file saved from this network; empty or
            missing: ignored with a warning.
        final_activation: ``sigmoid`` (default, independent labels), ``softmax`` or
            ``linear``.
    """

    clara_name = "DenseNet121"

    def __init__(self, num_classes: Any = 1, weight_decay: Any = 0.0,
                 data_format: Any = "channels_first", pretrain_weight_name: Any = "",
                 final_activation: Any = "sigmoid") -> None:
        name = self.clara_name
        self.weight_decay = argcheck.as_float(weight_decay, component=name,
                                              arg="weight_decay", minimum=0)
        if pretrain_weight_name is not None and not isinstance(pretrain_weight_name, str):
            raise argcheck.fail(name, "pretrain_weight_name", "a file path or \"\"",
                                pretrain_weight_name)
        self.pretrain_weight_name = pretrain_weight_name or ""
        super().__init__(num_classes=num_classes, weight_decay=weight_decay,
                         data_format=data_format, pretrain_weight_name=pretrain_weight_name,
                         final_activation=final_activation)

    def _bn_relu_conv(self, x, dims: int, filters: int, kernel: int, name: str):
        x = _batch_norm(name=f"{name}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
        return conv(dims, filters, kernel, use_bias=False,
                    kernel_regularizer=l2(self.weight_decay), name=f"{name}_conv")(x)

    def _build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        dims = spatial_dims
        max_pool = keras.layers.MaxPooling3D if dims == 3 else keras.layers.MaxPooling2D
        avg_pool = keras.layers.AveragePooling3D if dims == 3 else keras.layers.AveragePooling2D
        global_pool = (keras.layers.GlobalAveragePooling3D if dims == 3
                       else keras.layers.GlobalAveragePooling2D)
        inputs = keras.Input((None,) * dims + (in_channels,), name="image")
        x = conv(dims, 64, 7, strides=2, use_bias=False,
                 kernel_regularizer=l2(self.weight_decay), name="stem_conv")(inputs)
        x = _batch_norm(name="stem_bn")(x)
        x = keras.layers.ReLU(name="stem_relu")(x)
        # float32 pooling: no float16 MaxPool3D kernel on CPU under mixed precision.
        x = max_pool(3, strides=2, padding="same", dtype="float32", name="stem_pool")(x)
        for block, layers in enumerate(BLOCKS):
            for layer in range(layers):
                name = f"block{block}_{layer}"
                y = self._bn_relu_conv(x, dims, 4 * GROWTH, 1, f"{name}_a")
                y = self._bn_relu_conv(y, dims, GROWTH, 3, f"{name}_b")
                x = keras.layers.Concatenate(name=f"{name}_concat")([x, y])
            if block < len(BLOCKS) - 1:
                filters = int(x.shape[-1] * COMPRESSION)
                x = self._bn_relu_conv(x, dims, filters, 1, f"transition{block}")
                x = avg_pool(2, name=f"transition{block}_pool")(x)
        x = _batch_norm(name="final_bn")(x)
        x = keras.layers.ReLU(name="final_relu")(x)
        x = global_pool(name="pool")(x)
        logits = keras.layers.Dense(self.num_classes, kernel_regularizer=l2(self.weight_decay),
                                    name="logits")(x)
        outputs = probabilities(logits, self.final_activation)
        model = keras.Model(inputs, outputs, name="DenseNet121")
        return load_pretrained(model, self.pretrain_weight_name, self.clara_name)
