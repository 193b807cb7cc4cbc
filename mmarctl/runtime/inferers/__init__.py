"""Inferers: Clara names -> ``module:Class``. Importing this table imports no TensorFlow.

Contract (docs/architecture.md): ``inferer(predict, image) -> prediction``; ``image`` is a
channels-last NumPy batch ``(1, *spatial, C)`` and ``predict`` maps such a batch to
probabilities ``(n, *spatial, K)``; the result is ``(1, *spatial, K)`` float32.
"""

NAMES = {
    "TFScanWindowInferer": "scan_window:TFScanWindowInferer",
    "TFSimpleInferer": "simple:TFSimpleInferer",
}

__all__ = ["NAMES"]
