"""An environment.json whose top level is not a JSON object: every verb that reads it says
so in the same one line as `mmarctl check` (file and JSON path ``$``), never a traceback."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402

runner = CliRunner()

VERBS = [["train", "--epochs", "1"], ["finetune", "--epochs", "1"], ["validate"], ["infer"],
         ["export"], ["compare"], ["data", "synth", "--cases", "2", "--size", "16"]]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_mmar(tmp_path_factory.mktemp("env") / "m")


@pytest.mark.parametrize("text, described", [("[1, 2]", "array"), ("null", "null"),
                                              ("5", "integer 5"), ('"models"', 'string "models"')])
@pytest.mark.parametrize("verb", VERBS, ids=lambda verb: " ".join(verb[:2]))
def test_each_verb_gives_checks_line(tmp_path: Path, template: Path, verb, text, described):
    root = tmp_path / "m"
    shutil.copytree(template, root)
    (root / "config" / "environment.json").write_text(text)
    line = f"config/environment.json: $: expected object, got {described}"

    checked = runner.invoke(app, ["check", str(root)])
    assert line in checked.output

    if verb[0] == "data":
        args = [*verb[:2], str(root), *verb[2:]]
    else:
        args = [verb[0], str(root), *verb[1:]]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"error: {line}"
    assert not (root / "models").exists() and not (root / "eval").exists()
