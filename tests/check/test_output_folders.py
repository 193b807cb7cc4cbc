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
