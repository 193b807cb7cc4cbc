"""models/training_summary.json over a run's life (contract.run with a stand-in engine, no
TensorFlow): "running" from the start, "failed" for a failure in the end-of-run saves too,
and the hidden temporaries of killed writers tidied by the next write."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mmarctl.jsonio import write_json_atomic
from mmarctl.runtime.training import contract
from mmarctl.runtime.training.contract import Callback, TrainState
from mmarctl.runtime.training.history import HistoryWriter
from mmarctl.staging import _host_tag


class Engine:
    def train_epoch(self, epoch):
        yield {"loss": 0.5, "learning_rate": 0.01}

    def nonfinite_weights(self):
        return []

    def validate(self, epoch):
        return {"mean_dice": 0.5}


def summary(models_dir):
    return json.loads((models_dir / "training_summary.json").read_text())


class ReadsSummary(Callback):
    def __init__(self, models_dir):
        self.models_dir = models_dir
        self.seen = []

    def on_epoch_begin(self, state):
        self.seen.append(summary(self.models_dir))


class FinalSaveFails(Callback):
    """Stands in for CheckpointSaver: model_final.ckpt cannot be written."""

    def on_train_end(self, state):
        raise OSError(28, "No space left on device")


def finished_before(models_dir):
    models_dir.mkdir(exist_ok=True)
    write_json_atomic(models_dir / "training_summary.json",
                      {"status": "finished", "best_metric": 0.9, "epochs": 2})


def test_a_run_is_running_from_its_start_with_its_pid(tmp_path):
    finished_before(tmp_path)
    probe = ReadsSummary(tmp_path)
    contract.run(Engine(), TrainState(epochs=1), [HistoryWriter(tmp_path), probe])
    assert probe.seen[0]["status"] == "running"  # no longer the previous run's "finished"
    assert probe.seen[0]["pid"] == os.getpid() and probe.seen[0]["host"]
    assert summary(tmp_path)["status"] == "finished" and "pid" not in summary(tmp_path)


def test_a_failed_final_save_records_the_run_as_failed(tmp_path, caplog):
    finished_before(tmp_path)
    state = TrainState(epochs=2, key_metric="mean_dice")
    with caplog.at_level("WARNING", logger="mmarctl.train"), pytest.raises(OSError):
        contract.run(Engine(), state, [FinalSaveFails(), HistoryWriter(tmp_path)])
    record = summary(tmp_path)
    assert record["status"] == "failed" and record["epochs_finished"] == 2
    assert record["error"].startswith("no space left on the device (free some space")
    assert "every epoch ran (2 of 2), but the saves at the end failed; no model.ckpt was saved" \
        in caplog.text


def test_the_note_names_the_best_checkpoint_kept(tmp_path, caplog):
    for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
        (tmp_path / name).write_bytes(b"x")
    state = TrainState(epochs=1, key_metric="mean_dice")
    with caplog.at_level("WARNING", logger="mmarctl.train"), pytest.raises(OSError):
        contract.run(Engine(), state, [FinalSaveFails(), HistoryWriter(tmp_path)])
    assert f"{tmp_path / 'model.ckpt'} is intact (mean_dice 0.5000 at epoch 1)" in caplog.text


class FailsAtOnce(Engine):
    def train_epoch(self, epoch):
        raise RuntimeError("a bad case")
        yield  # pragma: no cover


def test_a_run_failing_before_any_record_leaves_no_summary(tmp_path):
    with pytest.raises(RuntimeError):
        contract.run(FailsAtOnce(), TrainState(epochs=1), [HistoryWriter(tmp_path)])
    assert list(tmp_path.iterdir()) == []  # the lock's folder can go with the lock


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_temporaries_of_dead_writers_only(tmp_path):
    host = _host_tag()
    dead = tmp_path / f".learning_curves.png.{host}-{dead_pid()}.8pbsnct3.tmp"
    alive = tmp_path / f".metrics.json.{host}-1.abcdefgh.tmp"  # pid 1 is always there
    elsewhere = tmp_path / f".metrics.json.otherhost-{dead_pid()}.abcdefgh.tmp"
    for path in (dead, alive, elsewhere):
        path.write_text("half")
    write_json_atomic(tmp_path / "training_summary.json", {"status": "running"})
    assert not dead.exists()
    assert alive.exists() and elsewhere.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, elsewhere.name, "training_summary.json"])


class FinalIndexIsAFolder(Callback):
    def on_train_end(self, state):
        raise IsADirectoryError(21, "Is a directory", "models/model_final.ckpt.index")


def test_the_recorded_error_names_the_file_by_its_full_path(tmp_path, monkeypatch):
    # the line on the terminal is relative to where the user stands; the record is read
    # later from anywhere (compare, automl)
    monkeypatch.chdir(tmp_path)
    models = tmp_path / "models"
    with pytest.raises(OSError):
        contract.run(Engine(), TrainState(epochs=1), [FinalIndexIsAFolder(), HistoryWriter(models)])
    assert summary(models)["error"] == (
        f"{models / 'model_final.ckpt.index'}: is a folder, expected a file")


def test_a_finetune_keeps_what_the_training_it_continues_ran_with(tmp_path):
    # compare read only the last summary's settings: after a finetune, two runs trained
    # at different learning rates compared as having equal configs.
    contract.run(Engine(), TrainState(epochs=1),
                 [HistoryWriter(tmp_path, settings={"learning_rate": 0.005})])
    contract.run(Engine(), TrainState(epochs=1),
                 [HistoryWriter(tmp_path, "finetune", settings={"learning_rate": 0.001})])
    record = summary(tmp_path)
    assert record["settings"] == {"learning_rate": 0.001}
    assert record["base_settings"] == {"learning_rate": 0.005}
    contract.run(Engine(), TrainState(epochs=1),  # a finetune of the finetune: the same base
                 [HistoryWriter(tmp_path, "finetune", settings={"learning_rate": 0.0005})])
    assert summary(tmp_path)["base_settings"] == {"learning_rate": 0.005}
    contract.run(Engine(), TrainState(epochs=1), [HistoryWriter(tmp_path)])  # a new train
    assert "base_settings" not in summary(tmp_path)
