"""One small fully-convolutional 3D net, built in Keras and in PyTorch with the same weights.

The sliding-window row must compare the *inferers*, so the network under them has to be
identical: :func:`keras_convnet` builds it channels-last for mmarctl, :func:`torch_convnet`
builds it channels-first for MONAI and :func:`copy_weights` moves every kernel across.

Layout conversions (both frameworks compute cross-correlation, so no kernel flip):

* Keras ``Conv3D`` kernel ``(kx, ky, kz, in, out)`` -> torch ``Conv3d`` weight
  ``(out, in, kx, ky, kz)``: ``transpose(4, 3, 0, 1, 2)``; biases are the same vector.
* activations: Keras ``(B, x, y, z, C)`` <-> torch ``(B, C, x, y, z)``: ``moveaxis(-1, 1)``.

"same" padding with odd kernels pads ``k // 2`` on both sides in both frameworks.
"""

from __future__ import annotations

import numpy as np


def keras_convnet(widths: tuple[int, ...], in_channels: int, num_classes: int, seed: int = 0):
    """3x3x3 conv + ReLU per entry of ``widths``, then a 1x1x1 conv and softmax (Keras)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, None, in_channels))
    x = inputs
    for i, width in enumerate(widths):
        x = keras.layers.Conv3D(width, 3, padding="same", activation="relu", name=f"c{i}")(x)
    x = keras.layers.Conv3D(num_classes, 1, name="head")(x)
    outputs = keras.layers.Softmax(axis=-1)(x)
    model = keras.Model(inputs, outputs)
    # Non-zero biases, so that a bias that failed to copy would show in the comparison.
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv3D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, np.random.default_rng(seed).normal(0, 0.1, bias.shape)
                               .astype(np.float32)])
    return model


def torch_convnet(widths: tuple[int, ...], in_channels: int, num_classes: int):
    """The same network in PyTorch (channels-first), with fresh weights."""
    import torch

    layers: list = []
    channels = in_channels
    for width in widths:
        layers += [torch.nn.Conv3d(channels, width, 3, padding=1), torch.nn.ReLU()]
        channels = width
    layers += [torch.nn.Conv3d(channels, num_classes, 1), torch.nn.Softmax(dim=1)]
    return torch.nn.Sequential(*layers).eval()


def copy_weights(keras_model, torch_model) -> int:
    """Copy every Conv3D kernel and bias of ``keras_model`` into ``torch_model``; the count."""
    import keras
    import torch

    ours = [layer for layer in keras_model.layers if isinstance(layer, keras.layers.Conv3D)]
    theirs = [m for m in torch_model.modules() if isinstance(m, torch.nn.Conv3d)]
    if len(ours) != len(theirs):
        raise ValueError(f"layer count differs: Keras {len(ours)}, torch {len(theirs)}")
    with torch.no_grad():
        for layer, module in zip(ours, theirs):
            kernel, bias = layer.get_weights()
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(
                kernel.transpose(4, 3, 0, 1, 2))))
            module.bias.copy_(torch.from_numpy(bias))
    return len(ours)


def to_channels_first(array: np.ndarray) -> np.ndarray:
    """``(B, *spatial, C)`` -> ``(B, C, *spatial)``."""
    return np.ascontiguousarray(np.moveaxis(array, -1, 1))


def to_channels_last(array: np.ndarray) -> np.ndarray:
    """``(B, C, *spatial)`` -> ``(B, *spatial, C)``."""
    return np.ascontiguousarray(np.moveaxis(array, 1, -1))
