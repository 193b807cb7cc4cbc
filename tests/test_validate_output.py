"""`mmarctl validate --output/-o DIR`, as infer has: the metrics and reports of one run go
to DIR (relative to the current folder), so two datalist keys can be validated side by side."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.errors import WorkspaceError

runner = CliRunner()


def test_validate_passes_output_to_the_evaluation(tiny_mmar: Path, tmp_path, monkeypatch):
    import mmarctl.runtime.evaluation as evaluation

    seen = {}

    def fake_evaluate(workspace, options, mode):
        seen.update(output=options.output, mode=mode)
        raise WorkspaceError("stopped here by the test")

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    monkeypatch.chdir(tmp_path)
    for flag in ("--output", "-o"):
        result = runner.invoke(app, ["validate", str(tiny_mmar), flag, "eval-test"])
        assert "stopped here by the test" in result.output, result.output
        assert seen == {"output": "eval-test", "mode": "validate"}


@pytest.mark.parametrize("verb", ["validate", "infer"])
def test_output_onto_a_file_is_refused_in_one_line(verb, tiny_mmar: Path, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = runner.invoke(app, [verb, str(tiny_mmar), "-o", str(afile)])
    assert result.exit_code == 2
    assert f"-o {afile} is a file; pass a folder" in result.output
