"""--tracking / --tracking-uri through the command line: usage errors, and the flags surviving
the relaunch under horovodrun."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402

runner = CliRunner()


def test_tracking_flags_reach_every_horovod_worker(tmp_path, monkeypatch):
    from mmarctl import launcher

    calls = []
    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: calls.append(argv) or 0)
    root = make_mmar(tmp_path / "m")
    result = runner.invoke(app, ["train", str(root), "--gpus", "2", "--cpu", "--tracking",
                                 "mlflow", "--tracking-uri", "http://127.0.0.1:5000"])
    assert result.exit_code == 0, result.output
    argv = calls[0]
    assert argv[argv.index("--tracking") + 1] == "mlflow"
    assert argv[argv.index("--tracking-uri") + 1] == "http://127.0.0.1:5000"


def test_bad_tracking_values_are_usage_errors(tmp_path):
    root = make_mmar(tmp_path / "m")
    for verb in ("train", "finetune", "validate"):
        result = runner.invoke(app, [verb, str(root), "--tracking", "wandb"])
        assert result.exit_code == 2, result.output
        assert "--tracking must be mlflow or none (got wandb)" in result.output
        result = runner.invoke(app, [verb, str(root), "--tracking-uri", "http://:80"])
        assert result.exit_code == 2 and "does not parse: no host" in result.output
    assert not (root / "models").exists()
