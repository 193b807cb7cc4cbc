"""NegLoss: the negated loss, so that "higher is better" metrics can track it."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.aux_ops.base import AuxOp


class NegLoss(AuxOp):
    """``{tag: -loss}``.

    Implements Clara's ``NegLoss``. Accepted args: ``tag``. The checkpoint keeper keeps the
    model with the *highest* key metric, so a config that wants the lowest validation loss
    averages this tag with ComputeAverage and marks that metric ``is_key_metric``.

    Args:
        tag: output name. Default ``"negloss"``.
    """

    clara_name = "NegLoss"

    def __init__(self, tag: Any = "negloss") -> None:
        self.tag = argcheck.as_name(tag, component=self.clara_name, arg="tag")
        super().__init__(tag=tag)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                 loss: tf.Tensor) -> dict[str, tf.Tensor]:
        """``{tag: -loss}`` as float32."""
        return {self.tag: -tf.cast(loss, tf.float32)}
