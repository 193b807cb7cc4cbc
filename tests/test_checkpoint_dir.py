"""MMAR_CKPT_DIR is the one checkpoint folder: train and finetune write (and lock) it,
--resume reads it, validate/infer/export read the model from it, clone treats it as the
source's models/ (Workspace.checkpoint_dir decides it for every verb)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def set_env(root: Path, **values) -> None:
    path = root / "config" / "environment.json"
    env = json.loads(path.read_text())
    env.update(values)
    path.write_text(json.dumps(env))


@pytest.fixture
def mmar(tmp_path: Path) -> Path:
    root = make_mmar(tmp_path / "m")
    set_env(root, MMAR_CKPT_DIR="ckpts")
    return root.resolve()


def test_checkpoint_dir_follows_the_variables(tmp_path: Path, mmar: Path):
    workspace = Workspace(mmar)
    assert workspace.checkpoint_dir() == mmar / "ckpts"
    assert workspace.checkpoint_dir(workspace.variables({}, {"MMAR_CKPT_DIR": "other"})) \
        == mmar / "other"
    assert workspace.checkpoint_dir({"MMAR_CKPT_DIR": str(tmp_path / "abs")}) \
        == tmp_path / "abs"
    set_env(mmar, MMAR_CKPT_DIR="")
    assert workspace.checkpoint_dir() == mmar / "models"


@pytest.mark.parametrize("extra, folder", [([], "ckpts"),
                                           (["--set", "MMAR_CKPT_DIR=elsewhere"], "elsewhere")])
def test_train_locks_the_checkpoint_folder(mmar: Path, monkeypatch, extra, folder):
    # Launching workers is stubbed: the lock is taken, and handed to them, before that.
    from mmarctl import launcher

    calls = []
    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: calls.append(kw) or 0)
    result = invoke("train", mmar, "--gpus", "2", "--cpu", *extra)
    assert result.exit_code == 0, result.output
    assert [lock.path for lock in calls[0]["locks"]] == [mmar / folder / ".mmarctl.lock"]


def test_finetune_default_checkpoint_is_in_the_checkpoint_folder(mmar: Path):
    result = invoke("finetune", mmar, "--epochs", "1")
    assert result.exit_code == 1
    assert "finetune needs a checkpoint to start from; none at ckpts/model.ckpt" \
        in result.output


@pytest.mark.slow
def test_train_writes_where_validate_and_finetune_read(mmar: Path):
    pytest.importorskip("tensorflow")
    result = invoke("train", mmar, "--resume")
    assert result.exit_code == 1 and "nothing to resume: no ckpts/resume/model.ckpt" \
        in result.output

    result = invoke("train", mmar, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert f"models in {(mmar / 'ckpts').resolve()}" in result.output  # opens from here
    written = {p.name for p in (mmar / "ckpts").iterdir()}
    assert {"model.ckpt.index", "model_final.ckpt.index", "metrics_history.jsonl",
            "training_summary.json"} <= written
    assert any(name.startswith("events.out.tfevents") for name in written)
    assert not (mmar / "models").exists()

    result = invoke("validate", mmar)
    assert result.exit_code == 0, result.output

    result = invoke("finetune", mmar, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert not (mmar / "models").exists()


def test_clone_keeps_the_checkpoint_folder_its_own(tmp_path: Path, mmar: Path):
    (mmar / "ckpts").mkdir()
    (mmar / "ckpts" / "model.ckpt.index").write_text("")

    plain = tmp_path / "plain"
    assert invoke("clone", mmar, plain).exit_code == 0
    # Not pointed back at the source's checkpoints, which training the clone would overwrite.
    assert json.loads((plain / "config" / "environment.json").read_text())["MMAR_CKPT_DIR"] \
        == "ckpts"
    assert not (plain / "ckpts").exists()

    with_models = tmp_path / "with-models"
    assert invoke("clone", mmar, with_models, "--with-models").exit_code == 0
    assert (with_models / "ckpts" / "model.ckpt.index").is_file()
