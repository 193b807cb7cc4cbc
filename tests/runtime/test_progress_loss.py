"""train's progress line shows the epoch's mean loss, the value metrics_history.jsonl and
compare record, not the last step's (contract.run with a stand-in engine, no TensorFlow)."""

from __future__ import annotations

import json

from mmarctl.runtime.training import contract
from mmarctl.runtime.training.callbacks import ProgressCallback
from mmarctl.runtime.training.contract import Callback, TrainState
from mmarctl.runtime.training.history import HistoryWriter

STEP_LOSSES = {0: [0.9, 0.6, 0.3], 1: [0.5, 0.1, 0.3]}


class Engine:
    def train_epoch(self, epoch):
        for loss in STEP_LOSSES[epoch]:
            yield {"loss": loss, "learning_rate": 0.01}

    def nonfinite_weights(self):
        return []

    def validate(self, epoch):
        return {}


class ShownLoss(Callback):
    """Reads the progress line's loss after each epoch's steps."""

    def __init__(self, progress):
        self.progress = progress
        self.shown = []

    def on_epoch_end(self, state, logs):
        self.shown.append(self.progress._progress.fields["loss"])


def test_the_last_progress_line_of_an_epoch_shows_the_recorded_epoch_loss(tmp_path):
    progress = ProgressCallback(enabled=False)
    probe = ShownLoss(progress)
    contract.run(Engine(), TrainState(epochs=2, steps_per_epoch=3),
                 [progress, HistoryWriter(tmp_path), probe], has_validation=False)
    history = [json.loads(line) for line in
               (tmp_path / "metrics_history.jsonl").read_text().splitlines()]
    recorded = [r["loss"] for r in history if r.get("phase") == "train"]
    assert probe.shown == recorded  # 0.6 and 0.3: not the last steps' 0.3 and 0.3
    assert probe.shown[0] == sum(STEP_LOSSES[0]) / 3
