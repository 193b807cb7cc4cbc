"""A fresh run's TensorBoard events are not drawn on top of the previous run's: the earlier
event files move to ``previous_runs/<stamp>/`` (TensorBoard shows each folder as a run)."""

from __future__ import annotations

import os

import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.training.contract import TrainState  # noqa: E402
from mmarctl.runtime.training.summaries import (PREVIOUS_RUNS,  # noqa: E402
                                                TensorBoardSummaries)


def one_epoch(writer):
    state = TrainState(epochs=1)
    state.step = 1
    writer.on_step_end(state, {"loss": 0.5, "learning_rate": 0.01})
    writer.on_epoch_end(state, {"loss": 0.5})
    writer.close()


def event_files(folder):
    return sorted(p.name for p in folder.glob("events.out.tfevents.*"))


def test_a_fresh_run_sets_the_earlier_runs_events_aside(tmp_path):
    one_epoch(TensorBoardSummaries(tmp_path, fresh=True))  # nothing to move: the first run
    first = event_files(tmp_path)
    assert len(first) == 1 and not (tmp_path / PREVIOUS_RUNS).exists()
    os.utime(tmp_path / first[0], (0, 86400))  # written 1970-01-02 00:00:00 UTC

    one_epoch(TensorBoardSummaries(tmp_path, fresh=True))
    [kept] = (tmp_path / PREVIOUS_RUNS).iterdir()
    assert kept.name == "19700102-000000" and event_files(kept) == first
    assert len(event_files(tmp_path)) == 1 and event_files(tmp_path) != first


def test_a_resumed_run_writes_beside_the_stopped_runs_events(tmp_path):
    one_epoch(TensorBoardSummaries(tmp_path, fresh=True))
    one_epoch(TensorBoardSummaries(tmp_path))  # --resume: the same run
    assert len(event_files(tmp_path)) == 2 and not (tmp_path / PREVIOUS_RUNS).exists()


def test_a_run_that_writes_no_epoch_moves_nothing(tmp_path):
    one_epoch(TensorBoardSummaries(tmp_path, fresh=True))
    before = event_files(tmp_path)
    failing = TensorBoardSummaries(tmp_path, fresh=True)
    state = TrainState(epochs=1)
    state.step = 1
    failing.on_step_end(state, {"loss": float("nan")})
    failing.close()  # failed in its first epoch: models/ is left as it was
    assert event_files(tmp_path) == before and not (tmp_path / PREVIOUS_RUNS).exists()


def test_two_earlier_runs_of_the_same_second_get_their_own_folders(tmp_path):
    for _ in range(3):
        one_epoch(TensorBoardSummaries(tmp_path, fresh=True))
        for path in tmp_path.glob("events.out.tfevents.*"):
            os.utime(path, (0, 86400))
    names = sorted(p.name for p in (tmp_path / PREVIOUS_RUNS).iterdir())
    assert names == ["19700102-000000", "19700102-000000-2"]
