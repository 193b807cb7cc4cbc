"""Option values with a fixed set (or form) are checked as the command line is read.

A typo in ``--launcher`` outside an MMAR said "not an MMAR" (exit 1), where ``--model`` and
``--epochs`` already gave the usage error (exit 2); shell completion offers the same sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args, line", [
    (["train", "--launcher", "foo"], "error: --launcher must be gloo or mpirun (got foo)"),
    (["finetune", "--launcher", "foo"], "error: --launcher must be gloo or mpirun (got foo)"),
    (["train", "--tracking", "foo"], "error: --tracking must be mlflow or none (got foo)"),
    (["validate", "--tracking", "foo"], "error: --tracking must be mlflow or none (got foo)"),
    (["train", "--hosts", "bad"], "error: --hosts must be HOST:SLOTS entries with SLOTS >= 1, "
                                  "e.g. node1:4,node2:4 (got bad)"),
    (["export", "-f", "zip"], "error: unknown export format 'zip' (choose from fzn, "
                              "savedmodel, onnx, triton, trt or all)"),
])
def test_a_bad_value_outside_an_mmar_is_a_usage_error(tmp_path, monkeypatch, args, line):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MMAR_ROOT", raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(line), result.output


@pytest.mark.parametrize("words, cword, expected", [
    ("mmarctl train --launcher ", 3, ["gloo", "mpirun"]),
    ("mmarctl train --tracking ", 3, ["mlflow", "none"]),
    ("mmarctl schema c", 2, ["config_train", "config_validation"]),
    ("mmarctl validate --model ", 3, ["ckpt", "fzn", "onnx"]),
    ("mmarctl infer -m f", 3, ["fzn"]),
    ("mmarctl export --format t", 3, ["triton", "trt"]),
])
def test_choice_values_complete(words, cword, expected):
    script = Path(sys.executable).parent / "mmarctl"  # the name completion is keyed on
    if not script.exists():
        pytest.skip("no mmarctl console script beside this Python")
    done = subprocess.run([str(script)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "_MMARCTL_COMPLETE": "complete_bash",
                                            "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert done.stdout.split() == expected, (done.stdout, done.stderr)


def test_clone_source_completes_scaffolds_and_folders(tmp_path, monkeypatch):
    from mmarctl.commands.clone import complete_source

    (tmp_path / "spleen-old").mkdir()
    (tmp_path / "notes.txt").write_text("a file is no MMAR")
    (tmp_path / ".hidden").mkdir()
    monkeypatch.chdir(tmp_path)
    assert complete_source("sp") == ["spleen", "spleen-old/"]
    assert complete_source("") == ["classification", "spleen", "spleen-old/"]
    assert complete_source(".h") == [".hidden/"]
    assert complete_source(f"{tmp_path}/sp") == [f"{tmp_path}/spleen-old/"]
    assert complete_source("missing/x") == []


def test_clone_source_completes_in_the_shell(tmp_path):
    script = Path(sys.executable).parent / "mmarctl"
    if not script.exists():
        pytest.skip("no mmarctl console script beside this Python")
    (tmp_path / "class-exp").mkdir()
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "_MMARCTL_COMPLETE": "complete_bash",
                                             "COMP_WORDS": "mmarctl clone cl", "COMP_CWORD": "2"})
    assert done.stdout.split() == ["classification", "class-exp/"], (done.stdout, done.stderr)
