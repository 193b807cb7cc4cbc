"""--resume keeps the stopped run's --set values (resume/run.json): reused when not given,
refused when given differently, epochs only raised."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from mmarctl.errors import RuntimeFailure, UsageError
from mmarctl.runtime.training.resume_settings import (RUN_FILE, merge_overrides,
                                                      read_run_settings, write_run_settings)

SAVED = {"overrides": {"epochs": 3, "learning_rate": 0.01, "DATA_ROOT": "/data"}, "epochs": 3}


def test_values_not_given_again_are_the_stopped_runs():
    merged, note = merge_overrides(SAVED, {})
    assert merged == {"epochs": 3, "learning_rate": 0.01, "DATA_ROOT": "/data"}
    assert note is None


def test_the_same_values_given_again_are_accepted():
    merged, note = merge_overrides(SAVED, {"learning_rate": 0.01, "epochs": 3})
    assert merged["learning_rate"] == 0.01 and merged["epochs"] == 3 and note is None


def test_epochs_from_the_config_are_kept_too():
    """The stopped run trained the config's 40 epochs: resumed, it still does."""
    merged, _ = merge_overrides({"overrides": {}, "epochs": 40}, {})
    assert merged == {"epochs": 40}


def test_a_different_value_is_refused_naming_both():
    with pytest.raises(UsageError) as info:
        merge_overrides(SAVED, {"learning_rate": 0.02})
    message = info.value.message
    assert "\n" not in message
    assert "learning_rate=0.01" in message and "learning_rate=0.02" in message
    assert "new run without --resume" in info.value.hint


def test_a_value_the_stopped_run_did_not_set_is_refused():
    with pytest.raises(UsageError, match=r"started with seed_x unset; this command gives "
                                         r"seed_x=5"):
        merge_overrides(SAVED, {"seed_x": 5})


def test_fewer_epochs_are_refused():
    with pytest.raises(UsageError, match=r"epochs=3; this command gives epochs=2"):
        merge_overrides(SAVED, {"epochs": 2})


def test_more_epochs_train_longer_and_say_so():
    merged, note = merge_overrides(SAVED, {"epochs": 6})
    assert merged["epochs"] == 6 and merged["learning_rate"] == 0.01
    assert note.startswith("note:") and "epochs 3 -> 6" in note


def test_run_file_round_trip_and_a_damaged_one_is_named(tmp_path):
    assert read_run_settings(tmp_path) is None
    write_run_settings(tmp_path, {"epochs": 3, "X": "a b"}, 3)
    assert read_run_settings(tmp_path) == {"overrides": {"epochs": 3, "X": "a b"}, "epochs": 3}
    assert [p.name for p in tmp_path.iterdir()] == [RUN_FILE]
    (tmp_path / RUN_FILE).write_text("{not json")
    with pytest.raises(RuntimeFailure, match=r"resume/run.json: the stopped run's settings"):
        read_run_settings(tmp_path, shown_as="models/resume/run.json")
    (tmp_path / RUN_FILE).write_text(json.dumps({"overrides": [], "epochs": 3}))
    with pytest.raises(RuntimeFailure, match="expected an object"):
        read_run_settings(tmp_path)


# -- through a training run -----------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).parent))


def _stopped_run(tmp_path, caplog, **overrides):
    """A run with ``overrides`` stopped by Ctrl-C at epoch 2's start; the MMAR root."""
    pytest.importorskip("tensorflow")
    from standin_mmar import make_mmar, train_config

    from mmarctl.runtime.plan import TrainingPlan, TrainOptions
    from mmarctl.runtime.training import contract
    from mmarctl.workspace import Workspace

    class StopAtSecondEpoch(contract.Callback):
        def on_epoch_begin(self, state):
            if state.epoch == 1:
                raise KeyboardInterrupt

    root = make_mmar(tmp_path / "m", config=train_config(epochs=40))
    plan = TrainingPlan.build(Workspace(root), TrainOptions(overrides=overrides,
                                                            progress=False, seed=1))
    plan.handlers = [StopAtSecondEpoch()]
    with caplog.at_level(logging.WARNING, logger="mmarctl.train"):
        with pytest.raises(KeyboardInterrupt):
            plan.run()
    return root


def _resume(root, **overrides):
    from mmarctl.runtime.plan import TrainingPlan, TrainOptions
    from mmarctl.workspace import Workspace

    return TrainingPlan.build(Workspace(root), TrainOptions(overrides=overrides, resume=True,
                                                            progress=False, seed=1))


def test_a_plain_resume_continues_with_the_stopped_runs_settings(tmp_path, caplog):
    root = _stopped_run(tmp_path, caplog, epochs=3, learning_rate=0.01)
    assert f"continue with `mmarctl train {root} --resume`" in caplog.text
    resumed = _resume(root)
    assert resumed.state.epochs == 3 and resumed.state.start_epoch == 1  # not the config's 40
    assert resumed.resolved.data["learning_rate"] == 0.01
    with pytest.raises(UsageError, match=r"learning_rate=0.01; this command gives "
                                         r"learning_rate=0.05"):
        _resume(root, learning_rate=0.05)
    longer = _resume(root, epochs=5)
    assert longer.state.epochs == 5 and longer.resolved.data["learning_rate"] == 0.01
    state = longer.run()
    assert [h["epoch"] for h in state.history] == [2, 3, 4, 5]


def test_the_cli_refuses_a_resume_with_other_values_in_one_line(tmp_path, caplog):
    from typer.testing import CliRunner

    from mmarctl.cli import app

    root = _stopped_run(tmp_path, caplog, epochs=3)
    result = CliRunner().invoke(app, ["train", str(root), "--resume", "--set", "X=1",
                                      "--epochs", "2"])
    assert result.exit_code == 2
    assert ("--resume: the stopped run was started with X unset, epochs=3; this command "
            "gives X=1, epochs=2") in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["train", str(root), "--resume", "--epochs", "4"])
    assert result.exit_code == 0, result.output
    assert "note: --resume trains longer than the stopped run: epochs 3 -> 4" in result.output
    assert "4 epochs" in result.output and "starting at epoch 2" in result.output
