"""TensorBoard events of a stopped run: the unfinished epoch's steps are not written, so a
``--resume`` (which redoes that epoch) never writes the same step twice."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.training.contract import TrainState  # noqa: E402
from mmarctl.runtime.training.summaries import TensorBoardSummaries  # noqa: E402


def steps_of(log_dir, tag):
    steps = []
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return steps


def run_steps(writer, state, epoch, steps, finish=True):
    state.epoch = epoch
    for _ in range(steps):
        state.step += 1
        writer.on_step_end(state, {"loss": 0.5, "learning_rate": 0.01})
    if finish:
        writer.on_epoch_end(state, {"loss": 0.5})


@pytest.mark.parametrize("stop", ["interrupt", "peer failure"])
def test_a_stopped_epochs_steps_are_left_for_the_resumed_run(tmp_path, stop):
    state = TrainState(epochs=3)
    first = TensorBoardSummaries(tmp_path)
    run_steps(first, state, 0, 2)
    run_steps(first, state, 1, 1, finish=False)  # stopped inside epoch 2
    if stop == "interrupt":
        first.on_interrupt(state)
    else:
        first.on_failure(state, RuntimeError("Gloo connection reset by peer"))
    first.close()
    assert steps_of(tmp_path, "train/loss") == [1, 2]

    resumed = TensorBoardSummaries(tmp_path)  # --resume: back to the end of epoch 1
    state.step = 2
    run_steps(resumed, state, 1, 2)
    resumed.close()
    assert steps_of(tmp_path, "train/loss") == [1, 2, 3, 4]


def test_a_failing_runs_last_steps_are_kept_to_look_at(tmp_path):
    state = TrainState(epochs=3)
    writer = TensorBoardSummaries(tmp_path)
    run_steps(writer, state, 0, 2)
    run_steps(writer, state, 1, 1, finish=False)
    writer.on_failure(state, RuntimeError("the loss became nan at epoch 2, step 2"))
    writer.close()
    assert steps_of(tmp_path, "train/loss") == [1, 2, 3]
