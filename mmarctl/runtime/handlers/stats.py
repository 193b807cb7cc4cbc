"""StatsHandler: Clara's per-epoch statistics in the log."""

from __future__ import annotations

import logging
from typing import Any

from mmarctl.runtime.component import Component
from mmarctl.runtime.training.contract import Callback, TrainState


class StatsHandler(Component, Callback):
    """Logs each epoch's mean loss, learning rate, metrics and time, and a summary at the end.

    Implements Clara's ``StatsHandler`` (``train.handlers``); takes no arguments. Lines go
    to the ``modelLogger`` logger that Clara's ``resources/log.config`` configures.
    """

    clara_name = "StatsHandler"

    def __init__(self, **unused: Any) -> None:
        super().__init__(**unused)
        self.log = logging.getLogger("modelLogger")
        self._lr = float("nan")

    def on_step_end(self, state: TrainState, logs: dict[str, float]) -> None:
        self._lr = float(logs.get("learning_rate", self._lr))

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        parts = [f"{k}={v:.4f}" for k, v in logs.items() if k != "time_s"]
        self.log.info("epoch %d/%d: %s lr=%.3g time=%.1fs", state.epoch + 1, state.epochs,
                      " ".join(parts), self._lr, logs.get("time_s", 0.0))

    def on_train_end(self, state: TrainState) -> None:
        if state.key_metric:
            self.log.info("training done: best %s=%.4f at epoch %d", state.key_metric,
                          state.best_metric, state.best_epoch + 1)
        else:
            self.log.info("training done after %d epochs", state.epochs)
