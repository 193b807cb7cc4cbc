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
    assert read_run_settings(tmp_path) == {"overrides": {"epochs": 3, "X": "a b"}, "epochs": 3,
                                           "workers": 1, "seed": None}
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
    result = CliRunner().invoke(app, ["train", str(root), "--resume", "--set",
                                      "num_training_epoch_per_valid=2", "--epochs", "2"])
    assert result.exit_code == 2
    assert ("--resume: the stopped run was started with num_training_epoch_per_valid unset, "
            "epochs=3; this command gives num_training_epoch_per_valid=2, epochs=2"
            ) in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["train", str(root), "--resume", "--epochs", "4"])
    assert result.exit_code == 0, result.output
    assert "note: --resume trains longer than the stopped run: epochs 3 -> 4" in result.output
    assert "4 epochs" in result.output and "starting at epoch 2" in result.output


# -- what run.json keeps, and what --resume compares (D1-D4, D11, D12) ----------------------

def _edit_config(root, **values):
    path = root / "config" / "config_train.json"
    config = json.loads(path.read_text())
    config.update(values)
    path.write_text(json.dumps(config))


def test_run_json_keeps_workers_settings_and_the_resume_command(tmp_path, caplog):
    root = _stopped_run(tmp_path, caplog)
    saved = read_run_settings(root / "models" / "resume")
    assert saved["workers"] == 1 and saved["finished_epochs"] == 1 and saved["epochs"] == 40
    assert saved["settings"]["learning_rate"] == 0.05
    assert saved["settings"]["train.image_pipeline.args.output_batch_size"] == 2
    assert set(saved["settings"]) >= {"train.optimizer", "train.model"}
    assert saved["resume_with"].endswith(f"{root} --resume")


def test_the_interrupt_hint_repeats_the_launch_options(tmp_path, monkeypatch):
    from mmarctl.runtime.training.resume_settings import (LAUNCH_OPTIONS_ENV, launch_options,
                                                          resume_command)
    from mmarctl.workspace import Workspace

    assert launch_options(2, True, None, None, "gloo") == "--gpus 2 --cpu"
    assert launch_options(1, False, "a:4,b:4", None, "mpirun") == \
        "--hosts a:4,b:4 --launcher mpirun"
    assert launch_options(1, False, None, None, "gloo") == ""
    monkeypatch.setenv(LAUNCH_OPTIONS_ENV, "--gpus 2 --cpu")
    assert resume_command(Workspace(tmp_path), "config_train.json") == \
        f"mmarctl train {tmp_path} --gpus 2 --cpu --resume"


def test_a_learning_rate_edited_in_the_config_is_refused_in_one_line(tmp_path, caplog):
    from typer.testing import CliRunner

    from mmarctl.cli import app

    root = _stopped_run(tmp_path, caplog)
    _edit_config(root, learning_rate=0.5)
    with pytest.raises(UsageError) as info:
        _resume(root)
    assert info.value.message == ("--resume: config/config_train.json changed since the run "
                                  "stopped: learning_rate 0.05 -> 0.5")
    result = CliRunner().invoke(app, ["train", str(root), "--resume", "--gpus", "2", "--cpu"])
    assert result.exit_code == 2 and "learning_rate 0.05 -> 0.5" in result.output
    assert result.output.count("changed since the run stopped") == 1  # before any worker


def test_epochs_edited_in_the_config_act_like_the_epochs_option(tmp_path, caplog, capsys):
    root = _stopped_run(tmp_path, caplog)  # trains the config's 40 epochs
    _edit_config(root, epochs=44)
    longer = _resume(root)
    assert longer.state.epochs == 44
    assert "config/config_train.json epochs 40 -> 44" in capsys.readouterr().err
    _edit_config(root, epochs=30)
    with pytest.raises(UsageError, match=r"config/config_train.json now sets epochs=30; the "
                                         r"stopped run trains 40 epochs"):
        _resume(root)


def test_resuming_with_workers_is_decided_before_they_start(tmp_path, caplog, monkeypatch):
    """multi_gpu, set by mmarctl's launcher for its workers, is not the user's setting."""
    from typer.testing import CliRunner

    from mmarctl import launcher
    from mmarctl.cli import app

    root = _stopped_run(tmp_path, caplog)
    calls = []
    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: calls.append(argv) or 0)
    result = CliRunner().invoke(app, ["train", str(root), "--resume", "--gpus", "2", "--cpu"])
    assert result.exit_code == 0, result.output
    assert calls and "multi_gpu=true" in calls[0]
    assert _resume(root, multi_gpu=True).state.start_epoch == 1  # what a worker is given


