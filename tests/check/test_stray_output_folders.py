"""An MMAR copied out of Clara's container names output folders such as
/workspace/mmars/.../models: outside the MMAR, with no parent. check says so in one line
naming environment.json, the key and the fix, and the verbs refuse before creating that tree
at / (train wrote its checkpoints there and check said OK)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl.check.output_folders import require_output_folder
from mmarctl.check.preflight import evaluation_problems
from mmarctl.cli import app
from mmarctl.errors import ConfigError
from mmarctl.workspace import Workspace

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401 - fixtures

runner = CliRunner()


def _set_env(root: Path, **values: str) -> None:
    path = root / "config" / "environment.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **values}))


def test_check_names_a_container_path_and_the_fix(mmar: Path, tmp_path: Path) -> None:
    container = tmp_path / "workspace" / "mmars" / "covid19" / "models"
    _set_env(mmar, MMAR_CKPT_DIR=str(container))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    [line] = [l for l in problem_lines(result.output) if "MMAR_CKPT_DIR" in l]
    assert line.startswith(f"config/environment.json: MMAR_CKPT_DIR: {container} does not "
                           "exist, nor does its parent, and it is outside the MMAR")
    assert "--set MMAR_CKPT_DIR=models" in line
    assert not (tmp_path / "workspace").exists()


@pytest.mark.parametrize("where", ["parent exists", "inside the MMAR", "--set"])
def test_folders_a_verb_may_create(mmar: Path, tmp_path: Path, where: str) -> None:
    args = []
    if where == "parent exists":  # one new folder beside existing ones
        _set_env(mmar, MMAR_CKPT_DIR=str(tmp_path / "models"))
    elif where == "inside the MMAR":
        _set_env(mmar, MMAR_CKPT_DIR="runs/a/b/models")
    else:  # typed now: meant
        args = ["--set", f"MMAR_CKPT_DIR={tmp_path / 'new' / 'deep' / 'models'}"]
    result = runner.invoke(app, ["check", str(mmar), *args])
    assert result.exit_code == 0, result.output


def test_validate_preflight_refuses_a_container_eval_folder(mmar: Path, tmp_path: Path) -> None:
    # validate and infer take their lock (creating the folder) after this pre-flight.
    _set_env(mmar, MMAR_EVAL_OUTPUT_PATH=str(tmp_path / "data" / "training" / "eval"))
    problems = evaluation_problems(Workspace(mmar), {}, config="config_validation.json",
                                   train_config="config_train.json", datalist=False)
    assert problems[0].file == "config/environment.json"
    assert problems[0].json_path == "MMAR_EVAL_OUTPUT_PATH"
    assert "--set MMAR_EVAL_OUTPUT_PATH=eval" in problems[0].message


def test_require_output_folder_refuses_before_anything_is_made(mmar: Path,
                                                               tmp_path: Path) -> None:
    folder = tmp_path / "workspace" / "mmars" / "models"
    _set_env(mmar, MMAR_CKPT_DIR=str(folder))
    with pytest.raises(ConfigError) as refused:
        require_output_folder(Workspace(mmar), "MMAR_CKPT_DIR", folder)
    assert refused.value.file == "config/environment.json"
    assert refused.value.json_path == "MMAR_CKPT_DIR"
    assert not (tmp_path / "workspace").exists()
    # given with --set: created as typed
    require_output_folder(Workspace(mmar), "MMAR_CKPT_DIR", folder, {"MMAR_CKPT_DIR": "x"})


def test_train_refuses_a_container_checkpoint_folder_before_making_it(mmar: Path,
                                                                     tmp_path: Path) -> None:
    # train's lock made the whole tree, then its own checks saw an existing folder and ran
    _set_env(mmar, MMAR_CKPT_DIR=str(tmp_path / "workspace" / "mmars" / "models"))
    result = runner.invoke(app, ["train", str(mmar), "--epochs", "1"])
    assert result.exit_code == 1
    assert "config/environment.json: MMAR_CKPT_DIR:" in result.output
    assert not (tmp_path / "workspace").exists()


@pytest.mark.parametrize("verb", ["train", "finetune", "export"])
def test_verbs_name_the_other_training_configs_as_check_does(mmar: Path, verb: str) -> None:
    config = mmar / "config"
    (config / "config_train.json").rename(config / "trn_base.json")
    result = runner.invoke(app, [verb, str(mmar)])
    assert result.exit_code == 1
    assert ("config/config_train.json: file not found: train, finetune and export read it"
            in result.output)
    assert "this MMAR has trn_base.json: check and train one with --config-train" \
        in result.output
