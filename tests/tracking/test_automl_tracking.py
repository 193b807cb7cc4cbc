"""A tracked AutoML study: the study is a parent run, each trial a child run (its own
``mmarctl train`` process) with the trial's values as params, read back from a real server."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("optuna")

from tests.search.test_automl_cli import EPOCH, spleen, spleen_source  # noqa: E402,F401
from tests.search.test_automl_cli import mmarctl  # noqa: E402
from tests.tracking.test_mlflow_runs import Server  # noqa: E402


@pytest.mark.slow
def test_study_parent_run_and_two_trial_children(spleen, tmp_path):
    server = Server(tmp_path / "mlflow")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        result = mmarctl("automl", spleen, "--rounds", 2, "--workers", 1, "--seed", 0,
                         "--tracking-uri", server.uri, *EPOCH, env=env)
        assert "tracking" not in result.stderr.lower(), result.stderr
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=server.uri)
        experiment = client.get_experiment_by_name("spleen")
        runs = client.search_runs([experiment.experiment_id])
        (parent,) = [r for r in runs if r.data.tags.get("mmarctl.phase") == "study"]
        assert parent.info.status == "FINISHED"
        assert parent.info.run_name == "automl config_train"
        assert parent.data.params["automl.trials"] == "2"
        assert parent.data.tags["mmarctl.verb"] == "automl"
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")
                    == parent.info.run_id]
        assert sorted(r.info.run_name for r in children) == ["trial_000", "trial_001"]
        results = json.loads((spleen / "automl" / "config_train" / "results.json").read_text())
        by_number = {t["number"]: t for t in results["trials"]}
        for child in children:
            number = int(child.data.tags["mmarctl.trial"])
            assert child.data.tags["mmarctl.phase"] == "trial"
            assert child.data.tags["mmarctl.study"] == "config_train"
            assert child.info.status == "FINISHED"
            trial = by_number[number]
            assert float(child.data.params["learning_rate"]) == pytest.approx(
                trial["params"]["learning_rate"])
            assert float(child.data.params["automl.learning_rate"]) == pytest.approx(
                trial["params"]["learning_rate"])
            assert child.data.tags["mmarctl.mmar"] == trial["mmar"]
            assert "epoch_loss" in child.data.metrics
        points = client.get_metric_history(parent.info.run_id, "trial_metric")
        assert sorted(m.step for m in points) == sorted(
            t["number"] for t in results["trials"] if t.get("metric") is not None)
        assert "automl/results.json" in {
            f.path for f in client.list_artifacts(parent.info.run_id, "automl")}
    finally:
        server.stop()
