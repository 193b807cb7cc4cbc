"""A trial failed by the machine (a full disk, a quota, a read-only file system) stops the
study: every later trial would fail the same way. A study went on starting trials (each
training an epoch first) after one had run out of disk space, and exited 0."""

from __future__ import annotations

import errno
import types
from pathlib import Path

import pytest

from mmarctl.search import study as study_module
from mmarctl.search.concrete import read_valid_space
from mmarctl.search.results import TrialRecord, collect, leaderboard
from mmarctl.search.settings import AutomlSettings
from mmarctl.search.study import Study, StudyOptions, machine_failure, open_storage
from mmarctl.search.trials import TrialOutcome
from mmarctl.search.workers import Slot
from mmarctl.workspace import Workspace

pytest.importorskip("optuna")

FLOAT = {"learning_rate": 1e-3, "search": [
    {"type": "float", "args": ["learning_rate"], "targets": [1e-4, 1e-2]}]}
FULL = ("error: no space left on the device writing /data/am/automl/config_train/trial_001/"
        "models/model.ckpt (free some space, or write elsewhere: MMAR_CKPT_DIR for "
        "checkpoints, --output for predictions)")


def _study(tmp_path: Path, total: int) -> Study:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    options = StudyOptions(run_id="s", config_name="config_train.json", rounds=total,
                           slots=[Slot(0, None, 1)], storage=url, seed=3)
    study = Study(Workspace(tmp_path), FLOAT, read_valid_space(FLOAT, "x"),
                  AutomlSettings(sampler="tpe"), options, tmp_path, open_storage(url))
    study.open(total)
    return study


def _fake_trials(monkeypatch, outcomes: list, started: list) -> None:
    """Trial MMARs as bare folders, trial processes that end as ``outcomes`` say (an
    OSError item: making the trial's MMAR fails with it)."""
    def create(source, dest, *args, **kwargs):
        started.append(dest.name)
        outcome = outcomes[len(started) - 1]
        if isinstance(outcome, OSError):
            raise outcome
        dest.mkdir(parents=True)
        return types.SimpleNamespace(root=dest)

    class Process:
        def __init__(self, mmar, *args, **kwargs):
            self.outcome = outcomes[len(started) - 1]

        def run(self, on_validation, should_stop, key_metric):
            return self.outcome

    monkeypatch.setattr(study_module, "create_trial_mmar", create)
    monkeypatch.setattr(study_module, "TrialProcess", Process)


@pytest.mark.parametrize("failure", [
    TrialOutcome(status="failed", error=FULL, seconds=41.0),
    TrialOutcome(status="failed", seconds=3.0,
                 error="error: /data/am/automl/trial_001/train.log: cannot write: "
                       "Read-only file system"),
    OSError(errno.ENOSPC, "No space left on device", "/data/am/automl/trial_001/config"),
])
def test_a_full_disk_stops_the_study_and_queues_the_trial_again(tmp_path, monkeypatch,
                                                               failure):
    started: list = []
    _fake_trials(monkeypatch, [TrialOutcome(status="complete", metric=0.7, seconds=5.0),
                               failure, TrialOutcome(status="complete", metric=0.8)], started)
    study = _study(tmp_path, total=3)
    study.run()
    assert started == ["trial_000", "trial_001"]  # trial 2 never started
    assert study.machine_failure.startswith("trial 1: ")
    assert "no space left on the device" in study.machine_failure \
        or "Read-only file system" in study.machine_failure
    records = collect(study.study)
    assert [(r.number, r.status) for r in records] == [(0, "complete")]  # finished kept
    assert study.queued() == 2  # trial 1's values again, and the one never started
    assert not (tmp_path / "trial_001").exists()  # its re-run starts over; the disk needs room


def test_a_trial_failed_by_its_values_does_not_stop_the_study(tmp_path, monkeypatch):
    started: list = []
    _fake_trials(monkeypatch, [TrialOutcome(status="failed", error="error: loss is NaN"),
                               TrialOutcome(status="complete", metric=0.8)], started)
    study = _study(tmp_path, total=2)
    study.run()
    assert started == ["trial_000", "trial_001"] and study.machine_failure is None
    assert not machine_failure("error: loss is NaN") and machine_failure(FULL)


def test_the_leaderboard_shows_the_whole_error():
    """It was cut at 60 characters, mid-path: the table did not say what ran out."""
    from rich.console import Console

    record = TrialRecord(number=1, status="failed", params={"lr": 0.001}, metric=None,
                         epoch=None, seconds=41.0, mmar=None, error=FULL)
    console = Console(width=120, record=True)
    console.print(leaderboard([record], "automl s"))
    text = "".join(console.export_text().split())
    assert "".join(FULL.split()) in text.replace("│", "")


def test_the_study_ends_with_the_disk_error_and_the_continue_command(tmp_path, monkeypatch,
                                                                     capsys):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.search import report
    from mmarctl.search.automl import AutomlRequest, Prepared

    started: list = []
    _fake_trials(monkeypatch, [TrialOutcome(status="complete", metric=0.7, seconds=5.0),
                               TrialOutcome(status="failed", error=FULL, seconds=41.0)], started)
    study = _study(tmp_path, total=3)
    study.run()
    request = AutomlRequest(mmar=str(tmp_path), set_items=[])
    prepared = Prepared(Workspace(tmp_path), FLOAT, study.space, AutomlSettings(),
                        study.options, tmp_path, 3)
    with pytest.raises(RuntimeFailure) as raised:
        report._machine_failed(request, prepared, study, None)
    line = raised.value.format() if hasattr(raised.value, "format") else str(raised.value)
    assert "trial 1: no space left on the device writing /data/am/automl/" in line
    assert "error:" not in line and "--output for predictions" not in line
    assert "the study stopped" in line
    assert f"mmarctl automl {tmp_path} --run-id s --storage" in raised.value.hint
    assert "--resume" in raised.value.hint
    assert (tmp_path / "results.json").is_file()  # the finished trial's result is kept
    assert "automl s (stopped)" in capsys.readouterr().out
