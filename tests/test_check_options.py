"""`mmarctl check`'s option spellings: `-c` as on train (Clara's -c), `--config` as on
validate, each giving the same check as the long name."""

from __future__ import annotations

from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.clone import clone

runner = CliRunner()


def test_short_and_validate_spellings_check_the_same_configs(tmp_path):
    root = clone("spleen", tmp_path / "exp").root
    (root / "config" / "config_train.json").rename(root / "config" / "trn_base.json")
    pairs = [(["-c", "trn_base.json"], ["--config-train", "trn_base.json"]),
             (["--config", "config_validation.json"],
              ["--config-validation", "config_validation.json"])]
    for short, long in pairs:
        got = runner.invoke(app, ["check", str(root), *short])
        want = runner.invoke(app, ["check", str(root), *long])
        assert got.exit_code == want.exit_code != 2, got.output
        assert got.output == want.output
