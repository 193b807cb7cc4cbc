"""Dice's skip_background with a one-channel network: check reports it at the loss's
argument (and train refuses before TensorFlow); the trainer, when reached anyway, prints the
loss's one-line ConfigError, not autograph's StagingError traceback."""

from __future__ import annotations

from tests.check.broken_mmars import (NO_TENSORFLOW, edit_json, problem_lines, run_verb,
                                      runner, without_tensorflow)
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.cli import app

LINE = ("config/config_train.json: train.loss.args.skip_background: Dice: skip_background "
        "must be false for a single-channel prediction (train.model.args.num_classes is 1: "
        "there is no background channel to leave out); Received: skip_background=True")


def test_skip_background_with_one_class(mmar, tmp_path):
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(num_classes=1))
    assert problem_lines(runner.invoke(app, ["check", str(mmar)]).output) == [LINE]
    done = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and LINE in done.stderr and NO_TENSORFLOW not in done.stderr


def test_two_classes_or_no_skip_is_fine(mmar):
    edit_json(mmar / "config" / "config_train.json",
              lambda c: (c["train"]["model"]["args"].update(num_classes=1),
                         c["train"]["loss"]["args"].update(skip_background=False)))
    assert problem_lines(runner.invoke(app, ["check", str(mmar)]).output) == []


#: Run in its own process: TensorFlow imported in the test process would keep logging to
#: the captured stderr of later CliRunner tests after it was closed.
UNWRAP = """
import tensorflow as tf
from mmarctl.errors import ConfigError
from mmarctl.runtime.losses.dice import Dice
from mmarctl.runtime.training.tf_engine import carried_error

loss = Dice(skip_background=True)


@tf.function
def step(t, p):  # a converted function, as the trainer's step: autograph wraps the error
    return loss(t, p)


try:
    step(tf.zeros((1, 4, 4, 1)), tf.zeros((1, 4, 4, 1)))
except Exception as error:  # autograph's StagingError
    carried = carried_error(error)
    assert type(error) is not ConfigError, type(error)
else:
    raise AssertionError("Dice accepted skip_background with one channel")
assert isinstance(carried, ConfigError) and "skip_background" in str(carried), carried
assert carried_error(ValueError("unrelated")) is None
print("unwrapped")
"""


def test_the_trainer_unwraps_the_loss_error_from_autograph(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unwrap.py"  # a file: autograph converts only code it can read
    script.write_text(UNWRAP)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "unwrapped" in done.stdout, done.stderr[-2000:]
