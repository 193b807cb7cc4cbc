"""ComputeBinaryPreds: per-label scores and labels, as fields for ComputeAUC."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.aux_ops.base import AuxOp


class ComputeBinaryPreds(AuxOp):
    """Exposes each label's predicted probability and its 0/1 target under two names.

    Implements Clara's ``ComputeBinaryPreds``. Accepted args: ``binary_preds_name``,
    ``binary_labels_name``. Used by multi-label classification configs (CheXpert), whose
    ComputeAUC metrics read ``binary_preds`` / ``binary_labels``. Unlike other aux ops the
    values are *vectors*: ``(B, K)`` float32 probabilities and 0/1 labels (the scores are
    not thresholded, since AUC ranks them). Consumers that average tags must keep these
    as arrays.

    Args:
        binary_preds_name: tag of the probabilities. Default ``"binary_preds"``.
        binary_labels_name: tag of the labels. Default ``"binary_labels"``.
    """

    clara_name = "ComputeBinaryPreds"

    def __init__(self, binary_preds_name: Any = "binary_preds",
                 binary_labels_name: Any = "binary_labels") -> None:
        name = self.clara_name
        self.binary_preds_name = argcheck.as_name(binary_preds_name, component=name,
                                                  arg="binary_preds_name")
        self.binary_labels_name = argcheck.as_name(binary_labels_name, component=name,
                                                   arg="binary_labels_name")
        if self.binary_preds_name == self.binary_labels_name:
            raise argcheck.fail(name, "binary_labels_name", "different from binary_preds_name",
                                binary_labels_name)
        super().__init__(binary_preds_name=binary_preds_name,
                         binary_labels_name=binary_labels_name)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                 loss: tf.Tensor) -> dict[str, tf.Tensor]:
        """``{binary_preds_name: (B, K) scores, binary_labels_name: (B, K) 0/1}``."""
        y_pred = tf.cast(y_pred, tf.float32)
        labels = tf.cast(tf.reshape(y_true, tf.shape(y_pred)) > 0.5, tf.float32)
        return {self.binary_preds_name: y_pred, self.binary_labels_name: labels}
