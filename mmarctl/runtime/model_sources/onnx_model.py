"""An ONNX model run with ONNX Runtime (as ``mmarctl export`` writes, or any single-input one).

Layout: ``extra["layout"]`` (``export.json``'s, passed by the loader), else the input's
shape when it decides (:func:`mmarctl.model_files.graph_info.layout_from_shape`: an ONNX
file exported from a Clara TF1 graph takes ``(batch, C, *spatial)``), else channels last.
A channels-first model gets its batch transposed at this boundary, like the TF1 sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmarctl.model_files.graph_info import (CHANNELS_FIRST, CHANNELS_LAST, format_shape,
                                            layout_from_shape)
from mmarctl.runtime.model_sources.base import ModelSource, fits, input_mismatch


@dataclass
class OnnxModel(ModelSource):
    """ONNX Runtime session; ``extra["providers"]`` picks execution providers."""

    def __post_init__(self) -> None:
        from mmarctl.runtime.export.onnx_model import load_onnx_model

        self._predict = load_onnx_model(self.path, self.input_name or None,
                                        self.output_name or None,
                                        providers=self.extra.get("providers"))
        session = self._predict.session  # type: ignore[attr-defined]
        self.input_name = self.input_name or session.get_inputs()[0].name
        self.output_name = self.output_name or session.get_outputs()[0].name
        given = next(i for i in session.get_inputs() if i.name == self.input_name)
        # ONNX Runtime gives fixed sizes as ints, named or open ones as strings or None.
        self.input_shape = tuple(d if isinstance(d, int) and d > 0 else None
                                 for d in given.shape)
        recorded = self.extra.get("layout")
        if recorded in (CHANNELS_FIRST, CHANNELS_LAST):
            self.layout, self.layout_reason = recorded, "export.json"
        elif layout_from_shape(self.input_shape):
            self.layout = layout_from_shape(self.input_shape)  # type: ignore[assignment]
            self.layout_reason = f"input shape {format_shape(self.input_shape)}"
        else:
            self.layout, self.layout_reason = CHANNELS_LAST, "default"

    def native_predict(self, batch: np.ndarray) -> np.ndarray:
        if not fits(np.shape(batch), self.input_shape):
            raise input_mismatch(np.shape(batch), self.input_shape, self.layout,
                                 self.input_name, self.path, "set the inferer's roi_size to "
                                                             "the model's fixed size")
        return np.asarray(self._predict(batch), np.float32)
