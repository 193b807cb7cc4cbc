"""A SavedModel folder with a ``serving_default`` signature (as ``mmarctl export`` writes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmarctl.runtime.model_sources.base import ModelSource


@dataclass
class SavedModel(ModelSource):
    """Calls the signature with keyword :attr:`input_name`; output key :attr:`output_name`."""

    def __post_init__(self) -> None:
        from mmarctl.runtime.export.saved_model import load_saved_model

        self._predict = load_saved_model(self.path, self.input_name, self.output_name)

    def native_predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(batch), np.float32)
