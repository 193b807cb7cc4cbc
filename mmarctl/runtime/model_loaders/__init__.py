"""Model loaders of config_validation.json: Clara names -> ``module:Class`` (no TensorFlow here).

Contract: ``loader.load(workspace, network) -> predict`` where ``predict`` maps a channels-last
batch ``(n, *spatial, C)`` to probabilities ``(n, *spatial, K)``.
"""

NAMES = {
    "CheckpointLoader": "checkpoint:CheckpointLoader",
    "FrozenGraphModelLoader": "frozen_graph:FrozenGraphModelLoader",
    "OnnxModelLoader": "onnx_loader:OnnxModelLoader",
}

__all__ = ["NAMES"]
