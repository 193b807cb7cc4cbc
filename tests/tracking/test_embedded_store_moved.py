"""An MMAR copied or moved with its embedded MLflow store uploads into its own
``mlartifacts/`` (MLflow keeps the original's absolute path in ``mlruns.db``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mmarctl.tracking.settings import EMBEDDED_ARTIFACTS, embedded_uri
from mmarctl.tracking.tracker import rehome_embedded_store

mlflow = pytest.importorskip("mlflow")


def artifacts_of(root: Path) -> str:
    return (root.resolve() / EMBEDDED_ARTIFACTS).as_uri()


def test_a_copied_store_points_at_its_own_artifacts(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow's Default experiment lands in the cwd
    a = tmp_path / "a"
    a.mkdir()
    client = MlflowClient(tracking_uri=embedded_uri(a))
    experiment = client.create_experiment("a", artifact_location=artifacts_of(a))
    run = client.create_run(experiment).info.run_id
    (tmp_path / "note.txt").write_text("hello")
    client.log_artifact(run, str(tmp_path / "note.txt"))
    assert rehome_embedded_store(embedded_uri(a), artifacts_of(a)) is None  # in place

    b = tmp_path / "moved" / "b"
    shutil.copytree(a, b)
    assert rehome_embedded_store(embedded_uri(b), artifacts_of(b)) == artifacts_of(a)
    moved = MlflowClient(tracking_uri=embedded_uri(b))
    assert moved.get_experiment(experiment).artifact_location == artifacts_of(b)
    assert moved.get_run(run).info.artifact_uri.startswith(artifacts_of(b) + "/")
    shutil.rmtree(a)  # the original gone: the copy still shows its files
    assert [item.path for item in moved.list_artifacts(run)] == ["note.txt"]
    second = moved.create_run(experiment).info.run_id
    assert moved.get_run(second).info.artifact_uri.startswith(artifacts_of(b) + "/")
    assert rehome_embedded_store(embedded_uri(b), artifacts_of(b)) is None  # once


def test_no_store_yet_is_left_alone(tmp_path):
    assert rehome_embedded_store(embedded_uri(tmp_path), artifacts_of(tmp_path)) is None
