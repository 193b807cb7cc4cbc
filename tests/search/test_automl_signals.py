"""A study stopped, resumed or run twice at once: signals, new draws, the run lock, the
continue command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmarctl.search.automl import AutomlRequest, Prepared, resume_command
from mmarctl.search.concrete import read_valid_space
from mmarctl.search.settings import AutomlSettings
from mmarctl.search.study import Study, StudyOptions, open_storage
from mmarctl.search.workers import Slot
from mmarctl.workspace import Workspace

pytest.importorskip("optuna")

FLOAT = {"learning_rate": 1e-3, "search": [
    {"type": "float", "args": ["learning_rate"], "targets": [1e-4, 1e-2]}]}
GRID = {"a": 1, "b": 1, "search": [{"type": "enum", "args": ["a"], "targets": [[1], [2]]},
                                   {"type": "enum", "args": ["b"], "targets": [[1], [2]]}]}


def _study(tmp_path: Path, config: dict, *, sampler: str = "tpe", seed: int | None = 3,
           resume: bool = False, total: int = 2, rounds: int | None = None) -> Study:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    settings = AutomlSettings(sampler=sampler)
    options = StudyOptions(run_id="s", config_name="config_train.json", rounds=rounds,
                           slots=[], storage=url, seed=seed, resume=resume)
    study = Study(Workspace(tmp_path), config, read_valid_space(config, "x"), settings,
                  options, tmp_path, open_storage(url))
    study.open(total)
    return study


def _draw(study: Study) -> dict:
    """What a worker does to take a queued trial: ask, then draw its values."""
    with study._taking():
        trial = study.study.ask()
        point = study._suggest(trial)
    study.study.tell(trial, 0.5)
    return point


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_resumed_seeded_study_draws_new_values(tmp_path, sampler):
    """Each process builds its sampler again with the study's --seed: the draws must not
    start over, or a resumed or grown study trains the finished trials' values again."""
    first = _study(tmp_path, FLOAT, sampler=sampler, total=4)
    drawn = [_draw(first), _draw(first)]
    resumed = _study(tmp_path, FLOAT, sampler=sampler, total=4, resume=True)
    drawn += [_draw(resumed), _draw(resumed)]
    values = [p["search[0]"] for p in drawn]
    assert len(set(values)) == 4, values
    # Still reproducible: the same seed gives the same first trial in a new study.
    (tmp_path / "again").mkdir()
    again = _study(tmp_path / "again", FLOAT, sampler=sampler, total=1)
    assert _draw(again)["search[0]"] == values[0]


def test_growing_a_grid_skips_the_points_already_queued(tmp_path):
    study = _study(tmp_path, GRID, total=2, rounds=2)  # 2 of the 4 combinations queued
    _draw(study)  # one run, one still waiting
    study.extend(4)
    points = [json.dumps(t.params or t.system_attrs.get("fixed_params"), sort_keys=True)
              for t in study.study.get_trials(deepcopy=False)]
    assert len(points) == 4 and len(set(points)) == 4, points


def test_resume_is_refused_while_another_process_runs_the_study(tmp_path):
    from mmarctl.errors import WorkspaceError

    running = _study(tmp_path, FLOAT)
    running.hold(exclusive=False)
    resuming = _study(tmp_path, FLOAT, resume=True)
    with pytest.raises(WorkspaceError, match="--resume: study 's' is running in another "
                                             "mmarctl automl process"):
        resuming.hold(exclusive=True)
    joining = _study(tmp_path, FLOAT)
    joining.hold(exclusive=False)  # joining a shared study stays possible
    running._run_lock.close()
    joining._run_lock.close()
    _study(tmp_path, FLOAT, resume=True).hold(exclusive=True)  # nobody left: allowed


def test_a_trial_ended_by_another_process_is_one_warning_not_a_dead_worker(tmp_path):
    """A --resume elsewhere can fail a trial this process is running; recording its result
    then raises Optuna's UpdateFinishedTrialError, which must not end the worker thread."""
    import optuna

    study = _study(tmp_path, FLOAT, total=2)

    def ended_elsewhere(trial, slot, point):
        study.storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        trial.set_user_attr("seconds", 1.0)  # raises UpdateFinishedTrialError

    study._run_trial = ended_elsewhere
    study._worker(Slot(index=0, gpus=None, threads=1))  # takes both queued trials
    assert len(study.errors) == 2, study.errors
    assert all("was ended by another process" in line for line in study.errors)


