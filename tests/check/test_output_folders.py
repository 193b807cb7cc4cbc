"""MMAR_CKPT_DIR and MMAR_EVAL_OUTPUT_PATH naming a file: every verb writing there refuses,
so check says so first (an unmade folder is fine: the verbs create it)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401 - fixtures

runner = CliRunner()


def _set_env(root: Path, **values: str) -> None:
    path = root / "config" / "environment.json"
    env = json.loads(path.read_text())
    env.update(values)
    path.write_text(json.dumps(env))


def test_a_checkpoint_folder_that_is_a_file(mmar: Path) -> None:
    _set_env(mmar, MMAR_CKPT_DIR="config/environment.json")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert ("config/environment.json: MMAR_CKPT_DIR: config/environment.json is a file, not a "
            "folder: train and finetune write checkpoints there, and validate, infer and export "
            "read them (set MMAR_CKPT_DIR to a folder)") in problem_lines(result.output)


def test_an_eval_folder_under_a_file_given_with_set(mmar: Path) -> None:
    result = runner.invoke(app, ["check", str(mmar), "--set",
                                 "MMAR_EVAL_OUTPUT_PATH=config/config_train.json/out"])
    assert result.exit_code == 1
    assert ("--set: MMAR_EVAL_OUTPUT_PATH: config/config_train.json/out lies under "
            "config/config_train.json, which is a file, not a folder: validate and infer write "
            "their results there (set MMAR_EVAL_OUTPUT_PATH to a folder)"
            ) in problem_lines(result.output)


def test_a_default_folder_that_is_a_file(mmar: Path) -> None:
    env = mmar / "config" / "environment.json"
    env.write_text(json.dumps({k: v for k, v in json.loads(env.read_text()).items()
                               if k != "MMAR_EVAL_OUTPUT_PATH"}))
    (mmar / "eval").write_text("not a folder")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert any(line.startswith("eval is a file, not a folder: validate and infer")
               for line in problem_lines(result.output)), result.output


def test_folders_not_made_yet_are_fine(mmar: Path) -> None:
    _set_env(mmar, MMAR_CKPT_DIR="runs/ckpts", MMAR_EVAL_OUTPUT_PATH="runs/eval")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output


def test_a_folder_where_a_verb_writes_a_file_is_found_before_training(mmar: Path) -> None:
    # train ran every epoch, then stopped at saving model_final.ckpt
    (mmar / "models" / "model_final.ckpt.index").mkdir(parents=True)
    (mmar / "eval" / "metrics.json").mkdir(parents=True)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    lines = problem_lines(result.output)
    assert ("models/model_final.ckpt.index: is a folder, but train, finetune and export write "
            "a file of that name there (move it away)") in lines
    assert ("eval/metrics.json: is a folder, but validate writes a file of that name there "
            "(move it away)") in lines
    # the real CLI in its own process: train configures logging from the MMAR's log.config,
    # which would bind this process's handlers to CliRunner's short-lived stderr
    import subprocess
    import sys

    refused = subprocess.run([sys.executable, "-m", "mmarctl", "train", str(mmar), "--epochs",
                              "1"], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1, refused.stderr
    assert "models/model_final.ckpt.index: is a folder" in refused.stderr
