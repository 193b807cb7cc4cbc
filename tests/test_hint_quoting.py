"""The commands mmarctl suggests run when pasted: an MMAR path with a space is quoted."""

from __future__ import annotations

from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.shell_words import shell_word

runner = CliRunner()


def test_shell_word():
    assert shell_word("plain/path") == "plain/path"
    assert shell_word("my exp") == "'my exp'"
    assert shell_word("-i2") == "./-i2"
    assert shell_word("trail/") == "trail"


def test_a_suggested_command_quotes_an_mmar_path_with_a_space(tmp_path):
    root = tmp_path / "my exp"
    assert runner.invoke(app, ["clone", "spleen", str(root)]).exit_code == 0
    assert runner.invoke(app, ["data", "synth", str(root), "--cases", "2",
                               "--size", "16"]).exit_code == 0
    result = runner.invoke(app, ["validate", str(root)])
    assert result.exit_code == 1
    assert f"mmarctl train '{root}'" in result.output, result.output
