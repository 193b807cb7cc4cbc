"""ResidualUnet: MONAI's ``UNet`` (Kerfoot et al. 2018) rebuilt layer for layer in Keras.

Architecture (``monai.networks.nets.UNet``, ``L = len(strides)``): there is no pooling and
no upsampling layer. Down level ``l`` is one strided convolution block (``channels[l]``
filters, stride ``strides[l]``); the bottom block maps to ``channels[-1]`` at stride 1; up
level ``l`` concatenates ``[down_l output, everything below]`` and runs a strided
*transposed* convolution block back to ``channels[l-1]`` (``num_classes`` at the top). A
convolution block is conv -> norm -> dropout -> activation (MONAI's "NDA" ordering). With
``num_res_units > 0`` every down/bottom block is a residual unit of that many such blocks
plus a shortcut (a strided conv with the same kernel when the unit downsamples, a 1x1 conv
when only the channel count changes, else identity), and every up block is followed by a
one-block residual unit. The top up block ends without norm/activation (MONAI's logits);
``final_activation`` is applied on top of it, in float32.

Padding (``padding``): with ``"torch"`` it follows PyTorch exactly: a stride-2 "same"
convolution in TensorFlow pads (0, 1) on an even input where torch's ``padding=k//2`` pads
(k//2, k//2), and a "same" transposed convolution is shifted by one voxel against torch's
``ConvTranspose`` (``padding=k//2, output_padding=stride-1``). So strided convolutions
become explicit ``ZeroPadding`` + "valid", and transposed convolutions "valid" with
``output_padding=stride-1`` followed by ``Cropping`` of ``k//2`` on both sides, which is
torch's definition of its padding. With these, MONAI's weights copied across give the same
output (``benchmarks/monai/twin_nets.copy_monai_unet_weights``,
``tests/test_monai_unet_parity.py``). The default ``"same"`` is TensorFlow's own padding:
the same layers, weights and multiply-adds, the odd border voxel placed after instead of
split. It trains as well and steps about 1.4x faster on CPU: the extra pad and crop copies
and their gradients cost time, and an explicit pad before a convolution makes grappler's
remapper fail ("remapper failed: ... missing node .../Pad"), which turns off its op fusions
for the whole graph.
"""

from __future__ import annotations

import math
from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.networks.base import Network, probabilities

