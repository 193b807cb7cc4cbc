"""A tracked training run stopped by Ctrl-C/SIGTERM is resumed tracked, into the same MLflow
run, by the plain ``mmarctl train MMAR --resume`` it prints (no ``--tracking`` repeated)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mmarctl.runtime.training import tracking as training_tracking
from mmarctl.runtime.training.resume_settings import (
    read_run_settings, saved_tracking, write_run_settings)


class FakeTracker:
    run_id = "run-123"

    def __init__(self) -> None:
        self.closed: list[str] = []
        self.logged: list = []

    def log_metrics(self, values, step):
        self.logged.append((values, step))

    def log_artifact(self, path, folder=None):
        pass

    def set_tags(self, tags):
        pass

    def close(self, status="FINISHED"):
        self.closed.append(status)


def stopped_state():
    return SimpleNamespace(key_metric="val_mean_dice", best_metric=float("nan"), best_epoch=0,
                           epoch=4, step=20)


def test_an_interrupted_tracked_run_records_its_run_in_the_resume_state(tmp_path):
    resume = tmp_path / "models" / "resume"
    tracker = FakeTracker()
    callback = training_tracking.TrackingCallback(tracker, tmp_path, resume_dir=resume,
                                                  uri="http://127.0.0.1:5000")
    write_run_settings(resume, {"num_training_epoch_per_valid": 1}, 30)  # the saver's
    callback.on_interrupt(stopped_state())
    assert tracker.closed == ["KILLED"]
    assert saved_tracking(resume) == {"uri": "http://127.0.0.1:5000", "run_id": "run-123"}
    # run.json stays what --resume reads
    assert read_run_settings(resume)["overrides"] == {"num_training_epoch_per_valid": 1}


def test_an_untracked_stopped_run_has_no_tracking():
    assert saved_tracking(Path("/nonexistent")) is None


def plan_for(tmp_path, *, tracking=None, tracking_uri=None, resume=True):
    options = SimpleNamespace(tracking=tracking, tracking_uri=tracking_uri, resume=resume,
                              finetune_from=None)
    return SimpleNamespace(
        backend=SimpleNamespace(is_chief=True, size=1), options=options,
        workspace=SimpleNamespace(root=tmp_path), checkpoint_dir=tmp_path / "models",
        resolved=SimpleNamespace(variables={}, data={}), state=SimpleNamespace(
            steps_per_epoch=4), seed=None)


@pytest.fixture
def opened(monkeypatch):
    calls: list[dict] = []

    def fake_open_run(root, settings, **kwargs):
        calls.append({"settings": settings, **kwargs})
        return FakeTracker() if settings.enabled else None

    import mmarctl.tracking.runs as runs

    monkeypatch.setattr(runs, "open_run", fake_open_run)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return calls


@pytest.mark.parametrize("uri", [None, "http://127.0.0.1:5000"])
def test_resume_without_tracking_options_continues_the_stopped_run(tmp_path, opened, uri):
    resume = tmp_path / "models" / "resume"
    write_run_settings(resume, {}, 30)
    training_tracking.TrackingCallback(FakeTracker(), tmp_path, resume_dir=resume,
                                       uri=uri).on_interrupt(stopped_state())
    callbacks = training_tracking.tracking_callbacks(plan_for(tmp_path))
    assert len(callbacks) == 1
    settings = opened[0]["settings"]
    assert settings.enabled
    assert settings.source == ("embedded" if uri is None else "--tracking-uri")
    if uri:
        assert settings.uri == uri
    assert opened[0]["resume_run_id"] == "run-123"


def test_resume_tracking_none_stays_untracked(tmp_path, opened):
    resume = tmp_path / "models" / "resume"
    write_run_settings(resume, {}, 30)
    training_tracking.TrackingCallback(FakeTracker(), tmp_path, resume_dir=resume
                                       ).on_interrupt(stopped_state())
    assert training_tracking.tracking_callbacks(plan_for(tmp_path, tracking="none")) == []


def test_resume_of_an_untracked_run_stays_untracked(tmp_path, opened):
    write_run_settings(tmp_path / "models" / "resume", {}, 30)
    assert training_tracking.tracking_callbacks(plan_for(tmp_path)) == []
    assert not opened[0]["settings"].enabled


def test_a_fresh_run_ignores_a_stale_resume_state(tmp_path, opened):
    resume = tmp_path / "models" / "resume"
    write_run_settings(resume, {}, 30)
    training_tracking.TrackingCallback(FakeTracker(), tmp_path, resume_dir=resume
                                       ).on_interrupt(stopped_state())
    assert training_tracking.tracking_callbacks(plan_for(tmp_path, resume=False)) == []
