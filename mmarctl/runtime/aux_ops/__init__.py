"""Aux ops: Clara names -> ``module:Class``. Importing this table imports no TensorFlow.

Contract (see :mod:`.base`): ``op(y_true, y_pred, loss) -> dict[tag, tf tensor]``, built
from TF ops so it runs inside the training step's ``tf.function``; each tag becomes a
sample field that validation metrics such as ComputeAverage (``"field": "<tag>"``) read.
"""

NAMES = {
    "DiceMaskedOutput": "dice_masked_output:DiceMaskedOutput",
    "ComputeDice": "compute_dice:ComputeDice",
    "NegLoss": "neg_loss:NegLoss",
    "ComputeAccuracy": "accuracy:ComputeAccuracy",
    "ComputeBinaryPreds": "binary_preds:ComputeBinaryPreds",
}

__all__ = ["NAMES"]