#: Activations after each convolution (MONAI's ``act`` names).
ACTS = ("prelu", "relu", "leakyrelu", "elu")
#: Where convolutions pad: TensorFlow's "same", or exactly as PyTorch (MONAI weights load).
PADDINGS = ("same", "torch")
#: Normalisations after each convolution (MONAI's ``norm`` names; "none" or null for none).
NORMS = ("instance", "batch", "group", "none")
#: torch's defaults, so that copied weights and fresh training behave as MONAI's do.
NORM_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # Keras weighs the old statistics: torch's momentum 0.1
LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU (Keras' default is 0.3)
PRELU_INIT = 0.25  # torch.nn.PReLU, one parameter shared by all channels


class ResidualUnet(Network):
    """MONAI's residual U-Net for 2D or 3D segmentation, weight-for-weight.

    Not a Clara 3.x network (Clara 4.x / MONAI users know it as ``UNet``). Accepted args:
    ``num_classes``, ``channels``, ``strides``, ``kernel_size``, ``up_kernel_size``,
    ``num_res_units``, ``act``, ``norm``, ``num_groups``, ``dropout``, ``bias``,
    ``final_activation``, ``data_format``. The layout is described in the module
    docstring; spatial input sizes must be multiples of ``prod(strides)``.

    Layer names: ``down{l}``, ``bottom`` and ``up{l}`` (``l = 0`` at the top) for the
    blocks, ``skip{l}`` for the concatenations and ``probabilities`` for the output. A
    convolution block ``P`` holds ``P_pad``/``P_conv``/``P_crop``/``P_norm``/``P_dropout``/
    ``P_act`` (those it needs); a residual unit ``P`` holds blocks ``P_unit{u}``, the
    shortcut ``P_residual`` and ``P_add``; an up block's residual unit is ``up{l}_res``.

    Args:
        num_classes: output channels (MONAI's ``out_channels``).
        channels: filters per level, top first, at least 2 (list or comma string).
        strides: stride of each down level, ``len(channels) - 1`` integers.
        kernel_size: odd kernel size of the convolutions. Default 3.
        up_kernel_size: odd kernel size of the transposed convolutions. Default 3.
        num_res_units: convolutions per residual unit; 0 (default) for plain blocks.
        act: ``prelu`` (default), ``relu``, ``leakyrelu`` (slope 0.01) or ``elu``.
        norm: ``instance`` (default, no affine parameters, as torch's), ``batch``,
            ``group`` or ``none``/null.
        num_groups: groups of ``norm: group``. Default 8; must divide every normalised
            channel count.
        dropout: dropout rate after each normalisation, in [0, 1). Default 0.
        bias: convolutions have biases. Default true.
        padding: ``"same"`` (default, TensorFlow's, faster) or ``"torch"`` (PyTorch's
            exactly, so that MONAI weights give MONAI's output); see the module docstring.
        final_activation: ``softmax`` (default), ``sigmoid`` or ``linear``.
        data_format: Clara's layout, recorded only; the model is channels-last.
    """

    clara_name = "ResidualUnet"

    def __init__(self, num_classes: Any, channels: Any, strides: Any, kernel_size: Any = 3,
                 up_kernel_size: Any = 3, num_res_units: Any = 0, act: Any = "prelu",
                 norm: Any = "instance", num_groups: Any = 8, dropout: Any = 0.0,
                 bias: Any = True, padding: Any = "same", final_activation: Any = "softmax",
                 data_format: Any = "channels_first") -> None:
        name = self.clara_name
        self.channels = argcheck.as_int_list(channels, component=name, arg="channels")
        if len(self.channels) < 2:
            raise argcheck.fail(name, "channels", "a list of at least 2 integers", channels)
        self.strides = argcheck.as_int_list(strides, component=name, arg="strides",
                                            length=len(self.channels) - 1)
        self.kernel_size = _odd(kernel_size, name, "kernel_size")
        self.up_kernel_size = _odd(up_kernel_size, name, "up_kernel_size")
        self.num_res_units = argcheck.as_int(num_res_units, component=name,
                                             arg="num_res_units", minimum=0)
        self.act = _choice(act, ACTS, name, "act")
        chosen = "none" if norm is None else _choice(norm, NORMS, name, "norm")
        self.norm = None if chosen == "none" else chosen
        self.num_groups = argcheck.as_int(num_groups, component=name, arg="num_groups",
                                          minimum=1)
        self.dropout = argcheck.as_float(dropout, component=name, arg="dropout", minimum=0)
        if self.dropout >= 1:
            raise argcheck.fail(name, "dropout", "a number in [0, 1)", dropout)
        self.bias = argcheck.as_bool(bias, component=name, arg="bias")
        self.padding = _choice(padding, PADDINGS, name, "padding")
        super().__init__(num_classes=num_classes, channels=channels, strides=strides,
                         kernel_size=kernel_size, up_kernel_size=up_kernel_size,
                         num_res_units=num_res_units, act=act, norm=norm,
                         num_groups=num_groups, dropout=dropout, bias=bias, padding=padding,
                         final_activation=final_activation, data_format=data_format)
        if self.norm == "group":
            # torch's GroupNorm refuses these too; say so before anything is built.
            counts = sorted(set(self.channels) | ({self.num_classes} if self.num_res_units
                                                   else set()))
            if any(count % self.num_groups for count in counts):
                raise argcheck.fail(name, "num_groups", "a divisor of every normalised channel "
                                    f"count {counts} (channels, and num_classes when "
                                    "num_res_units > 0)", num_groups)

    @property
    def size_divisor(self) -> int:
        """``prod(strides)``: each down level divides the size by its stride."""
        return math.prod(self.strides)

    # ------------------------------------------------------------------ blocks

    def _convolution(self, x, dims: int, filters: int, strides: int, prefix: str, *,
                     transposed: bool = False, conv_only: bool = False):
        """MONAI's ``Convolution``: (transposed) conv, then norm, dropout, activation."""
        from mmarctl.runtime.networks.convolution import convolution  # Keras layers

        kernel = self.up_kernel_size if transposed else self.kernel_size
        pad = kernel // 2
        common = self._conv_args(x.shape[-1], filters, kernel, dims, transposed)
        if transposed:
            layer = convolution(dims, transposed=True)
            if self.padding == "same":
                x = layer(filters, kernel, strides=strides, padding="same",
                          name=f"{prefix}_conv", **common)(x)
            else:
                x = layer(filters, kernel, strides=strides, padding="valid",
                          output_padding=strides - 1, name=f"{prefix}_conv", **common)(x)
                if pad:
                    crop = keras.layers.Cropping3D if dims == 3 else keras.layers.Cropping2D
                    x = crop(((pad, pad),) * dims, name=f"{prefix}_crop")(x)
        else:
            x = _conv(x, dims, filters, kernel, strides, prefix, self.padding, **common)
        if conv_only:
            return x
        if self.norm is not None:
            x = self._norm_layer(filters, f"{prefix}_norm")(x)
        if self.dropout > 0:  # MONAI adds Dropout(p=0), an identity
            x = keras.layers.Dropout(self.dropout, name=f"{prefix}_dropout")(x)
        return self._act_layer(dims, f"{prefix}_act")(x)

    def _residual_unit(self, x, dims: int, filters: int, strides: int, subunits: int,
                       prefix: str, *, last_conv_only: bool = False):
        """MONAI's ``ResidualUnit``: ``subunits`` blocks (the first strided) + shortcut."""
        shortcut = x
        for u in range(subunits):
            x = self._convolution(x, dims, filters, strides if u == 0 else 1,
                                  f"{prefix}_unit{u}",
                                  conv_only=last_conv_only and u == subunits - 1)
        if strides != 1 or shortcut.shape[-1] != filters:
            # A downsampling shortcut uses the unit's kernel; a channel change alone, 1x1.
            kernel = self.kernel_size if strides != 1 else 1
            shortcut = _conv(shortcut, dims, filters, kernel, strides, f"{prefix}_residual",
                             self.padding, suffix="",
                             **self._conv_args(shortcut.shape[-1], filters, kernel, dims))
        return keras.layers.Add(name=f"{prefix}_add")([x, shortcut])

    def _down(self, x, dims: int, filters: int, strides: int, prefix: str):
        if self.num_res_units > 0:
            return self._residual_unit(x, dims, filters, strides, self.num_res_units, prefix)
        return self._convolution(x, dims, filters, strides, prefix)

    def _up(self, x, dims: int, filters: int, strides: int, prefix: str, is_top: bool):
        x = self._convolution(x, dims, filters, strides, prefix, transposed=True,
                              conv_only=is_top and self.num_res_units == 0)
        if self.num_res_units > 0:
            x = self._residual_unit(x, dims, filters, 1, 1, f"{prefix}_res",
                                    last_conv_only=is_top)
        return x

    def _conv_args(self, in_channels: int, filters: int, kernel: int, dims: int,
                   transposed: bool = False) -> dict[str, Any]:
        """Bias switch and torch's default initialisation for one (transposed) convolution.

        torch draws kernel and bias from U(+-1/sqrt(fan_in)) (kaiming_uniform with
        a=sqrt(5)); Keras' fan_in-scaled VarianceScaling(1/3) is the same kernel draw, and
        both count a transposed kernel's fan_in over its output channels.
        """
        fan_in = (filters if transposed else in_channels) * kernel ** dims
        bound = 1 / math.sqrt(fan_in)
        return dict(use_bias=self.bias,
                    kernel_initializer=keras.initializers.VarianceScaling(
                        1 / 3, mode="fan_in", distribution="uniform"),
                    bias_initializer=keras.initializers.RandomUniform(-bound, bound))

    def _norm_layer(self, filters: int, name: str):
        from mmarctl.runtime.networks.batch_norm import BatchNormalization  # Keras layers
        from mmarctl.runtime.networks.group_norm import GroupNormalization

        if self.norm == "batch":
            return BatchNormalization(momentum=BN_MOMENTUM, epsilon=NORM_EPSILON, name=name)
        if self.norm == "group":
            return GroupNormalization(groups=self.num_groups, epsilon=NORM_EPSILON, name=name)
        # Instance norm = one group per channel; torch's InstanceNorm has no gamma/beta.
        return GroupNormalization(groups=filters, center=False, scale=False,
                                  epsilon=NORM_EPSILON, name=name)

    def _act_layer(self, dims: int, name: str):
        if self.act == "prelu":
            from mmarctl.runtime.networks.prelu import PReLU  # the fused kernel in training

            # torch.nn.PReLU() learns a single slope: share it across every axis.
            return PReLU(alpha_initializer=keras.initializers.Constant(PRELU_INIT),
                         shared_axes=list(range(1, dims + 2)), name=name)
        if self.act == "leakyrelu":
            return keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=name)
        if self.act == "elu":
            return keras.layers.ELU(name=name)
        return keras.layers.ReLU(name=name)

    # ------------------------------------------------------------------ model

    def _build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        dims = spatial_dims
        inputs = keras.Input((None,) * dims + (in_channels,), name="image")
        x, skips = inputs, []
        for level, (filters, stride) in enumerate(zip(self.channels, self.strides)):
            x = self._down(x, dims, filters, stride, f"down{level}")
            skips.append(x)
        x = self._down(x, dims, self.channels[-1], 1, "bottom")
        for level in reversed(range(len(self.strides))):
            # MONAI's SkipConnection: torch.cat([x, submodule(x)]) on the channel axis.
            x = keras.layers.Concatenate(name=f"skip{level}")([skips[level], x])
            filters = self.channels[level - 1] if level else self.num_classes
            x = self._up(x, dims, filters, self.strides[level], f"up{level}", level == 0)
        outputs = probabilities(x, self.final_activation)
        return keras.Model(inputs, outputs, name="ResidualUnet")


