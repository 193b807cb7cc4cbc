"""One small fully-convolutional 3D net, built in Keras and in PyTorch with the same weights.

The sliding-window row must compare the *inferers*, so the network under them has to be
identical: :func:`keras_convnet` builds it channels-last for mmarctl, :func:`torch_convnet`
builds it channels-first for MONAI and :func:`copy_weights` moves every kernel across.

Layout conversions (both frameworks compute cross-correlation, so no kernel flip):

* Keras ``Conv3D`` kernel ``(kx, ky, kz, in, out)`` -> torch ``Conv3d`` weight
  ``(out, in, kx, ky, kz)``: ``transpose(4, 3, 0, 1, 2)``; biases are the same vector.
* activations: Keras ``(B, x, y, z, C)`` <-> torch ``(B, C, x, y, z)``: ``moveaxis(-1, 1)``.

"same" padding with odd kernels pads ``k // 2`` on both sides in both frameworks.

:func:`copy_monai_unet_weights` does the opposite direction for a whole
``monai.networks.nets.UNet``: torch -> mmarctl's ``ResidualUnet``.
"""

from __future__ import annotations

import numpy as np


def keras_convnet(widths: tuple[int, ...], in_channels: int, num_classes: int, seed: int = 0):
    """3x3x3 conv + ReLU per entry of ``widths``, then a 1x1x1 conv and softmax (Keras).

    The softmax is the head every mmarctl network ends in (``networks.base.probabilities``:
    float32 under a mixed policy, as torch's autocast runs softmax, and the two-class form),
    so the row times the inferer around the head mmarctl really runs. Keras' own
    ``Softmax`` layer under ``mixed_bfloat16`` computes in bfloat16 through oneDNN's softmax,
    which took 40 % of the bfloat16 volume (508 ms of 1.25 s, 2026-12-05).
    """
    import keras

    from mmarctl.runtime.networks.base import probabilities

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, None, in_channels))
    x = inputs
    for i, width in enumerate(widths):
        x = keras.layers.Conv3D(width, 3, padding="same", activation="relu", name=f"c{i}")(x)
    x = keras.layers.Conv3D(num_classes, 1, name="head")(x)
    outputs = probabilities(x, "softmax")
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


# ---------------------------------------------------------------- MONAI UNet -> ResidualUnet

def copy_monai_unet_weights(torch_unet, keras_model) -> int:
    """Copy a ``monai.networks.nets.UNet``'s weights into mmarctl's ``ResidualUnet`` model.

    ``keras_model`` must come from ``ResidualUnet(...).build(...)`` with the same channels,
    strides, kernel sizes, residual units, norm and act as ``torch_unet``. Layers are paired
    by walking MONAI's module tree (``Sequential(down, SkipConnection(...), up)`` per level,
    ``Convolution`` = conv + ADN, ``ResidualUnit`` = units + shortcut) and deriving the Keras
    layer names ResidualUnet gives the same blocks (``down{l}``, ``bottom``, ``up{l}``, ...).

    Copied: conv and transposed-conv kernels and biases (both torch layouts go to Keras with
    the spatial axes first and the two channel axes swapped; both frameworks compute
    cross-correlation and transposed convolutions as its adjoint, so no spatial flip),
    norm gamma/beta, batch-norm running mean/variance, PReLU slopes.

    Returns the number of Keras layers written.

    Raises:
        ValueError: a block has no Keras counterpart, a Keras layer with weights is left
            unmatched, or a weight count or shape differs.
    """
    pairs = list(_monai_unet_pairs(torch_unet))
    written = set()
    for name, module in pairs:
        try:
            layer = keras_model.get_layer(name)
        except ValueError:
            raise ValueError(f"the Keras model has no layer {name!r} for MONAI's "
                             f"{type(module).__name__}: was it built with the same "
                             "arguments?") from None
        arrays, current = _torch_arrays(module), layer.get_weights()
        if len(arrays) != len(current):
            raise ValueError(f"{name}: torch {type(module).__name__} has {len(arrays)} weight "
                             f"arrays, Keras {type(layer).__name__} {len(current)}")
        for index, (theirs, ours) in enumerate(zip(arrays, current)):
            if theirs.size == ours.size == 1:  # PReLU's one slope: (1,) -> (1, ..., 1)
                arrays[index] = theirs = theirs.reshape(ours.shape)
            if theirs.shape != ours.shape:
                raise ValueError(f"{name}: weight {index} has shape {theirs.shape} from torch, "
                                 f"Keras expects {ours.shape}")
        layer.set_weights(arrays)
        written.add(name)
    unmatched = sorted(layer.name for layer in keras_model.layers
                       if layer.weights and layer.name not in written)
    if unmatched:
        raise ValueError(f"Keras layers with no MONAI counterpart: {unmatched}")
    return len(written)