def test_the_continue_command_keeps_tracking_and_workers(tmp_path):
    request = AutomlRequest(mmar=str(tmp_path), set_items=[], tracking="mlflow",
                            tracking_uri="http://127.0.0.1:5000", workers=2)
    options = StudyOptions(run_id="r", config_name="config_train.json", rounds=None, slots=[])
    prepared = Prepared(Workspace(tmp_path), {}, None, AutomlSettings(), options, tmp_path, 1)
    assert resume_command(request, prepared) == (
        f"mmarctl automl {tmp_path} --run-id r --tracking mlflow --tracking-uri "
        "http://127.0.0.1:5000 --workers 2 --resume")


from tests.search.test_automl_cli import mmarctl, spleen, spleen_source  # noqa: E402,F401


@pytest.mark.slow
def test_sigterm_stops_the_study_like_ctrl_c_and_a_second_resume_is_refused(spleen):
    """`timeout`, `kill` or a closed terminal: the study stops its trial process (in its own
    session, nothing else would), records it, writes results and prints how to continue.
    While it runs, a `--resume` of the same study from another process is refused."""
    import optuna

    from tests.tagged_processes import TAG_ENV, tagged_pids

    tag = f"automl-sigterm-{os.getpid()}-{time.monotonic_ns()}"
    study = subprocess.Popen(
        [sys.executable, "-m", "mmarctl", "automl", str(spleen), "--rounds", "2", "--seed", "7",
         "--set", "epochs=1000", "--set", "num_training_epoch_per_valid=1", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, TAG_ENV: tag})
    try:
        deadline = time.monotonic() + 120
        trials: list[int] = []
        while not trials and time.monotonic() < deadline and study.poll() is None:
            time.sleep(0.5)
            trials = [pid for pid in tagged_pids(tag) if pid != study.pid]
        assert trials, f"the first trial never started: {study.communicate()[0]}"
        second = mmarctl("automl", spleen, "--resume", check=False)
        output = second.stdout + second.stderr
        assert second.returncode == 1 and "Traceback" not in output, output
        assert ("--resume: study 'config_train' is running in another mmarctl automl "
                "process (automl/config_train/study.db is in use)") in output, output
        time.sleep(2)
        study.send_signal(signal.SIGTERM)
        output, _ = study.communicate(timeout=120)
        assert study.returncode == 130, output
        assert "trial 0 interrupted" in output and "Traceback" not in output, output
        assert "continue with `mmarctl automl" in output and "--workers 1 --resume`" in output
        assert tagged_pids(tag) == [], "a trial process outlived the study"
    finally:
        for pid in tagged_pids(tag):  # only what this test started (its tag)
            os.kill(pid, signal.SIGKILL)
        study.kill()
        study.wait()
    results = json.loads((spleen / "automl" / "config_train" / "results.json").read_text())
    assert all(t["status"] != "running" for t in results["trials"])
    stored = optuna.load_study(study_name="config_train", storage=(
        f"sqlite:///{spleen / 'automl' / 'config_train' / 'study.db'}"))
    assert "RUNNING" not in [t.state.name for t in stored.trials]


