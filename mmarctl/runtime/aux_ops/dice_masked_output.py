"""DiceMaskedOutput: hard Dice per class (and their mean) as named training values."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.aux_ops.base import AuxOp, dice_per_channel, hard_masks, nan_mean


class DiceMaskedOutput(AuxOp):
    """Dice of the binarised prediction for each class, classes with nothing to score masked.

    Implements Clara's ``DiceMaskedOutput``. Accepted args: ``is_onehot_targets``,
    ``is_independent_predictions``, ``skip_background``, ``tags``.

    Predictions are binarised as in :func:`hard_masks`; Dice is computed per channel over
    the batch. A channel empty in both target and prediction is *masked*: its value is NaN
    (which ComputeAverage leaves out) rather than a fake 1 or 0.

    ``tags`` names the outputs. With one tag per scored channel each gets that channel's
    Dice; with one more tag, the first gets the mean over the scored channels (NaN
    excluded) and the rest the channels, as in Clara's BraTS config
    (``["dice", "dice_tc", "dice_wt", "dice_et"]`` for three sigmoid channels). A single
    tag (the default ``["dice"]``, as a bare ``{"name": "DiceMaskedOutput"}`` copied from
    an example gives) is the mean over the scored channels, whatever their number.

    Args:
        is_onehot_targets: targets are one-hot ``(B, *S, K)`` (else a class map).
        is_independent_predictions: channels are independent (sigmoid): threshold 0.5
            each; otherwise argmax over channels.
        skip_background: leave channel 0 out.
        tags: list of output names (see above).
    """

    clara_name = "DiceMaskedOutput"

    def __init__(self, is_onehot_targets: Any = False, is_independent_predictions: Any = False,
                 skip_background: Any = False, tags: Any = ("dice",)) -> None:
        name = self.clara_name
        self.is_onehot_targets = argcheck.as_bool(is_onehot_targets, component=name,
                                                  arg="is_onehot_targets")
        self.is_independent_predictions = argcheck.as_bool(
            is_independent_predictions, component=name, arg="is_independent_predictions")
        self.skip_background = argcheck.as_bool(skip_background, component=name,
                                                arg="skip_background")
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, (list, tuple)) or not tags:
            raise argcheck.fail(name, "tags", "a non-empty list of names", tags)
        self.tags = [argcheck.as_name(t, component=name, arg="tags") for t in tags]
        if len(set(self.tags)) != len(self.tags):
            raise argcheck.fail(name, "tags", "distinct names", tags)
        super().__init__(is_onehot_targets=is_onehot_targets,
                         is_independent_predictions=is_independent_predictions,
                         skip_background=skip_background, tags=list(self.tags))

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                 loss: tf.Tensor) -> dict[str, tf.Tensor]:
        """``{tag: scalar}`` as described in the class docstring."""
        target, pred = hard_masks(y_true, y_pred, is_onehot_targets=self.is_onehot_targets,
                                  independent=self.is_independent_predictions)
        if self.skip_background:
            target, pred = target[..., 1:], pred[..., 1:]
        dice = dice_per_channel(target, pred)
        channels = int(pred.shape[-1])
        self.check_channels(channels)
        if len(self.tags) == channels:
            return {tag: dice[i] for i, tag in enumerate(self.tags)}
        if len(self.tags) == 1:  # one name: the mean over the scored channels
            return {self.tags[0]: nan_mean(dice)}
        values = {self.tags[0]: nan_mean(dice)}
        values.update({tag: dice[i] for i, tag in enumerate(self.tags[1:])})
        return values

    def scored_channels(self, num_classes: int) -> int:
        """The channels scored for a network of ``num_classes`` outputs (the background
        left out under ``skip_background``)."""
        return num_classes - 1 if self.skip_background else num_classes

    def check_channels(self, channels: int) -> None:
        """Refuse ``tags`` that fit neither one name (the mean), ``channels`` scored
        channels nor one more (the mean first); ``check`` calls it with the network's ``num_classes`` before any
        compute (:meth:`scored_channels`).

        Raises:
            ConfigError: naming ``tags``.
        """
        if len(self.tags) not in (1, channels, channels + 1):
            raise argcheck.fail(self.clara_name, "tags",
                                f"1 name (the mean), {channels} (one per scored channel) or "
                                f"{channels + 1} (the mean first)", self.tags)
