"""SegResnet: Myronenko's residual encoder-decoder (BraTS 2018) as used by Clara."""

from __future__ import annotations

import warnings

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.errors import ConfigError
from mmarctl.runtime import argcheck
from mmarctl.runtime.networks.base import Network, conv, l2, normalization, output_head, upsample


#: blocks_up when the config gives none (told apart by identity: a config's "1,1,1" is
#: another string object).
_DEFAULT_BLOCKS_UP = "1,1,1"


class SegResnet(Network):
    """A residual encoder with a light decoder, after Myronenko (2018), without the VAE branch.

    Implements Clara's ``SegResnet``. Accepted args: ``num_classes``, ``use_vae``,
    ``blocks_down``, ``blocks_up``, ``init_filters``, ``use_group_norm``,
    ``use_group_normG``, ``reg_weight``, ``dropout_prob``, ``final_activation``,
    ``data_format``.

    Layout (``L = len(blocks_down)`` levels): a 3x3(x3) stem with ``init_filters`` filters
    and spatial dropout; level ``i`` has ``init_filters * 2**i`` filters, is entered by a
    stride-2 convolution (for ``i > 0``) and holds ``blocks_down[i]`` residual blocks
    (norm, ReLU, conv, norm, ReLU, conv, + identity). Decoder step ``j`` reduces the
    filters with a 1x1 convolution, upsamples 2x (nearest; the paper uses trilinear),
    adds the encoder's output of the same level and runs ``blocks_up[j]`` residual blocks.
    The head is norm, ReLU, 1x1 convolution, ``final_activation`` (float32). Input sizes
    must divide ``2**(L-1)``.

    The variational auto-encoder branch (``use_vae``) is not implemented: it needs a fixed
    input size and an extra loss term, and ``use_vae: true`` is rejected.

    Args:
        num_classes: output channels.
        use_vae: must be false.
        blocks_down: residual blocks per encoder level (list or comma string). Default
            ``"1,2,2,4"``.
        blocks_up: residual blocks per decoder step, ``len(blocks_down) - 1`` entries.
            Default ``"1,1,1"``.
        init_filters: filters of the first level. Default 8.
        use_group_norm: group normalisation (default) rather than batch normalisation.
        use_group_normG: number of groups. Default 8.
        reg_weight: L2 weight decay on convolution kernels (its penalty is in
            ``model.losses``); 0 disables. Default 1e-5.
        dropout_prob: spatial dropout after the stem, in [0, 1). Default 0.2.
        final_activation: ``softmax`` (default), ``sigmoid`` or ``linear``.
        data_format: Clara's layout, recorded only; the model is channels-last.
    """

    clara_name = "SegResnet"

    def __init__(self, num_classes: Any = 2, use_vae: Any = False, blocks_down: Any = "1,2,2,4",
                 blocks_up: Any = _DEFAULT_BLOCKS_UP, init_filters: Any = 8, use_group_norm: Any = True,
                 use_group_normG: Any = 8, reg_weight: Any = 1e-5, dropout_prob: Any = 0.2,
                 final_activation: Any = "softmax", data_format: Any = "channels_first") -> None:
        name = self.clara_name
        if argcheck.as_bool(use_vae, component=name, arg="use_vae"):
            raise argcheck.fail(name, "use_vae", "false (mmarctl does not implement the VAE "
                                "regularisation branch)", use_vae)
        self.blocks_down = argcheck.as_int_list(blocks_down, component=name, arg="blocks_down",
                                                minimum=0)
        if blocks_up is _DEFAULT_BLOCKS_UP and len(self.blocks_down) not in (1, 4):
            # the user wrote no blocks_up: blame the default, not a value they never wrote
            raise ConfigError(
                f"{name}: blocks_up must be set for a blocks_down of {len(self.blocks_down)} "
                f"levels: its default {_DEFAULT_BLOCKS_UP!r} fits 4 levels, and it needs "
                f"{len(self.blocks_down) - 1} entries (one per decoder step); Received: "
                f"blocks_down={blocks_down!r}")
        self.blocks_up = argcheck.as_int_list(blocks_up, component=name, arg="blocks_up",
                                              minimum=0, length=len(self.blocks_down) - 1
                                              if len(self.blocks_down) > 1 else None)
        if len(self.blocks_down) < 2:
            raise argcheck.fail(name, "blocks_down", "at least 2 levels", blocks_down)
        self.init_filters = argcheck.as_int(init_filters, component=name, arg="init_filters",
                                            minimum=1)
        group = argcheck.as_bool(use_group_norm, component=name, arg="use_group_norm")
        self.groups = argcheck.as_int(use_group_normG, component=name, arg="use_group_normG",
                                      minimum=1)
        self.norm = "group" if group else "batch"
        if group:
            self._warn_reduced_groups()
        self.reg_weight = argcheck.as_float(reg_weight, component=name, arg="reg_weight",
                                            minimum=0)
        self.dropout_prob = argcheck.as_float(dropout_prob, component=name, arg="dropout_prob",
                                              minimum=0)
        if self.dropout_prob >= 1:
            raise argcheck.fail(name, "dropout_prob", "a number in [0, 1)", dropout_prob)
        super().__init__(num_classes=num_classes, use_vae=use_vae, blocks_down=blocks_down,
                         blocks_up=blocks_up, init_filters=init_filters,
                         use_group_norm=use_group_norm, use_group_normG=use_group_normG,
                         reg_weight=reg_weight, dropout_prob=dropout_prob,
                         final_activation=final_activation, data_format=data_format)

    def _warn_reduced_groups(self) -> None:
        """Warn (a note in ``check``, a line in train) when ``use_group_normG`` does not
        divide every level's filters: :func:`.base.normalization` then uses the largest
        divisor below it there, which is not what the config says (Clara's group norm
        refuses such a count; earlier configs that relied on the reduction keep running)."""
        levels = len(self.blocks_down)
        used = []
        for level in range(levels):
            filters = self.init_filters * 2 ** level
            groups = min(self.groups, filters)
            while filters % groups:
                groups -= 1
            used.append(groups)
        if all(groups == self.groups for groups in used):
            return
        shown = ", ".join(f"{groups} groups on {self.init_filters * 2 ** level} filters"
                          for level, groups in enumerate(used) if groups != self.groups)
        warnings.warn(f"{self.clara_name}: use_group_normG {self.groups} does not divide every "
                      f"level's filters (init_filters {self.init_filters} x 2**level), so those "
                      f"levels normalise with fewer groups ({shown}); set use_group_normG to a "
                      f"divisor of init_filters to get {self.groups} groups everywhere",
                      stacklevel=3)

    @property
    def size_divisor(self) -> int:
        """``2**(len(blocks_down) - 1)``: one stride-2 convolution per level after the first."""
        return 2 ** (len(self.blocks_down) - 1)

    def _conv(self, dims: int, filters: int, kernel: int = 3, strides: int = 1, name=None):
        return conv(dims, filters, kernel, strides, use_bias=False,
                    kernel_regularizer=l2(self.reg_weight), name=name)

    def _norm_relu(self, x, filters: int):
        x = normalization(self.norm, filters, self.groups)(x)
        return keras.layers.ReLU()(x)

    def _residual(self, x, dims: int, filters: int, name: str):
        y = self._norm_relu(x, filters)
        y = self._conv(dims, filters, name=f"{name}_conv1")(y)
        y = self._norm_relu(y, filters)
        y = self._conv(dims, filters, name=f"{name}_conv2")(y)
        return keras.layers.Add(name=f"{name}_add")([x, y])

    def _build(self, spatial_dims: int, in_channels: int) -> keras.Model:
        dims = spatial_dims
        dropout = keras.layers.SpatialDropout3D if dims == 3 else keras.layers.SpatialDropout2D
        inputs = keras.Input((None,) * dims + (in_channels,), name="image")
        x = self._conv(dims, self.init_filters, name="stem")(inputs)
        if self.dropout_prob > 0:
            x = dropout(self.dropout_prob, name="stem_dropout")(x)
        skips = []
        for level, blocks in enumerate(self.blocks_down):
            filters = self.init_filters * 2 ** level
            if level > 0:
                x = self._conv(dims, filters, strides=2, name=f"down{level}")(x)
            for b in range(blocks):
                x = self._residual(x, dims, filters, f"enc{level}_{b}")
            skips.append(x)
        for step, blocks in enumerate(self.blocks_up):
            level = len(self.blocks_down) - 2 - step
            filters = self.init_filters * 2 ** level
            x = self._conv(dims, filters, kernel=1, name=f"reduce{level}")(x)
            x = upsample(dims, 2, f"up{level}")(x)
            x = keras.layers.Add(name=f"skip{level}")([x, skips[level]])
            for b in range(blocks):
                x = self._residual(x, dims, filters, f"dec{level}_{b}")
        x = self._norm_relu(x, self.init_filters)
        outputs = output_head(x, dims, self.num_classes, self.final_activation)
        return keras.Model(inputs, outputs, name="SegResnet")
