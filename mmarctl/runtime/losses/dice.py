"""Dice: the soft Dice loss of Clara's segmentation MMARs."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.losses.base import Loss, targets_like


class Dice(Loss):
    """One minus the soft Dice coefficient, averaged over the batch and the classes.

    Implements Clara's ``Dice`` loss. Accepted args: ``data_format``, ``is_onehot_targets``,
    ``skip_background``, ``smooth``, ``squared_pred``.

    For each case ``b`` and class ``c`` (sums over the spatial axes)::

        dice[b, c] = (2 * sum(t * p) + smooth) / (sum(t) + sum(p) + smooth)

    with ``p**2`` and ``t**2`` in the denominator when ``squared_pred``; the loss is
    ``1 - mean(dice)``. A class absent from both target and prediction scores
    ``smooth / smooth = 1`` (no penalty), which is what the ``smooth`` term is for.

    Args:
        data_format: Clara's layout, recorded only; mmarctl losses see channels-last tensors.
        is_onehot_targets: ``y_true`` is already one-hot ``(B, *S, K)``; otherwise it is a
            class-index map ``(B, *S, 1)`` one-hot encoded here.
        skip_background: leave channel 0 out of the mean (needs at least two channels).
        smooth: added to numerator and denominator; must be > 0. Default 1e-5.
        squared_pred: square targets and predictions in the denominator (V-Net form).
    """

    clara_name = "Dice"

    def __init__(self, data_format: Any = "channels_first", is_onehot_targets: Any = False,
                 skip_background: Any = False, smooth: Any = 1e-5,
                 squared_pred: Any = False) -> None:
        name = self.clara_name
        self.data_format = argcheck.as_choice(data_format, ("channels_first", "channels_last"),
                                              component=name, arg="data_format")
        self.is_onehot_targets = argcheck.as_bool(is_onehot_targets, component=name,
                                                  arg="is_onehot_targets")
        self.skip_background = argcheck.as_bool(skip_background, component=name,
                                                arg="skip_background")
        self.smooth = argcheck.as_float(smooth, component=name, arg="smooth", minimum=0,
                                        strict_min=True)
        self.squared_pred = argcheck.as_bool(squared_pred, component=name, arg="squared_pred")
        super().__init__(data_format=data_format, is_onehot_targets=is_onehot_targets,
                         skip_background=skip_background, smooth=smooth,
                         squared_pred=squared_pred)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """The scalar loss for channels-last ``y_pred`` and matching ``y_true``."""
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = targets_like(y_true, y_pred, self.is_onehot_targets)
        if self.skip_background:
            if y_pred.shape[-1] is not None and y_pred.shape[-1] < 2:
                raise argcheck.fail(self.clara_name, "skip_background",
                                    "false for a single-channel prediction", True)
        axes = list(range(1, len(y_pred.shape) - 1))
        intersection = tf.reduce_sum(y_true * y_pred, axis=axes)
        if self.squared_pred:
            denominator = (tf.reduce_sum(tf.square(y_true), axis=axes)
                           + tf.reduce_sum(tf.square(y_pred), axis=axes))
        else:
            denominator = tf.reduce_sum(y_true, axis=axes) + tf.reduce_sum(y_pred, axis=axes)
        dice = (2.0 * intersection + self.smooth) / (denominator + self.smooth)  # (B, K)
        if self.skip_background:
            # Dropped after the sums: slicing the (B, K) result, not the full-size tensors,
            # spares the step two volume copies and their gradients.
            dice = dice[:, 1:]
        return 1.0 - tf.reduce_mean(dice)
