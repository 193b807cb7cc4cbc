"""Focal: the focal loss, cross-entropy that down-weights well-classified voxels."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.losses.base import Loss, targets_like

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithm.
EPSILON = 1e-7


class Focal(Loss):
    """Focal loss (Lin et al., 2017) on softmax or sigmoid probabilities.

    Implements Clara's ``Focal`` (the corpus' configs pass no args). Accepted args:
    ``gamma``, ``alpha``, ``is_onehot_targets``, ``data_format``.

    Per voxel, with ``t`` the one-hot target and ``p`` the probabilities (clipped to
    ``[1e-7, 1 - 1e-7]``)::

        softmax (K > 1 channels):  -sum_c w_c * t_c * (1 - p_c)**gamma * log(p_c)
        sigmoid (1 channel):       -(w_1 * t * (1 - p)**gamma * log(p)
                                     + w_0 * (1 - t) * p**gamma * log(1 - p))

    averaged over the batch and the voxels. ``gamma = 0`` with no ``alpha`` is plain
    cross-entropy.

    Args:
        gamma: focusing exponent, >= 0. Default 2.
        alpha: class weights ``w``: None (all 1, default); a number in [0, 1] (background
            ``1 - alpha``, every foreground class ``alpha``); or one non-negative weight
            per channel.
        is_onehot_targets: ``y_true`` is one-hot ``(B, *S, K)``; otherwise a class map.
        data_format: Clara's layout, recorded only; losses see channels-last tensors.
    """

    clara_name = "Focal"

    def __init__(self, gamma: Any = 2.0, alpha: Any = None, is_onehot_targets: Any = False,
                 data_format: Any = "channels_first") -> None:
        name = self.clara_name
        self.gamma = argcheck.as_float(gamma, component=name, arg="gamma", minimum=0)
        self.alpha = _alpha(alpha, name)
        self.is_onehot_targets = argcheck.as_bool(is_onehot_targets, component=name,
                                                  arg="is_onehot_targets")
        self.data_format = argcheck.as_choice(data_format, ("channels_first", "channels_last"),
                                              component=name, arg="data_format")
        super().__init__(gamma=gamma, alpha=alpha, is_onehot_targets=is_onehot_targets,
                         data_format=data_format)

    def _weights(self, channels: int) -> list[float]:
        """Per-class weights for ``channels`` classes (2 for a sigmoid output)."""
        if self.alpha is None:
            return [1.0] * channels
        if isinstance(self.alpha, float):
            return [1.0 - self.alpha] + [self.alpha] * (channels - 1)
        if len(self.alpha) != channels:
            raise argcheck.fail(self.clara_name, "alpha",
                                f"{channels} weights (one per class)", self.alpha)
        return list(self.alpha)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """The scalar loss for channels-last ``y_pred`` and matching ``y_true``."""
        y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), EPSILON, 1.0 - EPSILON)
        target = targets_like(y_true, y_pred, self.is_onehot_targets)
        if y_pred.shape[-1] == 1:
            background, foreground = self._weights(2)
            per_voxel = -(foreground * target * (1 - y_pred) ** self.gamma * tf.math.log(y_pred)
                          + background * (1 - target) * y_pred ** self.gamma
                          * tf.math.log(1 - y_pred))
        else:
            weights = tf.constant(self._weights(int(y_pred.shape[-1])), tf.float32)
            per_voxel = -weights * target * (1 - y_pred) ** self.gamma * tf.math.log(y_pred)
        return tf.reduce_mean(tf.reduce_sum(per_voxel, axis=-1))


def _alpha(value: Any, component: str) -> float | list[float] | None:
    """None, one number in [0, 1], or a non-empty list of non-negative weights."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise argcheck.fail(component, "alpha", "a non-empty list of weights", value)
        return [argcheck.as_float(a, component=component, arg="alpha", minimum=0)
                for a in value]
    return argcheck.as_float(value, component=component, arg="alpha", minimum=0, maximum=1)