def test_another_worker_count_puts_the_schedule_at_this_runs_epochs(tmp_path, caplog, capsys,
                                                                   monkeypatch):
    """The stopped run had 2 workers (half the steps per epoch): the optimizer's iterations
    are this run's finished epochs x its steps, not the stopped run's step count."""
    from mmarctl.runtime import checkpoint

    root = _stopped_run(tmp_path, caplog)
    run_file = root / "models" / "resume" / RUN_FILE
    saved = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**saved, "workers": 2}))
    restore = checkpoint.restore_training_state

    def as_two_workers(*args, **kwargs):
        state = restore(*args, **kwargs)
        return {**state, "finished_steps": state["finished_steps"] // 2}

    monkeypatch.setattr(checkpoint, "restore_training_state", as_two_workers)
    resumed = _resume(root)
    steps = resumed.state.steps_per_epoch
    assert int(resumed.optimizer.iterations.numpy()) == resumed.state.start_epoch * steps
    assert resumed.state.step == (resumed.state.start_epoch * steps) // 2  # axis goes on
    assert "the stopped run had 2 workers, this one has 1" in capsys.readouterr().err


def test_a_new_run_says_it_discards_a_stopped_one(tmp_path, caplog, monkeypatch):
    from typer.testing import CliRunner

    from mmarctl.cli import app
    from mmarctl.runtime import plan

    root = _stopped_run(tmp_path, caplog)

    def stop(*args, **kwargs):
        raise RuntimeFailure("stopped before training (test)")

    monkeypatch.setattr(plan.TrainingPlan, "build", classmethod(stop))
    result = CliRunner().invoke(app, ["train", str(root), "--epochs", "1"])
    assert ("warning: models/resume holds a stopped run (1 of 40 epochs finished); this train "
            "starts anew and discards it when it ends") in result.output
    assert f"`mmarctl train {root} --resume`" in result.output
    result = CliRunner().invoke(app, ["train", str(root), "--resume"])
    assert "holds a stopped run" not in result.output


def test_an_edited_network_argument_is_named_as_itself_with_both_values(tmp_path, caplog):
    root = _stopped_run(tmp_path, caplog)
    path = root / "config" / "config_train.json"
    config = json.loads(path.read_text())
    config["train"]["model"]["args"].update(num_classes=3, width="8,16,16,32")
    path.write_text(json.dumps(config))
    with pytest.raises(UsageError) as info:
        _resume(root)
    assert info.value.message == (
        "--resume: config/config_train.json changed since the run stopped: "
        "train.model.args.num_classes 2 -> 3, train.model.args.width unset -> \"8,16,16,32\"")


def test_a_set_key_no_config_reads_is_refused_as_such_and_a_config_value_is_named(
        tmp_path, caplog):
    from mmarctl.errors import ConfigError

    root = _stopped_run(tmp_path, caplog)  # learning_rate 0.05 from its config
    with pytest.raises(ConfigError, match="nf_enc is read by no config"):
        _resume(root, **{"train.model.args.nf_enc": "8,16"})
    with pytest.raises(UsageError) as info:
        _resume(root, learning_rate=0.01)
    assert info.value.message == ("--resume: the stopped run was started with learning_rate "
                                  "0.05 (its config's); this command gives learning_rate=0.01")


def test_a_changed_training_list_is_noted_with_the_steps_per_epoch(tmp_path, caplog, capsys):
    root = _stopped_run(tmp_path, caplog)  # 4 items, 2 steps per epoch
    saved = read_run_settings(root / "models" / "resume")["training_data"]
    assert saved["items"] == 4 and saved["steps_per_epoch"] == 2
    datalist = root / "data" / "dataset.json"
    lists = json.loads(datalist.read_text())
    lists["training"] *= 2
    datalist.write_text(json.dumps(lists))
    capsys.readouterr()
    _resume(root)
    assert ("note: --resume: the training data changed: the training list has 8 items, the "
            "stopped run had 4 (steps per epoch 2 -> 4)") in capsys.readouterr().err


def test_the_stopped_run_warning_names_the_mmar_as_given_now(tmp_path, caplog, monkeypatch):
    """A copied (or renamed) MMAR, or one named from another folder: the stored command
    named the old path; the warning names the MMAR being trained."""
    import shutil

    from mmarctl.runtime.training.resume_settings import stopped_run_warning
    from mmarctl.workspace import Workspace

    root = _stopped_run(tmp_path, caplog)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    monkeypatch.chdir(tmp_path)
    warning = stopped_run_warning(Workspace(copy), copy / "models", "finetune")
    assert "discards it when it ends or is stopped itself" in warning
    assert warning.endswith("(to continue the stopped run instead: "
                            "`mmarctl train copy --resume`)")


def test_the_amp_flag_is_kept_for_resume_and_may_change_with_a_note(tmp_path, caplog, capsys):
    """--amp is recorded as use_amp (summary, run.json): a plain --resume continues in the
    precision the run was started in, and --no-amp on resume is a note, not a refusal."""
    pytest.importorskip("tensorflow")
    from standin_mmar import make_mmar, train_config

    from mmarctl.runtime.plan import TrainingPlan, TrainOptions
    from mmarctl.runtime.training import contract
    from mmarctl.workspace import Workspace

    class StopAtSecondEpoch(contract.Callback):
        def on_epoch_begin(self, state):
            if state.epoch == 1:
                raise KeyboardInterrupt

    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = TrainingPlan.build(Workspace(root), TrainOptions(progress=False, seed=1, amp=True))
    plan.handlers = [StopAtSecondEpoch()]
    with caplog.at_level(logging.WARNING, logger="mmarctl.train"):
        with pytest.raises(KeyboardInterrupt):
            plan.run()
    saved = json.loads((root / "models" / "resume" / RUN_FILE).read_text())
    assert saved["overrides"]["use_amp"] is True
    summary = json.loads((root / "models" / "training_summary.json").read_text())
    assert summary["settings"]["use_amp"] is True
    assert _resume(root).resolved.data["use_amp"] is True  # plain --resume: as started
    capsys.readouterr()
    resumed = TrainingPlan.build(Workspace(root), TrainOptions(resume=True, progress=False,
                                                               seed=1, amp=False))
    assert resumed.resolved.data["use_amp"] is False
    assert ("note: --resume computes with use_amp false; the stopped run was started with "
            "use_amp true (checkpoints are float32 either way)") in capsys.readouterr().err
