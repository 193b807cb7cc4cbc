"""BinaryClassificationLoss: binary cross-entropy for multi-label classification."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.errors import ConfigError
from mmarctl.runtime import argcheck
from mmarctl.runtime.losses.base import Loss

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithm.
EPSILON = 1e-7


class BinaryClassificationLoss(Loss):
    """Mean binary cross-entropy of independent (sigmoid) labels.

    Implements Clara's ``BinaryClassificationLoss`` (used by the CheXpert MMAR, no args
    there). ``y_true`` is ``(batch, num_classes)`` of 0/1 (soft labels in [0, 1] work too)
    and ``y_pred`` the sigmoid probabilities of the same shape, clipped to
    ``[1e-7, 1 - 1e-7]``::

        loss = mean_{b,c} -(w * t * log(p) + (1 - t) * log(1 - p))

    Args:
        pos_weight: weight ``w`` of the positive term, a number > 0 or one per class, to
            counter rare positive labels. Default 1.
    """

    clara_name = "BinaryClassificationLoss"

    def __init__(self, pos_weight: Any = 1.0) -> None:
        name = self.clara_name
        if isinstance(pos_weight, (list, tuple)) and pos_weight:
            self.pos_weight = [argcheck.as_float(w, component=name, arg="pos_weight", minimum=0,
                                                 strict_min=True) for w in pos_weight]
        else:
            self.pos_weight = argcheck.as_float(pos_weight, component=name, arg="pos_weight",
                                                minimum=0, strict_min=True)
        super().__init__(pos_weight=pos_weight)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """The scalar loss for ``(batch, classes)`` targets and probabilities."""
        y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), EPSILON, 1.0 - EPSILON)
        y_true = tf.cast(y_true, tf.float32)
        if y_true.shape.rank is not None and y_true.shape.rank != y_pred.shape.rank:
            y_true = tf.reshape(y_true, tf.shape(y_pred))
        elif (y_true.shape.rank is not None and None not in (y_true.shape[-1], y_pred.shape[-1])
              and y_true.shape[-1] != y_pred.shape[-1]):
            # A class map (B, *S, 1) against a softmax mask (B, *S, K) would broadcast: every
            # channel pushed towards the same target, trained without a word.
            raise ConfigError(f"{self.clara_name}: labels of shape {tuple(y_true.shape)} do "
                              f"not match the prediction's {tuple(y_pred.shape)} (one 0/1 "
                              "label per class of a classification network); a segmentation "
                              "network takes Dice")
        weight = tf.constant(self.pos_weight, tf.float32)
        if isinstance(self.pos_weight, list) and y_pred.shape[-1] != len(self.pos_weight):
            raise argcheck.fail(self.clara_name, "pos_weight",
                                f"{y_pred.shape[-1]} weights (one per class)", self.pos_weight)
        terms = weight * y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred)
        return -tf.reduce_mean(terms)
