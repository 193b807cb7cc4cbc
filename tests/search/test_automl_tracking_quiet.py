"""MLflow's own "View run / View experiment" lines never reach mmarctl's output."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("mlflow")


def test_mlflow_url_printout_is_switched_off(tmp_path, monkeypatch, capsys):
    from mmarctl.tracking.settings import resolve_settings
    from mmarctl.tracking.tracker import Tracker

    monkeypatch.delenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", raising=False)
    settings = resolve_settings(tmp_path, mode="mlflow", uri=f"file:{tmp_path / 'runs'}",
                                variables={})
    tracker = Tracker(settings, run_name="quiet").start()
    tracker.close("FINISHED")
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT

    assert MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.get() is True
    assert "View run" not in capsys.readouterr().out
