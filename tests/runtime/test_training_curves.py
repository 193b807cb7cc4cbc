"""LearningCurvesWriter inside the real epoch loop (contract.run with a stand-in engine, no
TensorFlow): when it draws, what the picture holds, and failures that never stop training."""

from __future__ import annotations

import logging
import sys

import pytest

from mmarctl.report.curves import read_curves
from mmarctl.runtime.training import contract
from mmarctl.runtime.training.contract import Callback, TrainState
from mmarctl.runtime.training.curves import LearningCurvesWriter
from mmarctl.runtime.training.history import HistoryWriter


class Engine:
    """Two steps per epoch; validation gives a Dice that rises with the epoch."""

    def train_epoch(self, epoch):
        for step in range(2):
            yield {"loss": 1.0 / (epoch + 1), "learning_rate": 0.01}

    def nonfinite_weights(self):
        return []

    def validate(self, epoch):
        return {"mean_dice": 0.1 * (epoch + 1)}


class SeesPicture(Callback):
    """After the curves writer: how many epochs the picture's history had at each epoch end."""

    def __init__(self, models_dir):
        self.models_dir = models_dir
        self.seen = []

    def on_epoch_end(self, state, logs):
        picture = self.models_dir / "learning_curves.png"
        self.seen.append(picture.stat().st_mtime_ns if picture.exists() else None)


def train(models_dir, epochs=4, every=2, writer=None, phase="train"):
    writer = writer or LearningCurvesWriter(models_dir, max_share=None)
    probe = SeesPicture(models_dir)
    state = TrainState(epochs=epochs, key_metric="mean_dice")
    contract.run(Engine(), state, [HistoryWriter(models_dir, phase), writer, probe],
                 validate_every=every)
    return writer, probe


def test_redrawn_after_each_validation_and_at_the_end(tmp_path):
    writer, probe = train(tmp_path, epochs=4, every=2)
    assert writer.draws == 2  # epochs 2 and 4; the end has nothing new to draw
    assert probe.seen[0] is None  # epoch 1 did not validate: nothing drawn yet
    assert probe.seen[1] is not None and probe.seen[1] == probe.seen[2]  # epoch 3: no redraw
    assert probe.seen[3] >= probe.seen[2]
    shown = read_curves(tmp_path)
    assert shown.epochs == [1, 2, 3, 4]
    assert shown.metrics["mean_dice"] == [(2, pytest.approx(0.2)), (4, pytest.approx(0.4))]
    assert shown.best == (4, pytest.approx(0.4))


def test_finetune_appends_to_the_same_picture(tmp_path):
    train(tmp_path, epochs=2, every=1)
    writer, _ = train(tmp_path, epochs=2, every=1, phase="finetune")
    shown = read_curves(tmp_path)
    assert shown.epochs == [1, 2, 3, 4] and shown.phase_starts == [(3, "finetune")]
    assert writer.draws == 2


def test_time_share_limits_redraws_but_the_end_always_draws(tmp_path):
    writer, probe = train(tmp_path, epochs=5, every=1,
                          writer=LearningCurvesWriter(tmp_path, max_share=1e-6))
    # the first validation draws; a draw costs far more than 1e-6 of these instant epochs;
    # the end draws the four epochs the picture lacks
    assert writer.draws == 2
    assert len(set(probe.seen)) == 1
    assert read_curves(tmp_path).epochs == [1, 2, 3, 4, 5]


class InterruptAt(Callback):
    """Ctrl-C at the start of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupt_draws_only_when_the_picture_lacks_an_epoch(tmp_path):
    for every, draws in ((1, 2), (2, 2)):  # (2, ...): epoch 3 ran without a validation
        models = tmp_path / f"every{every}"
        writer = LearningCurvesWriter(models, max_share=None)
        state = TrainState(epochs=5, key_metric="mean_dice")
        with pytest.raises(KeyboardInterrupt):
            contract.run(Engine(), state, [HistoryWriter(models, "train"), writer,
                                           InterruptAt(3 if every == 2 else 2)],
                         validate_every=every)
        assert writer.draws == draws, every
        assert read_curves(models).epochs == list(range(1, 4 if every == 2 else 3))


def test_unwritable_models_warns_once_and_training_finishes(tmp_path, caplog):
    (tmp_path / "learning_curves.png").mkdir()  # the picture cannot be put in place
    with caplog.at_level(logging.WARNING, logger="mmarctl.train"):
        writer, _ = train(tmp_path, epochs=3, every=1)
    warnings = [r.getMessage() for r in caplog.records if "learning curves" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith("learning curves not drawn (")
    assert writer.failed and writer.draws == 0
    assert len(read_curves(tmp_path).epochs) == 3  # training itself went on


def test_missing_matplotlib_warns_once(tmp_path, monkeypatch, caplog):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with caplog.at_level(logging.WARNING, logger="mmarctl.train"):
        train(tmp_path, epochs=2, every=1)
    warnings = [r.getMessage() for r in caplog.records if "learning curves" in r.getMessage()]
    assert warnings == ["learning curves not drawn (the matplotlib package is missing); "
                        "training goes on without learning_curves.png"]
    assert not (tmp_path / "learning_curves.png").exists()


def test_a_half_imported_module_is_not_called_a_missing_package(tmp_path, monkeypatch, caplog):
    # a signal while mmarctl.report.curves was importing left it half made: not "missing"
    import types

    monkeypatch.setitem(sys.modules, "mmarctl.report.curves",
                        types.ModuleType("mmarctl.report.curves"))
    with caplog.at_level(logging.WARNING, logger="mmarctl.train"):
        train(tmp_path, epochs=2, every=1)
    [warning] = [r.getMessage() for r in caplog.records if "learning curves" in r.getMessage()]
    assert "package is missing" not in warning
    assert "cannot import name 'write_learning_curves'" in warning
