"""An MMAR not trained yet: check says what that means, and validate, infer, --model fzn
and train --resume refuse in one line before TensorFlow starts (they took 4 to 8 s of its
start-up to say so, each in its own words)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.check.broken_mmars import (NO_TENSORFLOW, mmar, run_verb, runner,  # noqa: F401
                                      spleen, without_tensorflow)

from mmarctl.cli import app


def test_check_notes_that_no_model_is_there_yet(mmar: Path) -> None:
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    assert ("models: note: no model in models/ yet: validate, infer, export and finetune "
            "need one (train first)") in result.output


@pytest.mark.parametrize("verb, args, line", [
    ("validate", [], "error: models/model.ckpt: no model checkpoint here: validate and infer "
                     "read it (train first: `mmarctl train "),
    ("infer", [], "error: models/model.ckpt: no model checkpoint here"),
    ("validate", ["--model", "fzn"], "error: --model fzn: no models/model.fzn.pb (run "
                                     "`mmarctl export "),
    ("train", ["--resume"], "error: nothing to resume: no models/resume/model.ckpt"),
])
def test_verbs_refuse_before_tensorflow(mmar: Path, tmp_path: Path, verb, args, line) -> None:
    done = run_verb(verb, mmar, *args, env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1, done.stderr
    assert line in done.stderr, done.stderr
    assert NO_TENSORFLOW not in done.stderr + done.stdout