@pytest.mark.slow
def test_an_interrupt_in_the_final_validation_and_resume_keep_one_killed_then_finished_run(
        spleen, monkeypatch, capfd):
    """Ctrl-C while the best trial is validated: results written, the study's MLflow run
    KILLED; --resume then continues that same run (not a second one) and finishes it."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from mmarctl.search import trials
    from mmarctl.search.report import run_and_report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    sets = ["epochs=1", "num_training_epoch_per_valid=1"]
    monkeypatch.setattr(trials, "validate_trial", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_and_report(AutomlRequest(mmar=str(spleen), set_items=sets, rounds=1, seed=0,
                                     tracking="mlflow", workers=1))
    assert "automl: interrupted; continue with `mmarctl automl" in capfd.readouterr().err
    results = json.loads((spleen / "automl" / "config_train" / "results.json").read_text())
    assert [t["status"] for t in results["trials"]] == ["complete"]
    client = MlflowClient(tracking_uri=f"sqlite:///{spleen.resolve()}/mlruns.db")

    def study_runs():
        experiment = client.get_experiment_by_name(spleen.name)
        return [r for r in client.search_runs([experiment.experiment_id])
                if r.data.tags.get("mmarctl.phase") == "study"]

    (killed,) = study_runs()
    assert killed.info.status == "KILLED"
    assert killed.data.params["automl.space.learning_rate"] == "[0.0001, 0.003]"
    assert killed.data.params["automl.space.lossDice"] == "[false, true]"
    assert killed.data.params["automl.space.RandomSpatialFlip.disabled"] == "[true, false]"

    monkeypatch.undo()
    run_and_report(AutomlRequest(mmar=str(spleen), set_items=[], rounds=2, tracking="mlflow",
                                 workers=1, run_id="config_train", resume=True))
    (finished,) = study_runs()
    assert finished.info.run_id == killed.info.run_id and finished.info.status == "FINISHED"
    assert "best_validation" in finished.data.metrics
    assert finished.data.tags["automl.trials"] == "2"  # grown; the param keeps its first value


def test_a_trial_mmar_holds_the_study_set_values_and_seed(tmp_path):
    """`mmarctl train TRIAL` (or its commands/train.sh) must train what the study trained:
    --set values land in environment.json when it has the key, else in the config's
    globals; the seed in determinism.random_seed; provenance records both."""
    from mmarctl.search.trials import create_trial_mmar

    source = tmp_path / "src"
    mmarctl("init", source)
    config = json.loads((source / "config" / "config_train.json").read_text())
    trial = create_trial_mmar(Workspace(source), tmp_path / "trial_000", "config_train.json",
                              config, {"study": "s", "trial": 0},
                              overrides={"epochs": 1, "DATA_ROOT": "other"}, seed=5)
    written = json.loads((trial.root / "config" / "config_train.json").read_text())
    environment = json.loads((trial.root / "config" / "environment.json").read_text())
    assert written["epochs"] == 1 and written["determinism"]["random_seed"] == 5
    assert environment["DATA_ROOT"] == str((source / "other").resolve())
    assert "DATA_ROOT" not in written
    provenance = json.loads((trial.root / ".mmarctl" / "provenance.json").read_text())
    assert provenance["set"] == {"epochs": 1, "DATA_ROOT": "other"} and provenance["seed"] == 5
    resolved = trial.resolve("config_train.json")
    assert resolved.variables["epochs"] == 1


def test_a_trial_ended_elsewhere_while_it_trains_is_stopped(tmp_path, monkeypatch):
    """Its next validation point cannot be reported: the trial process is stopped (not left
    training with nobody watching) and the worker goes on."""
    import optuna

    from mmarctl.search import study as study_module

    study = _study(tmp_path, FLOAT, total=1)
    stopped: list[bool] = []

    class FakeProcess:
        def __init__(self, *args, **kwargs):
            pass

        def run(self, on_validation, should_stop, key_metric):
            trial = study.study.trials[0]
            study.storage.set_trial_state_values(trial._trial_id,
                                                 optuna.trial.TrialState.FAIL)
            stopped.append(on_validation(1, 0.5, False))
            from mmarctl.search.trials import TrialOutcome

            return TrialOutcome(status="pruned", metric=0.5, epoch=1)

    monkeypatch.setattr(study_module, "TrialProcess", FakeProcess)
    monkeypatch.setattr(study_module, "create_trial_mmar",
                        lambda *a, **k: Workspace(tmp_path / "trial_000"))
    (tmp_path / "trial_000").mkdir()
    study._worker(Slot(index=0, gpus=None, threads=1))
    assert stopped == [True]
    assert study.errors == ["trial 0 was ended by another process (a --resume elsewhere?); "
                            "its result is not recorded"]


def test_an_error_while_watching_a_trial_stops_its_process(tmp_path, monkeypatch):
    from mmarctl.search import study as study_module

    study = _study(tmp_path, FLOAT, total=1)
    calls: list[str] = []

    class BrokenWatch:
        def __init__(self, *args, **kwargs):
            pass

        def run(self, *args, **kwargs):
            raise OSError("metrics_history.jsonl: I/O error")

        def interrupt(self):
            calls.append("interrupt")

        def wait_stopped(self):
            calls.append("wait_stopped")

    monkeypatch.setattr(study_module, "TrialProcess", BrokenWatch)
    monkeypatch.setattr(study_module, "create_trial_mmar",
                        lambda *a, **k: Workspace(tmp_path / "trial_000"))
    study._worker(Slot(index=0, gpus=None, threads=1))
    assert calls == ["interrupt", "wait_stopped"]
    assert study.errors == ["trial 0: metrics_history.jsonl: I/O error"]
