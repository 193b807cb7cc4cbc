"""What a real (tiny) training run leaves for TensorBoard and for the pictures.

Trains the stand-in MMAR for 3 epochs through the CLI once, then reads models/ with
TensorBoard's own loader and server, checks learning_curves.png, finetunes a copy, and
compares the run with an untrained clone."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.cli import app  # noqa: E402
from mmarctl.report.curves import read_curves  # noqa: E402
from mmarctl.run_records import read_history, read_summary  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_runtime_extras_bring_tensorboard():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra in ("cpu", "gpu"):
        assert "tensorboard>=2.20" in extras[extra], extra


def test_tensorboard_command_is_installed():
    pytest.importorskip("tensorboard")
    script = Path(sys.executable).parent / "tensorboard"
    assert script.is_file(), f"no {script}: pip install -e '.[cpu]'"
    done = subprocess.run([str(script), "--version_tb"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip()[:1].isdigit(), done.stderr[-500:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    root = make_mmar(tmp_path_factory.mktemp("tb") / "exp", config=train_config(epochs=3))
    result = invoke("train", root, "--seed", "1", "--learning-rate", "0.02")
    assert result.exit_code == 0, result.output
    return root


def _tensors(models: Path) -> dict[str, dict[int, float]]:
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    loader = event_accumulator.EventAccumulator(
        str(models), size_guidance={event_accumulator.TENSORS: 0})
    loader.Reload()
    return {tag: {event.step: float(tensor_util.make_ndarray(event.tensor_proto))
                  for event in loader.Tensors(tag)}
            for tag in loader.Tags()["tensors"]}


@pytest.mark.slow
def test_events_match_the_history(trained):
    pytest.importorskip("tensorboard")
    history = read_history(trained / "models")
    assert [r["epoch"] for r in history] == [1, 2, 3]
    events = _tensors(trained / "models")
    assert {"epoch/loss", "validation/mean_dice", "train/loss",
            "train/learning_rate"} <= set(events)
    assert sorted(events["epoch/loss"]) == [1, 2, 3]
    steps_per_epoch = len(events["train/loss"]) // 3
    assert sorted(events["train/loss"]) == list(range(1, 3 * steps_per_epoch + 1))
    for record in history:
        epoch = record["epoch"]
        assert events["epoch/loss"][epoch] == pytest.approx(record["loss"], rel=1e-6)
        assert events["validation/mean_dice"][epoch] == pytest.approx(
            record["metrics"]["mean_dice"], rel=1e-6)
        # the history keeps the learning rate of each epoch's last step
        assert events["train/learning_rate"][epoch * steps_per_epoch] == pytest.approx(
            record["learning_rate"], rel=1e-6)
        # the epoch loss is the mean of its step losses
        steps = range((epoch - 1) * steps_per_epoch + 1, epoch * steps_per_epoch + 1)
        assert math.fsum(events["train/loss"][s] for s in steps) / steps_per_epoch == \
            pytest.approx(record["loss"], rel=1e-5)


@pytest.mark.slow
def test_tensorboard_serves_the_run(trained):
    pytest.importorskip("tensorboard")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tensorboard"), "--logdir",
         str(trained / "models"), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
        deadline, tags = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    tags = json.loads(response.read())
                if tags.get("."):
                    break  # the first load of the logdir can come a moment after start
            except OSError:
                pass
            time.sleep(0.5)
        assert tags is not None, "tensorboard did not answer within 90 s"
        assert {"epoch/loss", "validation/mean_dice", "train/loss",
                "train/learning_rate"} <= set(tags["."])
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_learning_curves_drawn_and_finetune_continues_them(trained, tmp_path):
    from matplotlib.image import imread

    picture = trained / "models" / "learning_curves.png"
    assert imread(str(picture)).shape[:2] == (int((1.9 * 3 + 0.6) * 72), int(5.6 * 72))
    curves = read_curves(trained / "models")
    summary = read_summary(trained / "models")
    assert curves.epochs == [1, 2, 3]
    assert curves.best == (summary["best_epoch"], pytest.approx(summary["best_metric"]))

    copy = tmp_path / "finetuned"
    shutil.copytree(trained, copy)
    before = (copy / "models" / "learning_curves.png").read_bytes()
    result = invoke("finetune", copy, "--epochs", "2", "--seed", "1")
    assert result.exit_code == 0, result.output
    curves = read_curves(copy / "models")
    assert curves.epochs == [1, 2, 3, 4, 5] and curves.phase_starts == [(4, "finetune")]
    assert curves.best[0] in (4, 5)  # model.ckpt now holds the finetune's best
    assert (copy / "models" / "learning_curves.png").read_bytes() != before


@pytest.mark.slow
def test_compare_with_an_untrained_clone(trained, tmp_path):
    result = invoke("clone", trained, tmp_path / "lr-low")
    assert result.exit_code == 0, result.output
    config = tmp_path / "lr-low" / "config" / "config_train.json"
    data = json.loads(config.read_text())
    data["learning_rate"] = 0.001
    config.write_text(json.dumps(data))

    result = invoke("compare", trained, tmp_path / "lr-low", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["rows"]
    rows = {r["name"]: r["text"] for r in found}  # as the table shows them
    assert {r["name"]: r["values"] for r in found}["learning_rate"] == [0.02, 0.001]
    summary = read_summary(trained / "models")
    # what each trained with: the run's --learning-rate 0.02 (its config says 0.05)
    assert rows["learning_rate"] == ["0.02", "0.001"]
    assert rows["status"] == ["finished", "not trained"]
    assert rows["best metric"] == [f"{summary['best_metric']:.4f}", "-"]
    assert rows["epochs run"] == ["3", "-"]
