"""SegAhnet: an anisotropic hybrid network (AH-Net) for 3D volumes with thick slices."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.networks.base import Network, load_pretrained, max_pool, output_head, upsample

#: Through-plane axis per Clara ``plane`` value (spatial axes are x, y, z).
PLANE_AXIS = {"x": 0, "y": 1, "z": 2}
#: Encoder stages: bottleneck width and residual block count (ResNet-50 block counts).
STAGES = ((16, 3), (32, 4), (64, 6), (128, 3))
#: Expansion of a bottleneck block's output over its width.
EXPANSION = 4
#: Decoder filters per step, deepest first.
DECODER = (128, 64, 32, 32)
#: Average-pooling factors (in-plane) of the pyramid pooling module.
PSP_POOLS = (2, 4, 8)


class SegAhnet(Network):
    """A 3D AH-Net in the spirit of Liu et al. (MICCAI 2018), as Clara's ``SegAhnet``.

    Implements Clara's ``SegAhnet``. Accepted args: ``num_classes``, ``if_use_psp``,
    ``pretrain_weight_name``, ``plane``, ``final_activation``, ``n_spatial_dim``,
    ``data_format``.

    AH-Net handles CT/MR volumes whose slices are thicker than their pixels: the encoder
    convolves mostly *in-plane* (3x3x1 kernels, as a 2D ResNet would) and mixes slices
    with separate 1x1x3 *through-plane* kernels; the decoder is 3D. This network keeps
    that idea:

    * stem: a 7x7x3 convolution (7 in-plane, 3 through-plane), batch norm, ReLU;
    * encoder: four stages of ResNet-50 bottleneck blocks (3, 4, 6, 3 blocks; widths
      16..128, outputs 4x wider), each block 1x1x1 -> 3x3x1 -> 1x1x3 -> 1x1x1 with a
      residual connection, each stage entered by 2x max pooling;
    * decoder: 2x upsampling, concatenation with the encoder output of that resolution,
      then a 3x3x3 and a 1x1x3 convolution, up to full resolution;
    * ``if_use_psp``: a pyramid pooling module at half resolution (in-plane average pools
      of 2, 4 and 8, each reduced to one channel, upsampled and concatenated);
    * head: 1x1x1 convolution and ``final_activation`` in float32.

    ``plane`` names the through-plane axis (``"z"``: slices stacked along z, the usual
    axial CT). Input sizes must divide 16 (the PSP pools divide the half-resolution map).
    ``n_spatial_dim: 2`` builds the in-plane (2D) network only.

    Differences from Clara's AH-Net: Clara initialised the encoder from an ImageNet
    ResNet-50 (``pretrain_weight_name`` pointing at
    ``resnet50_weights_tf_dim_ordering_tf_kernels.h5``) turned into 3x3x1 kernels, with
    full ResNet-50 widths; this one is narrower (about a quarter) to train on small
    machines, its stem does not stride, and ``pretrain_weight_name`` loads only a
    Keras weights file saved from this very network. An empty or missing file is
    ignored with a warning, as Clara configs name a file inside NVIDIA's container.

    Args:
        num_classes: output channels.
        if_use_psp: add the pyramid pooling module. Default false.
        pretrain_weight_name: weights file to start from ("" for none).
        plane: through-plane axis, ``"x"``, ``"y"`` or ``"z"`` (default).
        final_activation: ``softmax`` (default), ``sigmoid`` or ``linear``.
        n_spatial_dim: 3 (default) or 2; must match the data.
        data_format: Clara's layout, recorded only; the model is channels-last.
    """

    clara_name = "SegAhnet"

    def __init__(self, num_classes: Any = 2, if_use_psp: Any = False,
                 pretrain_weight_name: Any = "", plane: Any = "z",
                 final_activation: Any = "softmax", n_spatial_dim: Any = 3,
                 data_format: Any = "channels_first") -> None:
        name = self.clara_name
        self.if_use_psp = argcheck.as_bool(if_use_psp, component=name, arg="if_use_psp")
        if pretrain_weight_name is not None and not isinstance(pretrain_weight_name, str):
            raise argcheck.fail(name, "pretrain_weight_name", "a file path or \"\"",
                                pretrain_weight_name)
        self.pretrain_weight_name = pretrain_weight_name or ""
        self.plane = argcheck.as_choice(plane, tuple(PLANE_AXIS), component=name, arg="plane")
        self.n_spatial_dim = argcheck.as_int(n_spatial_dim, component=name,
                                             arg="n_spatial_dim")
        if self.n_spatial_dim not in (2, 3):
            raise argcheck.fail(name, "n_spatial_dim", "2 or 3", n_spatial_dim)
        super().__init__(num_classes=num_classes, if_use_psp=if_use_psp,
                         pretrain_weight_name=pretrain_weight_name, plane=plane,
                         final_activation=final_activation, n_spatial_dim=n_spatial_dim,
                         data_format=data_format)

    def check_input(self, spatial_dims: int, in_channels: int) -> None:
        """As Network.check_input; ``spatial_dims`` must equal ``n_spatial_dim``."""
        if spatial_dims != self.n_spatial_dim:
            raise argcheck.fail(self.clara_name, "n_spatial_dim",
                                f"the data's spatial dimensions ({spatial_dims})",
                                self.n_spatial_dim)
        super().check_input(spatial_dims, in_channels)

    @property
    def size_divisor(self) -> int:
        """16: four 2x poolings (the PSP pools divide the half-resolution map)."""
        return 2 ** len(STAGES)

    # -- kernel shapes ------------------------------------------------------------------

    def _kernel(self, dims: int, in_plane: int, through: int) -> tuple[int, ...]:
        if dims == 2:
            return (in_plane, in_plane)
        kernel = [in_plane] * 3
        kernel[PLANE_AXIS[self.plane]] = through
        return tuple(kernel)

    def _build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        from mmarctl.runtime.networks.runtime_graph import RuntimeGraphModel  # a keras.Model

        inputs = keras.Input((None,) * spatial_dims + (in_channels,), name="image")
        outputs = self.forward(inputs, _NewLayers(self, spatial_dims))
        model = RuntimeGraphModel(inputs, outputs, network=self, name="SegAhnet")
        return load_pretrained(model, self.pretrain_weight_name, self.clara_name)

    def built_layers(self, model, training: bool):
        """The steps of :meth:`forward` applied with ``model``'s layers (its runtime graph)."""
        from mmarctl.runtime.networks.segahnet_model import SegAhnetLayers

        return SegAhnetLayers(model, training, self)

    def forward(self, x, layers):
        """The network over ``x``, written once for both ways it runs: ``layers`` makes new
        Keras layers while the model is built (:class:`_NewLayers`), and applies the built
        model's own layers in its runtime graph (:mod:`.runtime_graph`,
        :mod:`.segahnet_model`), where decoder joins run at low resolution."""
        x = layers.conv(x, 32, 7, 3, "stem")
        skips = [x]
        for stage, (width, blocks) in enumerate(STAGES):
            x = layers.pool(x, f"pool{stage}")
            for b in range(blocks):
                x = self._bottleneck(x, layers, width, f"stage{stage}_{b}")
            skips.append(x)
        skips.pop()  # the deepest output is x itself
        for step, filters in enumerate(DECODER):
            x = layers.join(x, skips[-1 - step], filters, step)
            if layers.dims == 3:
                x = layers.conv(x, filters, 1, 3, f"dec{step}_through")
            if self.if_use_psp and step == len(DECODER) - 2:
                x = self._psp(x, layers)
        return layers.head(x)

    def _bottleneck(self, x, layers, width: int, name: str):
        out = width * EXPANSION
        shortcut = x
        if x.shape[-1] != out:
            shortcut = layers.conv(x, out, 1, 1, f"{name}_proj", relu=False)
        y = layers.conv(x, width, 1, 1, f"{name}_reduce")
        y = layers.conv(y, width, 3, 1, f"{name}_inplane")
        if layers.dims == 3:
            y = layers.conv(y, width, 1, 3, f"{name}_through")
        y = layers.conv(y, out, 1, 1, f"{name}_expand", relu=False)
        return layers.add(shortcut, y, name)

    def _psp(self, x, layers):
        branches = [x]
        for factor in PSP_POOLS:
            size = self._kernel(layers.dims, factor, 1)
            y = layers.average_pool(x, size, f"psp{factor}_pool")
            y = layers.conv(y, 1, 1, 1, f"psp{factor}_conv")
            branches.append(layers.upsample(y, size, f"psp{factor}_up"))
        return layers.concatenate(branches, "psp")


