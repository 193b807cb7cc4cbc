"""ComputeAccuracy: classification accuracy of a batch."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.aux_ops.base import AuxOp


class ComputeAccuracy(AuxOp):
    """Fraction of correct classification outputs in the batch.

    Implements Clara's ``ComputeAccuracy``. Accepted args: ``tag``, ``use_sigmoid``.
    mmarctl networks already output probabilities, so ``use_sigmoid`` selects how they are
    read rather than applying an activation:

    * ``use_sigmoid: true`` (independent labels, multi-label): each output is correct when
      ``(p > 0.5) == (label > 0.5)``; the value is the mean over batch and labels;
    * ``use_sigmoid: false`` (exclusive classes): a case is correct when
      ``argmax(p)`` equals the label's class (argmax of a one-hot label, or a class index
      ``(B, 1)``); the value is the mean over the batch.

    Args:
        tag: output name. Default ``"accuracy"``.
        use_sigmoid: see above. Default false.
    """

    clara_name = "ComputeAccuracy"

    def __init__(self, tag: Any = "accuracy", use_sigmoid: Any = False) -> None:
        self.tag = argcheck.as_name(tag, component=self.clara_name, arg="tag")
        self.use_sigmoid = argcheck.as_bool(use_sigmoid, component=self.clara_name,
                                            arg="use_sigmoid")
        super().__init__(tag=tag, use_sigmoid=use_sigmoid)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                 loss: tf.Tensor) -> dict[str, tf.Tensor]:
        """``{tag: accuracy}`` in [0, 1]."""
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.cast(y_true, tf.float32)
        if self.use_sigmoid:
            y_true = tf.reshape(y_true, tf.shape(y_pred))
            correct = tf.equal(y_pred > 0.5, y_true > 0.5)
        else:
            predicted = tf.argmax(y_pred, axis=-1)
            if y_true.shape[-1] == 1 and y_pred.shape[-1] != 1:
                actual = tf.cast(tf.round(y_true[..., 0]), tf.int64)
            else:
                actual = tf.argmax(y_true, axis=-1)
            correct = tf.equal(predicted, actual)
        return {self.tag: tf.reduce_mean(tf.cast(correct, tf.float32))}
