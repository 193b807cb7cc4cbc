"""A Clara 4.x (PyTorch/MONAI) MMAR is refused by every verb in check's words, before any
work: clone copies nothing, commands writes no script, train takes no lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.workspace import CLARA4_MESSAGE

runner = CliRunner()


@pytest.fixture
def clara4_mmar(tmp_path: Path) -> Path:
    """The smallest MMAR that Clara 4 wrote: its version in environment.json, a PyTorch
    ``train.dataset/trainer`` config, and a hand-written script."""
    root = tmp_path / "pt"
    (root / "config").mkdir(parents=True)
    (root / "commands").mkdir()
    (root / "config" / "environment.json").write_text(json.dumps(
        {"CLARA_TRAIN_VERSION": "4.1.0", "MMAR_CKPT": "models/model.pt"}))
    (root / "config" / "config_train.json").write_text(json.dumps(
        {"train": {"dataset": {}, "trainer": {}}}))
    (root / "commands" / "train.sh").write_text("python3 -m medl.apps.train\n")
    return root


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("verb", ["train", "finetune", "validate", "infer", "export", "commands",
                                  "automl"])
def test_every_verb_refuses_it_in_checks_words(clara4_mmar: Path, verb: str):
    before = sorted(p.relative_to(clara4_mmar) for p in clara4_mmar.rglob("*"))
    line = _one_error_line(runner.invoke(app, [verb, str(clara4_mmar)]))
    assert line == f"error: {clara4_mmar}: {CLARA4_MESSAGE}"
    assert sorted(p.relative_to(clara4_mmar) for p in clara4_mmar.rglob("*")) == before
    assert (clara4_mmar / "commands" / "train.sh").read_text() == "python3 -m medl.apps.train\n"


def test_check_reports_the_same_message(clara4_mmar: Path):
    result = runner.invoke(app, ["check", str(clara4_mmar)])
    assert result.exit_code == 1
    assert CLARA4_MESSAGE in result.output


def test_clone_refuses_it_and_writes_nothing(clara4_mmar: Path, tmp_path: Path):
    dest = tmp_path / "copy"
    line = _one_error_line(runner.invoke(app, ["clone", str(clara4_mmar), str(dest)]))
    assert CLARA4_MESSAGE in line and str(clara4_mmar) in line
    assert not dest.exists()


def test_a_clara3_mmar_still_clones(tmp_path: Path):
    result = runner.invoke(app, ["clone", "spleen", str(tmp_path / "exp")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "exp" / "commands" / "train.sh").is_file()
