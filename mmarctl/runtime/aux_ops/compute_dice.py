"""ComputeDice: the mean hard Dice of a batch as one named value."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.aux_ops.base import AuxOp, dice_per_channel, hard_masks, nan_mean


class ComputeDice(AuxOp):
    """Mean Dice of the binarised prediction over the scored classes.

    Implements Clara's ``ComputeDice``. Accepted args: ``is_onehot_targets``,
    ``is_independent_predictions``, ``data_format``, ``tag``. Scored classes: every
    channel for independent (sigmoid) predictions, channels ``1..K-1`` for softmax ones
    (background left out, as ComputeAverageDice does), the one channel of a single-channel
    output. Dice is computed over the whole batch; a class empty in both target and
    prediction is left out of the mean, and the value is NaN when no class is left.

    Args:
        is_onehot_targets: targets are one-hot (else a class map).
        is_independent_predictions: threshold each channel at 0.5 instead of argmax.
        data_format: Clara's layout, recorded only; aux ops see channels-last tensors.
        tag: output name. Default ``"dice"``.
    """

    clara_name = "ComputeDice"

    def __init__(self, is_onehot_targets: Any = False, is_independent_predictions: Any = False,
                 data_format: Any = "channels_first", tag: Any = "dice") -> None:
        name = self.clara_name
        self.is_onehot_targets = argcheck.as_bool(is_onehot_targets, component=name,
                                                  arg="is_onehot_targets")
        self.is_independent_predictions = argcheck.as_bool(
            is_independent_predictions, component=name, arg="is_independent_predictions")
        self.data_format = argcheck.as_choice(data_format, ("channels_first", "channels_last"),
                                              component=name, arg="data_format")
        self.tag = argcheck.as_name(tag, component=name, arg="tag")
        super().__init__(is_onehot_targets=is_onehot_targets,
                         is_independent_predictions=is_independent_predictions,
                         data_format=data_format, tag=tag)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                 loss: tf.Tensor) -> dict[str, tf.Tensor]:
        """``{tag: mean Dice}``."""
        target, pred = hard_masks(y_true, y_pred, is_onehot_targets=self.is_onehot_targets,
                                  independent=self.is_independent_predictions)
        if not self.is_independent_predictions and pred.shape[-1] > 1:
            target, pred = target[..., 1:], pred[..., 1:]
        return {self.tag: nan_mean(dice_per_channel(target, pred))}
