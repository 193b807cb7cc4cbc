"""train / finetune / validate / infer through the command line: exit codes and key lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.cli import app  # noqa: E402

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_verbs_import_no_tensorflow():
    code = ("import sys, mmarctl.cli; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("verb", ["train", "finetune", "validate", "infer"])
def test_help_has_an_example(verb):
    result = invoke(verb, "--help")
    assert result.exit_code == 0 and "Example: mmarctl " + verb in result.output


def test_not_an_mmar(tmp_path):
    result = invoke("train", tmp_path)
    assert result.exit_code == 1 and "not an MMAR" in result.output


def test_bad_set_item_is_usage_error(tmp_path):
    root = make_mmar(tmp_path / "m")
    result = invoke("train", root, "--set", "epochs")
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.output


def test_bad_launcher_is_usage_error(tmp_path):
    root = make_mmar(tmp_path / "m")
    result = invoke("train", root, "--launcher", "ssh")
    assert result.exit_code == 2 and "--launcher must be gloo or mpirun" in result.output


@pytest.mark.slow
def test_train_finetune_validate_infer(tmp_path):
    pytest.importorskip("tensorflow")
    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))

    result = invoke("finetune", root, "--epochs", "1")
    assert result.exit_code == 1
    assert "finetune needs a checkpoint to start from; none at models/model.ckpt" in result.output

    result = invoke("train", root, "--resume")
    assert result.exit_code == 1 and "nothing to resume" in result.output

    result = invoke("train", root, "--epochs", "1", "--seed", "3", "--learning-rate", "0.01")
    assert result.exit_code == 0, result.output
    assert "trained 1 epoch; best mean_dice=" in result.output
    assert (root / "models" / "model.ckpt.index").is_file()

    result = invoke("finetune", root, "--epochs", "1", "--set", "MMAR_CKPT=models/model_final.ckpt")
    assert result.exit_code == 0, result.output
    assert "starting at epoch 1, from models/model_final.ckpt" in result.output  # named

    result = invoke("validate", root)
    assert result.exit_code == 0, result.output
    assert "validated 2 cases" in result.output and "mean_dice: 0." in result.output
    assert (root / "eval" / "metrics.json").is_file()

    out = tmp_path / "pred"
    result = invoke("infer", root, "--input", root / "data" / "training_1_img.npy", "--output", out)
    assert result.exit_code == 0, result.output
    assert (out / "training_1_img_seg.npy").is_file()


@pytest.mark.slow
def test_data_error_exits_1_with_one_line(tmp_path):
    pytest.importorskip("tensorflow")
    root = make_mmar(tmp_path / "m", bad_label=True, n_train=2)
    result = invoke("train", root, "--epochs", "1")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "label values 0..3 are outside 0..1 (num_classes=2)" in result.output
    assert not (root / "models").exists()


def test_multi_process_options_are_handed_to_the_launcher(tmp_path, monkeypatch):
    from mmarctl import launcher

    calls = []
    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: calls.append((argv, kw)) or 0)
    root = make_mmar(tmp_path / "m")
    # (a key the configs read: one that nothing reads is refused, see test_check.py)
    result = invoke("train", root, "--gpus", "2", "--cpu", "--epochs", "3", "--set",
                    "DATA_LIST_KEY=validation", "--launcher", "mpirun")
    assert result.exit_code == 0, result.output
    argv, kwargs = calls[0]
    assert argv[:2] == ["train", str(root.resolve())]
    assert argv[2:] == ["--set", "DATA_LIST_KEY=validation", "--set", "multi_gpu=true",
                        "--epochs", "3", "--config-train", "config_train.json"]
    # The models/ lock, held while the launcher ran, goes to it (mmarctl.locks).
    locks = kwargs.pop("locks")
    assert [lock.path for lock in locks] == [root.resolve() / "models" / ".mmarctl.lock"]
    assert not locks[0].held                      # released when the command ended
    assert kwargs == {"gpus": 2, "cpu": True, "hosts": None, "hostfile": None,
                      "launcher": "mpirun"}


@pytest.mark.parametrize("options, message", [
    (["--cpu"], "--cpu runs N CPU processes with --gpus N (N > 1)"),
    (["--launcher", "mpirun"], "--launcher mpirun starts the workers of --gpus N (N > 1)"),
])
def test_launch_options_without_gpus_are_refused_not_ignored(tmp_path, monkeypatch, options,
                                                             message):
    from mmarctl import launcher

    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: pytest.fail("launched"))
    root = make_mmar(tmp_path / "m")
    result = invoke("train", root, *options)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (root / "models" / "model.ckpt.index").exists()


def test_resume_and_finetune_do_not_mix(tmp_path):
    root = make_mmar(tmp_path / "m")
    from mmarctl.commands.train import run_training
    from mmarctl.errors import UsageError

    with pytest.raises(UsageError, match="--resume continues a run"):
        run_training("finetune", str(root), None, epochs=None, learning_rate=None, seed=None,
                     config_train="config_train.json", resume=True, gpus=1, cpu=False,
                     hosts=None, hostfile=None, launcher="gloo", finetune=True)


def test_config_error_reported_without_loading_tensorflow(tmp_path):
    root = make_mmar(tmp_path / "m")
    code = ("import sys; from typer.testing import CliRunner; from mmarctl.cli import app; "
            f"r = CliRunner().invoke(app, ['train', {str(root)!r}, '--config-train', 'nope.json']); "
            "assert r.exit_code == 1, r.output; assert 'file not found' in r.output; "
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture()
def fake_launch(monkeypatch):
    """launcher.launch replaced by a recorder; not inside a worker."""
    from mmarctl import launcher

    calls = []
    monkeypatch.delenv("MMARCTL_WORKER", raising=False)
    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: calls.append((argv, kw)) or 0)
    return calls


@pytest.mark.parametrize("where", ["config", "set"])
def test_multi_gpu_true_runs_one_worker_per_gpu(tmp_path, monkeypatch, fake_launch, where):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    config = train_config(multi_gpu=where == "config")
    root = make_mmar(tmp_path / "m", config=config)
    extra = ["--set", "multi_gpu=true"] if where == "set" else []
    # finetune's starting checkpoint is checked before launching: one to start from
    from mmarctl.runtime import plan

    from mmarctl.runtime.checkpoint import checkpoint_files

    for part in checkpoint_files(str(root / "models" / "model.ckpt")):
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(b"")
    monkeypatch.setattr(plan, "preflight", lambda workspace, options: None)
    for verb in ("train", "finetune"):
        result = invoke(verb, root, "--epochs", "2", *extra)
        assert result.exit_code == 0, result.output
    assert [kw["gpus"] for _, kw in fake_launch] == [3, 3]
    assert all(kw["cpu"] is False for _, kw in fake_launch)
    assert fake_launch[1][0][0] == "finetune" and "multi_gpu=true" in fake_launch[1][0]


def test_multi_gpu_without_gpus_warns_and_trains_in_one_process(tmp_path, monkeypatch,
                                                               fake_launch):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime import plan

    def stop(*args, **kwargs):
        raise RuntimeFailure("stopped before training (test)")

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(plan.TrainingPlan, "build", classmethod(stop))
    root = make_mmar(tmp_path / "m", config=train_config(multi_gpu=True))
    result = invoke("train", root)
    assert fake_launch == []
    assert "multi_gpu is true but this machine has 0 GPU(s): training in one process" \
        in result.output
    assert result.exit_code == 1 and "stopped before training (test)" in result.output


def test_multi_gpu_false_or_inside_a_worker_does_not_launch(tmp_path, monkeypatch, fake_launch):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime import plan

    def stop(*args, **kwargs):
        raise RuntimeFailure("stopped before training (test)")

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(plan.TrainingPlan, "build", classmethod(stop))
    root = make_mmar(tmp_path / "m", config=train_config(multi_gpu=False))
    assert invoke("train", root).exit_code == 1
    monkeypatch.setenv("MMARCTL_WORKER", "1")
    result = invoke("train", root, "--set", "multi_gpu=true")
    assert result.exit_code == 1 and "warning" not in result.output
    assert fake_launch == []


def test_multi_gpu_not_a_boolean_is_config_error(tmp_path, fake_launch):
    root = make_mmar(tmp_path / "m")
    result = invoke("train", root, "--set", "multi_gpu=5")
    assert result.exit_code == 1
    assert "multi_gpu must be true or false; Received: multi_gpu=5" in result.output
    assert fake_launch == []


@pytest.mark.parametrize("option", ["--lr", "--lr-scale"])
@pytest.mark.parametrize("value", ["0", "-1e-3", "nan", "inf"])
def test_learning_rate_options_must_be_positive_and_name_themselves(tmp_path, option, value):
    root = make_mmar(tmp_path / "m")
    result = invoke("train", root, option, value)
    assert result.exit_code == 2, result.output
    name = "--learning-rate" if option == "--lr" else option
    assert f"error: {name} must be a finite number above 0 (got " in result.output
    assert not (root / "models").exists()


def test_workers_are_not_started_for_what_the_preflight_refuses(tmp_path, fake_launch):
    """--gpus N: a missing data file, a bad config or no checkpoint to finetune from is said
    once by the launching process, with a one-process run's exit code, before any worker."""
    root = make_mmar(tmp_path / "m", config=train_config())
    result = invoke("finetune", root, "--gpus", "2", "--cpu", "--epochs", "1")
    assert result.exit_code == 1 and fake_launch == []
    assert result.output.count("finetune needs a checkpoint to start from") == 1
    (root / "data" / "training_1_img.npy").unlink()
    result = invoke("train", root, "--gpus", "2", "--cpu", "--epochs", "1")
    assert result.exit_code == 1 and fake_launch == []
    assert result.output.count("training_1_img.npy") == 1, result.output