def _monai_unet_pairs(torch_unet):
    """``(keras layer name, torch module)`` for every torch module that may hold weights."""
    import torch
    from monai.networks.layers.simplelayers import SkipConnection

    block, level = torch_unet.model, 0
    while True:
        down, skip, up = block  # MONAI's _get_connection_block: Sequential(down, skip, up)
        if not isinstance(skip, SkipConnection):
            raise ValueError(f"level {level}: expected a SkipConnection, found "
                             f"{type(skip).__name__}; is this a monai UNet?")
        yield from _monai_block(f"down{level}", down)
        yield from _monai_up(f"up{level}", up)
        inner = skip.submodule
        # A deeper level is Sequential(down, SkipConnection, up); the bottom is a block.
        if (type(inner) is torch.nn.Sequential and len(inner) == 3
                and isinstance(inner[1], SkipConnection)):
            block, level = inner, level + 1
            continue
        yield from _monai_block("bottom", inner)
        return


def _monai_up(prefix: str, up):
    """An up block: a transposed ``Convolution``, or ``Sequential(it, ResidualUnit)``."""
    from monai.networks.blocks import Convolution

    if isinstance(up, Convolution):
        yield from _monai_convolution(prefix, up)
    else:
        yield from _monai_convolution(prefix, up[0])
        yield from _monai_block(f"{prefix}_res", up[1])


def _monai_block(prefix: str, block):
    """A down or bottom block: a ``Convolution`` or a ``ResidualUnit``."""
    from monai.networks.blocks import Convolution, ResidualUnit

    if isinstance(block, ResidualUnit):
        for u, unit in enumerate(block.conv):
            yield from _monai_convolution(f"{prefix}_unit{u}", unit)
        if not _is_identity(block.residual):
            yield f"{prefix}_residual", block.residual
    elif isinstance(block, Convolution):
        yield from _monai_convolution(prefix, block)
    else:
        raise ValueError(f"{prefix}: unexpected MONAI block {type(block).__name__}")


def _monai_convolution(prefix: str, block):
    """``Convolution``: ``conv`` then ADN's ``N`` (norm) and ``A`` (activation)."""
    yield f"{prefix}_conv", block.conv
    adn = getattr(block, "adn", None)
    for key, module in (adn.named_children() if adn is not None else ()):
        if key == "N":
            yield f"{prefix}_norm", module
        elif key == "A":
            yield f"{prefix}_act", module


def _is_identity(module) -> bool:
    import torch

    return isinstance(module, torch.nn.Identity)


def _torch_arrays(module) -> list[np.ndarray]:
    """The module's weights in the order and layout the matching Keras layer stores them."""
    import torch

    def numpy(tensor):
        return tensor.detach().cpu().numpy().astype(np.float32)

    if isinstance(module, torch.nn.modules.conv._ConvNd):
        # Conv (out, in, *k) -> (*k, in, out); ConvTranspose (in, out, *k) -> (*k, out, in).
        weight = numpy(module.weight)
        axes = tuple(range(2, weight.ndim)) + (1, 0)
        arrays = [np.ascontiguousarray(weight.transpose(axes))]
        return arrays + ([numpy(module.bias)] if module.bias is not None else [])
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        arrays = [numpy(module.weight), numpy(module.bias)] if module.affine else []
        if module.track_running_stats:
            arrays += [numpy(module.running_mean), numpy(module.running_var)]
        return arrays
    if isinstance(module, (torch.nn.GroupNorm, torch.nn.modules.instancenorm._InstanceNorm)):
        return [numpy(module.weight), numpy(module.bias)] if module.affine else []
    if isinstance(module, torch.nn.PReLU):
        return [numpy(module.weight)]
    return [numpy(p) for p in module.parameters()]  # e.g. ReLU: none
