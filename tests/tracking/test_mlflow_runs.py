"""Tracked runs read back through MLflow's own client, from a real ``mlflow server`` on
loopback and from the embedded store inside the MMAR; a dead server, a server that goes away
and a URI that does not parse cost one line and never the run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from standin_mmar import make_mmar, train_config  # noqa: E402

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``mlflow server`` on 127.0.0.1 with a SQLite backend and proxied artifacts."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        # A tracking server: runs, params, metrics and artifacts. MLflow 3's server-side jobs
        # (huey consumer processes for its GenAI features) are off; each cost 4-5 s of CPU.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen(
            [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            stdout=open(folder / "server.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((folder / "server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("mlflow server did not answer /health within 120 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("mlflow"))
    yield running
    running.stop()


def mmarctl(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=environ)


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def history(root: Path) -> list[dict]:
    return [json.loads(line) for line in
            (root / "models" / "metrics_history.jsonl").read_text().splitlines()]


def warnings_of(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines()
            if "tracking" in line.lower() and "warning" in line.lower()]


def test_train_tracked_to_a_server_reads_back(server, tmp_path):
    root = make_mmar(tmp_path / "exp", config=train_config(epochs=2))
    result = mmarctl("train", root, "--tracking", "mlflow", "--tracking-uri", server.uri,
                     "--seed", 1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert warnings_of(result) == []
    record = json.loads((root / "models" / "tracking.json").read_text())
    assert record["tracking_uri"] == server.uri

    mlflow_client = client(server.uri)
    run = mlflow_client.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "exp train"
    assert mlflow_client.get_experiment(run.info.experiment_id).name == "exp"
    params = run.data.params
    assert params["epochs"] == "2" and params["learning_rate"] == "0.05"
    assert params["train.model.path"] == "standins.TinyNet"
    assert params["train.model.args.num_classes"] == "2"
    assert params["validate.metrics.0.args.is_key_metric"] == "true"
    assert params["mmarctl.steps_per_epoch"] == "2" and params["mmarctl.seed"] == "1"
    tags = run.data.tags
    assert tags["mmarctl.mmar"] == str(root.resolve())
    assert tags["mmarctl.verb"] == "train" and tags["mmarctl.phase"] == "train"
    assert len(tags["mmarctl.config_hash"]) == 16
    from mmarctl import __version__
    assert tags["mmarctl.version"] == __version__

    # per epoch: the same values as models/metrics_history.jsonl
    records = history(root)
    losses = mlflow_client.get_metric_history(run.info.run_id, "epoch_loss")
    assert [(m.step, m.value) for m in sorted(losses, key=lambda m: m.step)] == \
        [(r["epoch"], pytest.approx(r["loss"])) for r in records]
    dice = mlflow_client.get_metric_history(run.info.run_id, "mean_dice")
    assert [(m.step, m.value) for m in sorted(dice, key=lambda m: m.step)] == \
        [(r["epoch"], pytest.approx(r["metrics"]["mean_dice"])) for r in records]
    # per step: loss and learning rate at global steps (throttled, the first of each epoch)
    steps = mlflow_client.get_metric_history(run.info.run_id, "loss")
    assert {m.step for m in steps} >= {1, 3}
    assert {m.step for m in mlflow_client.get_metric_history(run.info.run_id,
                                                             "learning_rate")} >= {1, 3}
    assert run.data.metrics["best_mean_dice"] == pytest.approx(
        max(r["metrics"]["mean_dice"] for r in records))

    artifacts = {f.path for f in mlflow_client.list_artifacts(run.info.run_id)}
    assert "config" in artifacts
    configs = {f.path for f in mlflow_client.list_artifacts(run.info.run_id, "config")}
    assert {"config/config_train.json", "config/environment.json"} <= configs
    if (root / "models" / "learning_curves.png").is_file():
        assert "models/learning_curves.png" in {
            f.path for f in mlflow_client.list_artifacts(run.info.run_id, "models")}

    # validate on the same MMAR and server: a child run of the training run
    result = mmarctl("validate", root, "--tracking-uri", server.uri)
    assert result.returncode == 0, result.stdout + result.stderr
    children = mlflow_client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(children) == 1
    child = children[0]
    assert child.data.tags["mmarctl.verb"] == "validate"
    summary = json.loads((root / "eval" / "metrics.json").read_text())["summary"]
    assert child.data.metrics["mean_dice"] == pytest.approx(summary["mean_dice"]["value"])
    assert "eval/metrics.json" in {
        f.path for f in mlflow_client.list_artifacts(child.info.run_id, "eval")}


def test_embedded_store_inside_the_mmar(tmp_path):
    root = make_mmar(tmp_path / "emb", config=train_config(epochs=1))
    result = mmarctl("train", root, "--tracking", "mlflow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert warnings_of(result) == []
    assert "Creating initial MLflow database tables" not in result.stderr
    uri = f"sqlite:///{root.resolve()}/mlruns.db"
    assert json.loads((root / "models" / "tracking.json").read_text())["tracking_uri"] == uri
    mlflow_client = client(uri)
    experiment = mlflow_client.get_experiment_by_name("emb")
    assert experiment.artifact_location == (root.resolve() / "mlartifacts").as_uri()
    (run,) = mlflow_client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert [m.value for m in mlflow_client.get_metric_history(run.info.run_id, "epoch_loss")] \
        == [pytest.approx(history(root)[0]["loss"])]
    assert (root / "mlartifacts").is_dir()


def test_a_uri_that_does_not_parse(tmp_path):
    root = make_mmar(tmp_path / "bad", config=train_config(epochs=1))
    result = mmarctl("train", root, "--tracking-uri", "htp://nowhere")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--tracking-uri 'htp://nowhere' does not parse: unknown scheme 'htp'" in \
        result.stdout + result.stderr
    assert not (root / "models").exists()
    # from the environment: one line, and the run goes on untracked
    result = mmarctl("train", root, env={"MLFLOW_TRACKING_URI": "htp://nowhere"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert warnings_of(result) == [
        "warning: tracking URI 'htp://nowhere' (MLFLOW_TRACKING_URI) does not parse: "
        "unknown scheme 'htp'; going on untracked"]
    assert not (root / "models" / "tracking.json").exists()


def test_a_dead_server_warns_once_and_the_run_goes_on(tmp_path):
    # that it costs no CPU (mlflow is never imported) is tests/tracking/test_reach.py's
    root = make_mmar(tmp_path / "dead", config=train_config(epochs=2))
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = mmarctl("train", root, "--tracking-uri", dead)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trained 2 epochs" in result.stdout
    assert warnings_of(result) == [
        f"warning: MLflow tracking to {dead} failed (connection refused); going on untracked"]
    assert not (root / "models" / "tracking.json").exists()


def test_a_server_that_goes_away_mid_run(tmp_path):
    vanishing = Server(tmp_path / "vanishing")
    root = make_mmar(tmp_path / "gone", n_train=8, config=train_config(epochs=12))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    process = subprocess.Popen([sys.executable, "-m", "mmarctl", "train", str(root),
                                "--tracking-uri", vanishing.uri],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environ)
    try:
        deadline = time.monotonic() + 300
        while not (root / "models" / "tracking.json").exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.2)
        vanishing.stop()  # the run exists; now the server goes away
        stopped = time.monotonic()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        vanishing.stop()
        if process.poll() is None:
            process.kill()
    after_s = time.monotonic() - stopped
    assert process.returncode == 0, stdout + stderr
    assert "trained 12 epochs" in stdout
    lines = [line for line in stderr.splitlines() if "tracking" in line.lower()]
    if len(history(root)) == 12 and not lines:
        pytest.skip("training finished before the server was gone")  # the machine was fast
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"warning: MLflow tracking to {vanishing.uri} failed")
    print(f"server stopped; the run ended {after_s:.1f} s later")