def _conv(x, dims: int, filters: int, kernel: int, strides: int, prefix: str,
          padding: str, suffix: str = "_conv", **kwargs: Any):
    """A convolution named ``prefix + suffix``, padded as ``padding`` says (see PADDINGS).

    Stride 1 with an odd kernel is Keras "same" either way (symmetric). A strided one with
    ``"torch"`` pads explicitly (``prefix_pad``), as torch's ``padding=kernel//2`` does,
    where Keras "same" would pad only after.
    """
    from mmarctl.runtime.networks.convolution import convolution  # Keras layers

    layer = convolution(dims)
    if strides == 1 or padding == "same":
        return layer(filters, kernel, strides=strides, padding="same", name=prefix + suffix,
                     **kwargs)(x)
    if kernel // 2:
        zero_pad = keras.layers.ZeroPadding3D if dims == 3 else keras.layers.ZeroPadding2D
        x = zero_pad(kernel // 2, name=f"{prefix}_pad")(x)
    return layer(filters, kernel, strides=strides, padding="valid", name=prefix + suffix,
                 **kwargs)(x)


def _odd(value: Any, component: str, arg: str) -> int:
    size = argcheck.as_int(value, component=component, arg=arg, minimum=1)
    if size % 2 == 0:  # torch's padding k//2 keeps the size only for odd kernels
        raise argcheck.fail(component, arg, "an odd integer >= 1", value)
    return size


def _choice(value: Any, choices: tuple[str, ...], component: str, arg: str) -> str:
    """One of ``choices``, in any case: MONAI writes "PRELU" and ``Act.PRELU == "prelu"``."""
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise argcheck.fail(component, arg, "one of " + ", ".join(repr(c) for c in choices), value)
