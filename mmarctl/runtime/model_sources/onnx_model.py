"""An ONNX model run with ONNX Runtime (as ``mmarctl export`` writes, or any single-input one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmarctl.runtime.model_sources.base import ModelSource


@dataclass
class OnnxModel(ModelSource):
    """ONNX Runtime session; ``extra["providers"]`` picks execution providers."""

    def __post_init__(self) -> None:
        from mmarctl.runtime.export.onnx_model import load_onnx_model

        self._predict = load_onnx_model(self.path, self.input_name or None,
                                        self.output_name or None,
                                        providers=self.extra.get("providers"))

    def native_predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(batch), np.float32)