class _NewLayers:
    """SegAhnet's steps as new Keras layers: ``{name}`` / ``_bn`` / ``_relu`` per
    convolution, ``{name}_add`` / ``_out`` per residual block, ``pool{i}``, ``up{j}``,
    ``skip{j}``, the ``psp*`` layers, ``logits`` and ``probabilities``."""

    def __init__(self, network: SegAhnet, dims: int) -> None:
        self.network, self.dims = network, dims

    def conv(self, x, filters: int, in_plane: int, through: int, name: str,
             relu: bool = True):
        """Convolution (``in_plane`` x ``through`` kernel), batch norm, ReLU."""
        from mmarctl.runtime.networks.batch_norm import BatchNormalization  # Keras layers
        from mmarctl.runtime.networks.convolution import convolution

        x = convolution(self.dims)(filters, self.network._kernel(self.dims, in_plane, through),
                                   padding="same", use_bias=False, name=name)(x)
        x = BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x

    def add(self, shortcut, y, name: str):
        """Residual sum, then ReLU."""
        y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
        return keras.layers.ReLU(name=f"{name}_out")(y)

    def pool(self, x, name: str):
        """2x max pooling (:func:`.base.max_pool`)."""
        return max_pool(self.dims, name)(x)

    def average_pool(self, x, size: tuple[int, ...], name: str):
        """Average pooling by ``size``, in float32."""
        pool = (keras.layers.AveragePooling3D if self.dims == 3
                else keras.layers.AveragePooling2D)
        return pool(size, dtype="float32", name=name)(x)

    def upsample(self, x, size, name: str):
        """Nearest up-sampling by ``size``."""
        return upsample(self.dims, size, name)(x)

    def concatenate(self, tensors, name: str):
        """Concatenation along channels."""
        return keras.layers.Concatenate(name=name)(tensors)

    def join(self, low, skip, filters: int, step: int):
        """Decoder step: 2x up-sampling, concatenation with the skip, a 3^d convolution."""
        x = self.concatenate([self.upsample(low, 2, f"up{step}"), skip], f"skip{step}")
        return self.conv(x, filters, 3, 3, f"dec{step}_conv")

    def head(self, x):
        """1x1 convolution to the classes and the float32 final activation."""
        network = self.network
        return output_head(x, self.dims, network.num_classes, network.final_activation)
