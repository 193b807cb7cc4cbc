"""validate and infer on an MMAR with no checkpoint: the advice names what they read."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mmarctl.check.preflight import evaluation_problems
from mmarctl.cli import app
from mmarctl.workspace import Workspace


def test_no_checkpoint_advice_names_mmar_ckpt_dir(tmp_path: Path) -> None:
    # MMAR_CKPT is finetune's: following advice that named it changed nothing.
    root = tmp_path / "nm"
    assert CliRunner().invoke(app, ["clone", "spleen", str(root)]).exit_code == 0
    problems = evaluation_problems(Workspace(root), {}, config="config_validation.json",
                                   train_config="config_train.json", datalist=False)
    [missing] = [p for p in problems if p.file == "models/model.ckpt"]
    assert "--set MMAR_CKPT_DIR=FOLDER" in missing.message
    assert "MMAR_CKPT " not in missing.message
