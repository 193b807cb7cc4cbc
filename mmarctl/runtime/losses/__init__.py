"""Losses: Clara loss names -> ``module:Class``. Importing this table imports no TensorFlow.

Contract (docs/architecture.md): ``Loss(**args)(y_true, y_pred) -> scalar tf tensor``;
``y_pred`` is a network's channels-last float32 probabilities.
"""

NAMES = {
    "Dice": "dice:Dice",
    "Focal": "focal:Focal",
    "BinaryClassificationLoss": "binary_classification:BinaryClassificationLoss",
}

__all__ = ["NAMES"]
