"""The CLI's boundary: a Ctrl-C that came back disguised as another error (TensorFlow
tracing, see mmarctl.runtime.interrupts.disguised_interrupt) is `mmarctl: interrupted`,
exit 130, whatever wrapped it; an error raised after a plain Ctrl-C is still shown."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.errors import DataError

runner = CliRunner()


def _disguised():
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as interrupt:
        raise SystemError("<method-wrapper '__getattribute__' of EnumType object> returned "
                          "a result with an exception set") from interrupt


def _wrapped():
    try:
        _disguised()
    except SystemError as error:
        raise DataError("TFScanWindowInferer: the network failed") from error


@pytest.mark.parametrize("raising", [_disguised, _wrapped])
def test_a_disguised_ctrl_c_is_interrupted_and_130(tmp_path, monkeypatch, raising):
    monkeypatch.setattr("mmarctl.clone.init", lambda *args, **kwargs: raising())
    result = runner.invoke(app, ["init", str(tmp_path / "w")])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Traceback" not in result.output
    assert "network failed" not in result.output
