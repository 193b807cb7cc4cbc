"""Aux ops: Clara names -> ``module:Class``. Importing this table imports no TensorFlow.

Contract: ``op(y_true, y_pred, loss) -> dict[tag, scalar tf tensor]``, built from TF ops so
it runs inside the training step's ``tf.function``; the trainer logs each tag and hands it
to validation metrics such as ComputeAverage (``"field": "<tag>"``).
"""

NAMES: dict[str, str] = {}

__all__ = ["NAMES"]
