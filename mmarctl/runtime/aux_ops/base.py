"""The aux-op contract and the TF helpers the Dice ops share.

An aux op computes extra training/validation values from one batch:
``op(y_true, y_pred, loss) -> {tag: tensor}`` with TF ops only, so the trainer can call it
inside its ``tf.function``. ``y_true`` / ``y_pred`` are channels-last as the loss sees them
(segmentation: class map ``(B, *S, 1)`` or one-hot ``(B, *S, K)``, probabilities
``(B, *S, K)``; classification: ``(B, K)``); ``loss`` is the batch's scalar loss. Values are
scalars except where an op says otherwise (ComputeBinaryPreds). Each tag becomes a sample
field that validation metrics such as ComputeAverage read.
"""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime.component import Component
from mmarctl.runtime.losses.base import targets_like


class AuxOp(Component):
    """Base class of aux ops."""

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                 loss: tf.Tensor) -> dict[str, tf.Tensor]:
        raise NotImplementedError


def hard_masks(y_true: tf.Tensor, y_pred: tf.Tensor, *, is_onehot_targets: bool,
               independent: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """Binary (0/1 float32) prediction and target masks shaped like ``y_pred``.

    Independent predictions (sigmoid channels) are thresholded at 0.5 per channel;
    otherwise the prediction's argmax is one-hot encoded. Targets are one-hot encoded from
    a class map unless ``is_onehot_targets`` (or the prediction has one channel).
    """
    y_pred = tf.cast(y_pred, tf.float32)
    target = targets_like(y_true, y_pred, is_onehot_targets)
    target = tf.cast(target > 0.5, tf.float32)
    channels = y_pred.shape[-1]
    if independent or channels == 1:
        pred = tf.cast(y_pred > 0.5, tf.float32)
    else:
        pred = tf.one_hot(tf.argmax(y_pred, axis=-1), depth=channels, dtype=tf.float32)
    return target, pred


def dice_per_channel(target: tf.Tensor, pred: tf.Tensor) -> tf.Tensor:
    """``2|P & T| / (|P| + |T|)`` per channel over batch and space; NaN where both are empty."""
    axes = list(range(len(pred.shape) - 1))
    intersection = tf.reduce_sum(target * pred, axis=axes)
    total = tf.reduce_sum(target, axis=axes) + tf.reduce_sum(pred, axis=axes)
    nan = tf.fill(tf.shape(total), tf.constant(float("nan"), tf.float32))
    return tf.where(total > 0, 2.0 * intersection / tf.maximum(total, 1.0), nan)


def nan_mean(values: tf.Tensor) -> tf.Tensor:
    """Mean of the non-NaN entries (NaN when there is none)."""
    valid = tf.logical_not(tf.math.is_nan(values))
    count = tf.reduce_sum(tf.cast(valid, tf.float32))
    total = tf.reduce_sum(tf.where(valid, values, tf.zeros_like(values)))
    return tf.where(count > 0, total / tf.maximum(count, 1.0), tf.constant(float("nan")))


def describe(op: Any) -> str:
    """``ComputeDice`` (its Clara name) for messages."""
    return op.clara_name or type(op).__name__
