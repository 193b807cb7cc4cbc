"""mmarctl's own TF2 object checkpoint: the config's Keras network with the saved weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmarctl.runtime.model_sources.base import ModelSource


@dataclass
class Tf2Checkpoint(ModelSource):
    """The training config's network (``extra["model"]``, built) restored from :attr:`path`.

    Channels last, like every mmarctl network; its export path is
    :mod:`mmarctl.runtime.export.exporter` (the Keras model itself is traced).
    """

    def __post_init__(self) -> None:
        from mmarctl.runtime import checkpoint
        from mmarctl.runtime.training.tf_engine import make_predict

        model = self.extra["model"]
        checkpoint.restore_model(self.path, model)
        self._predict = make_predict(model)
        self.input_shape = tuple(model.input_shape)

    def native_predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(batch), np.float32)
