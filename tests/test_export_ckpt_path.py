"""`export --ckpt PATH`: a relative PATH is read from the current folder, then from the MMAR
(the docs' `--ckpt models/model_final.ckpt` run from outside the MMAR), and when it is in
neither the error names both places, not "pass --ckpt PATH"."""

from __future__ import annotations

from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.clone import clone
from mmarctl.commands.export import checkpoint_path

runner = CliRunner()


def test_relative_ckpt_from_cwd_then_mmar(tmp_path, monkeypatch):
    root = clone("spleen", tmp_path / "exp").root
    (root / "models" / "model_final.ckpt.index").parent.mkdir(exist_ok=True)
    (root / "models" / "model_final.ckpt.index").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert checkpoint_path("models/model_final.ckpt", root) == \
        str(root / "models" / "model_final.ckpt")
    assert checkpoint_path("exp/models/model_final.ckpt", root) == \
        str(tmp_path / "exp" / "models" / "model_final.ckpt")
    assert checkpoint_path(None, root) is None
    (tmp_path / "models").mkdir()  # the current folder's own models/ comes first
    (tmp_path / "models" / "model_final.ckpt.index").write_bytes(b"")
    assert checkpoint_path("models/model_final.ckpt", root) == \
        str(tmp_path / "models" / "model_final.ckpt")

    result = runner.invoke(app, ["export", str(root), "--ckpt", "models/gone.ckpt"])
    assert result.exit_code == 1
    assert (f"--ckpt models/gone.ckpt: no checkpoint at "
            f"{tmp_path}/models/gone.ckpt nor at {root}/models/gone.ckpt") in result.output
    assert "pass --ckpt" not in result.output
