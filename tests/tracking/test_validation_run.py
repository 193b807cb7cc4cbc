"""validate's tracked run can start before validating (import + connect overlap the work) and
be finished after it: the same params, metrics and artifacts as track_validation's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import mmarctl.tracking.runs as runs
from mmarctl.errors import ConfigError


class FakeTracker:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def log_params(self, params):
        self.calls.append(("params", dict(params)))

    def log_metrics(self, metrics, step):
        self.calls.append(("metrics", dict(metrics), step))

    def log_artifact(self, path, folder=None):
        self.calls.append(("artifact", Path(path).name, folder))

    def close(self, status="FINISHED"):
        self.calls.append(("close", status))


def workspace(tmp_path, broken=False):
    def resolve(config, overrides):
        if broken:
            raise ConfigError("bad")
        return SimpleNamespace(variables={}, data={"x": 1})

    return SimpleNamespace(root=tmp_path, resolve=resolve, config_dir=tmp_path / "config",
                           checkpoint_dir=lambda variables: tmp_path / "models")


def test_open_before_and_finish_after(tmp_path, monkeypatch):
    opened = []

    def fake_open_run(root, settings, **kwargs):
        opened.append(kwargs)
        return FakeTracker()

    monkeypatch.setattr(runs, "open_run", fake_open_run)
    tracker = runs.open_validation(workspace(tmp_path), mode="mlflow", uri=None,
                                   config="config_validation.json", overrides={}, model=None)
    assert opened[0]["extra_params"] == {"mmarctl.model": "config"} and tracker.calls == []
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("{}")
    report = SimpleNamespace(cases=2, metrics={"mean_dice": 0.5}, output_dir=tmp_path / "eval")
    runs.finish_validation(tracker, workspace(tmp_path), report)
    assert tracker.calls == [("params", {"mmarctl.cases": 2}),
                             ("metrics", {"mean_dice": 0.5}, 0),
                             ("artifact", "metrics.json", "eval"),
                             ("artifact", "config", "config"), ("close", "FINISHED")]


def test_a_config_that_does_not_resolve_opens_nothing(tmp_path):
    assert runs.open_validation(workspace(tmp_path, broken=True), mode="mlflow", uri=None,
                                config="x.json", overrides={}, model=None) is None
    runs.finish_validation(None, workspace(tmp_path), None)  # nothing to do
