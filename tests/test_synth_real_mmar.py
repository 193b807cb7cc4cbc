"""`data synth MMAR` on an MMAR as Clara shipped it (DATASET_JSON not under DATA_ROOT, as in
every real one): one line without the key said twice, giving the commands that work, which
then do."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

runner = CliRunner()


def test_refusal_gives_the_commands_that_work(tmp_path: Path) -> None:
    mmar = tmp_path / "sp"
    assert runner.invoke(app, ["clone", "spleen", str(mmar)]).exit_code == 0
    env_path = mmar / "config" / "environment.json"
    env = json.loads(env_path.read_text())
    env.update(DATA_ROOT="/workspace/data/Task09_Spleen", DATASET_JSON="config/dataset_0.json")
    env_path.write_text(json.dumps(env))

    refused = runner.invoke(app, ["data", "synth", str(mmar), "--cases", "4", "--size", "24",
                                  "--seed", "3"])
    assert refused.exit_code == 1
    line = " ".join(refused.output.split())  # the console may wrap it
    assert "DATASET_JSON: DATASET_JSON" not in line
    assert f"environment.json: DATASET_JSON: names {mmar}/config/dataset_0.json" in line
    synth, train = re.findall(r"`(mmarctl [^`]+)`", line)
    assert synth == f"mmarctl data synth {mmar}/data --cases 4 --size 24 --seed 3"
    assert train == (f"mmarctl train {mmar} --set DATA_ROOT=data "
                     "DATASET_JSON=data/dataset_0.json")

    # Following it: the data is written, and the MMAR checks with those values.
    assert runner.invoke(app, shlex.split(synth)[1:]).exit_code == 0
    check = ["check", *shlex.split(train)[2:]]
    done = runner.invoke(app, check)
    assert done.exit_code == 0, done.output
