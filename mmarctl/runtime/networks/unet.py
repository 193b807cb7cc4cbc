"""Unet: Clara's encoder-decoder segmentation network with skip connections."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.networks.base import (Network, conv, max_pool, normalization, output_head,
                                          upsample)


class Unet(Network):
    """A U-Net for 2D or 3D segmentation, sized by Clara's ``nf_enc`` / ``nf_dec`` lists.

    Implements Clara's ``Unet``. Accepted args: ``num_classes``, ``nf_enc``, ``nf_dec``,
    ``use_batch_norm``, ``use_group_norm``, ``data_format``, ``final_activation``.

    Layout (``L = len(nf_enc)`` levels):

    * encoder level ``i``: a 3x3(x3) convolution with ``nf_enc[i]`` filters (+ norm, ReLU)
      at resolution ``1/2**i``; its output is kept as a skip; then 2x max pooling;
    * bottleneck: convolution with ``nf_dec[0]`` filters at resolution ``1/2**L``;
    * decoder step ``j = 1..L``: 2x nearest upsampling, concatenation with the matching
      skip, convolution with ``nf_dec[j]`` filters;
    * any further ``nf_dec`` entries are extra convolutions at full resolution, then a 1x1
      convolution to ``num_classes`` and ``final_activation`` (float32).

    So ``nf_dec`` needs at least ``L + 1`` entries; Clara's spleen MMAR uses
    ``nf_enc="32,64,64,64"``, ``nf_dec="64,64,64,64,64,32,32"`` (the defaults here).
    Spatial input dims are ``None``: any size divisible by ``2**L`` works.

    Args:
        num_classes: output channels.
        nf_enc: encoder filters, a list or a comma string.
        nf_dec: bottleneck, decoder and extra filters, a list or a comma string.
        use_batch_norm: batch normalisation after each convolution.
        use_group_norm: group normalisation (8 groups) instead; exclusive with batch norm.
        data_format: Clara's layout, recorded only; the model is channels-last (see Network).
        final_activation: ``softmax`` (default), ``sigmoid`` or ``linear``.
    """

    clara_name = "Unet"

    def __init__(self, num_classes: Any = 2, nf_enc: Any = "32,64,64,64",
                 nf_dec: Any = "64,64,64,64,64,32,32", use_batch_norm: Any = False,
                 use_group_norm: Any = False, data_format: Any = "channels_first",
                 final_activation: Any = "softmax") -> None:
        name = self.clara_name
        self.nf_enc = argcheck.as_int_list(nf_enc, component=name, arg="nf_enc")
        self.nf_dec = argcheck.as_int_list(nf_dec, component=name, arg="nf_dec")
        if len(self.nf_dec) < len(self.nf_enc) + 1:
            raise argcheck.fail(name, "nf_dec",
                                f"at least len(nf_enc) + 1 = {len(self.nf_enc) + 1} entries "
                                "(bottleneck + one per decoder level)", nf_dec)
        batch = argcheck.as_bool(use_batch_norm, component=name, arg="use_batch_norm")
        group = argcheck.as_bool(use_group_norm, component=name, arg="use_group_norm")
        if batch and group:
            raise argcheck.fail(name, "use_group_norm",
                                "false when use_batch_norm is true (choose one)", use_group_norm)
        self.norm = "batch" if batch else "group" if group else None
        super().__init__(num_classes=num_classes, nf_enc=nf_enc, nf_dec=nf_dec,
                         use_batch_norm=use_batch_norm, use_group_norm=use_group_norm,
                         data_format=data_format, final_activation=final_activation)

    @property
    def levels(self) -> int:
        """How many times the input is halved; spatial sizes must divide ``2**levels``."""
        return len(self.nf_enc)

    @property
    def size_divisor(self) -> int:
        """``2**levels``."""
        return 2 ** self.levels

    def _build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        from mmarctl.runtime.networks.runtime_graph import RuntimeGraphModel  # a keras.Model

        inputs = keras.Input((None,) * spatial_dims + (in_channels,), name="image")
        outputs = self.forward(inputs, _NewLayers(self, spatial_dims))
        return RuntimeGraphModel(inputs, outputs, network=self, name="Unet")

    def built_layers(self, model, training: bool):
        """The steps of :meth:`forward` applied with ``model``'s layers (its runtime graph)."""
        from mmarctl.runtime.networks.unet_model import UnetLayers

        return UnetLayers(model, training, self)

    def forward(self, x, layers):
        """The network over ``x``, written once for both ways it runs: ``layers`` makes new
        Keras layers while the model is built (:class:`_NewLayers`), and applies the built
        model's own layers in its runtime graph (:mod:`.runtime_graph`, :mod:`.unet_model`),
        where decoder joins run at low resolution."""
        skips = []
        for i, filters in enumerate(self.nf_enc):
            x = layers.block(x, filters, f"enc{i}")
            skips.append(x)
            x = layers.pool(x, f"pool{i}")
        x = layers.block(x, self.nf_dec[0], "bottleneck")
        for j in range(1, self.levels + 1):
            x = layers.join(x, skips[-j], self.nf_dec[j], j)
        for k, filters in enumerate(self.nf_dec[self.levels + 1:]):
            x = layers.block(x, filters, f"extra{k}")
        return layers.head(x)


class _NewLayers:
    """The Unet's steps as new Keras layers, named ``{step}_conv`` / ``_norm`` / ``_relu``,
    ``pool{i}``, ``up{j}``, ``skip{j}``, ``logits`` and ``probabilities``."""

    def __init__(self, unet: Unet, dims: int) -> None:
        self.unet, self.dims = unet, dims

    def block(self, x, filters: int, name: str):
        """Convolution (+ norm) + ReLU."""
        norm = self.unet.norm
        x = conv(self.dims, filters, use_bias=norm is None, name=f"{name}_conv")(x)
        if norm is not None:
            x = normalization(norm, filters, name=f"{name}_norm")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    def pool(self, x, name: str):
        """2x max pooling (:func:`.base.max_pool`)."""
        return max_pool(self.dims, name)(x)

    def join(self, low, skip, filters: int, level: int):
        """Decoder step: 2x nearest up-sampling, concatenation with the skip, a block."""
        x = upsample(self.dims, 2, f"up{level}")(low)
        x = keras.layers.Concatenate(name=f"skip{level}")([x, skip])
        return self.block(x, filters, f"dec{level}")

    def head(self, x):
        """1x1 convolution to the classes and the float32 final activation."""
        return output_head(x, self.dims, self.unet.num_classes, self.unet.final_activation)
