"""A run whose key metric is never finite (NaN on every validation: labels with no
foreground) must not leave an earlier run's models/model.ckpt for validate/infer/export:
it writes model.ckpt from its last epoch and says so (CheckpointSaver, no TensorFlow)."""

from __future__ import annotations

import math
import types

from mmarctl.runtime.training import callbacks, contract
from mmarctl.runtime.training.contract import TrainState


class Engine:
    def __init__(self, value):
        self.value = value

    def train_epoch(self, epoch):
        yield {"loss": 1.0, "learning_rate": 0.01}

    def nonfinite_weights(self):
        return []

    def validate(self, epoch):
        return {"mean_dice": self.value}


def saver(tmp_path, monkeypatch, existing=()):
    """A CheckpointSaver whose saves are recorded (prefix names) instead of written."""
    saved, present = [], set(existing)

    def save(prefix, model, optimizer=None, **state):
        saved.append(prefix.name)
        present.add(prefix.name)

    monkeypatch.setattr(callbacks.checkpoint, "save_checkpoint", save)
    monkeypatch.setattr(callbacks.checkpoint, "exists", lambda prefix: prefix.name in present)
    # A model without weights: the saver keeps each epoch's start (nothing to copy here).
    model = types.SimpleNamespace(weights=[])
    return callbacks.CheckpointSaver(tmp_path, model=model, optimizer=None,
                                     has_metrics=True), saved


def test_a_stale_best_checkpoint_is_replaced_when_no_metric_was_finite(
        tmp_path, monkeypatch, caplog):
    cb, saved = saver(tmp_path, monkeypatch, existing={"model.ckpt"})  # an earlier run's
    with caplog.at_level("WARNING", logger="mmarctl.train"):
        contract.run(Engine(math.nan), TrainState(epochs=2, key_metric="mean_dice"), [cb])
    assert saved == ["model_final.ckpt", "model.ckpt"]
    assert caplog.text.count("mean_dice is NaN") == 1  # told once, not every epoch
    assert "label and prediction have no foreground" in caplog.text
    assert "no validation gave a finite mean_dice" in caplog.text
    assert "the earlier run's model.ckpt was replaced" in caplog.text


def test_a_finite_best_is_kept(tmp_path, monkeypatch, caplog):
    cb, saved = saver(tmp_path, monkeypatch, existing={"model.ckpt"})
    with caplog.at_level("WARNING", logger="mmarctl.train"):
        contract.run(Engine(0.5), TrainState(epochs=2, key_metric="mean_dice"), [cb])
    assert saved == ["model.ckpt", "model_final.ckpt"]  # epoch 1's best, then the final
    assert "NaN" not in caplog.text and "finite" not in caplog.text
