"""A stopped run's resume state: saved whole, from the last finished epoch, with its seed."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.errors import RuntimeFailure, UsageError  # noqa: E402
from mmarctl.runtime import checkpoint  # noqa: E402
from mmarctl.runtime.plan import TrainingPlan, TrainOptions  # noqa: E402
from mmarctl.runtime.training import contract  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402


def build(root, **options):
    options.setdefault("progress", False)
    return TrainingPlan.build(Workspace(root), TrainOptions(**options))


def weights(model):
    return [v.numpy() for v in model.weights]


class StopAt(contract.Callback):
    """Ctrl-C in epoch ``epoch`` (0-based): after its first step, or at its validation."""

    def __init__(self, epoch, where="step"):
        self.epoch, self.where = epoch, where

    def on_step_end(self, state, logs):
        if self.where == "step" and state.epoch == self.epoch:
            raise KeyboardInterrupt

    def on_validation_end(self, state, metrics):
        if self.where == "validation" and state.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["step", "validation"])
def test_a_seeded_run_stopped_mid_epoch_and_resumed_equals_one_never_stopped(tmp_path, where):
    """The resume state holds the weights and moments of the last finished epoch: the
    resumed run redoes the cut epoch once, not on top of its first pass's steps."""
    config = train_config(epochs=3)
    whole = build(make_mmar(tmp_path / "whole", config=config), seed=4)
    whole.run()

    root = make_mmar(tmp_path / "cut", config=config)
    first = build(root, seed=4)
    first.handlers = [StopAt(1, where)]
    with pytest.raises(KeyboardInterrupt):
        first.run()
    resumed = build(root, resume=True)  # the seed comes from run.json
    assert resumed.seed == 4
    resumed.run()
    for w1, w2 in zip(weights(whole.model), weights(resumed.model)):
        np.testing.assert_array_equal(w1, w2)


class SignalWhileSaving(contract.Callback):
    """Put first: sends this process SIGINT while the interrupt's saves run (a second
    Ctrl-C, pressed because the run "did not stop")."""

    def on_step_end(self, state, logs):
        if state.epoch == 1:
            raise KeyboardInterrupt

    def on_interrupt(self, state):
        os.kill(os.getpid(), signal.SIGINT)


def test_a_second_ctrl_c_while_the_resume_state_is_saved_waits_for_it(tmp_path, capfd):
    from mmarctl.run_records import SUMMARY

    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=2)
    own = plan.callbacks
    plan.callbacks = lambda: [SignalWhileSaving(), *own()]
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    models = root / "models"
    assert checkpoint.exists(models / "resume" / "model.ckpt")
    assert json.loads((models / "resume" / "run.json").read_text())["finished_epochs"] == 1
    assert json.loads((models / SUMMARY).read_text())["status"] == "interrupted"
    assert "still saving the resumable state" in capfd.readouterr().err
    assert build(root, resume=True).state.start_epoch == 1


def test_a_resume_state_missing_a_part_is_refused_naming_it(tmp_path):
    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=2)
    plan.handlers = [StopAt(1)]
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    resume = root / "models" / "resume"
    run_json = (resume / "run.json").read_text()
    (resume / "run.json").unlink()
    with pytest.raises(RuntimeFailure, match="run.json is missing"):
        build(root, resume=True)
    (resume / "run.json").write_text(run_json)
    for path in checkpoint.checkpoint_files(resume / "model.ckpt"):
        path.unlink()
    with pytest.raises(RuntimeFailure, match="holds run.json but no checkpoint"):
        build(root, resume=True)


def test_resume_keeps_the_stopped_runs_seed_and_refuses_another(tmp_path):
    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=3)
    plan.handlers = [StopAt(1)]
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    assert json.loads((root / "models" / "resume" / "run.json").read_text())["seed"] == 3
    assert build(root, resume=True, seed=3).seed == 3
    with pytest.raises(UsageError, match="trained with seed 3; this command gives --seed 9"):
        build(root, resume=True, seed=9)


def test_a_finetune_in_place_keeps_the_checkpoint_it_started_from(tmp_path, caplog):
    """finetune's default start is models/model.ckpt, which its own best replaces: the
    starting model is kept in previous_runs/ (hard-linked), and the log says where."""
    root = make_mmar(tmp_path / "m", config=train_config(epochs=1))
    build(root, seed=3).run()
    models = root / "models"
    before = checkpoint.index_digest(str(models / "model.ckpt"))
    tuned = build(root, seed=4, finetune_from=str(models / "model.ckpt"),
                  overrides={"learning_rate": 0.5})
    with caplog.at_level("INFO", logger="mmarctl.train"):
        tuned.run()
    kept = list((models / "previous_runs").glob("*/model.ckpt.index"))
    assert len(kept) == 1
    assert checkpoint.index_digest(str(kept[0])[: -len(".index")]) == before
    assert checkpoint.index_digest(str(models / "model.ckpt")) != before
    assert any("kept as" in r.getMessage() and "previous_runs" in r.getMessage()
               for r in caplog.records)
    # A finetune from elsewhere keeps nothing: it writes nothing over its start.
    other = make_mmar(tmp_path / "o", config=train_config(epochs=1))
    build(other, seed=4, finetune_from=str(kept[0])[: -len(".index")]).run()
    assert not (other / "models" / "previous_runs").exists()


def test_the_summary_records_the_seed(tmp_path):
    """`compare` can tell two runs of other seeds apart (the seed is no --set value)."""
    from mmarctl.run_records import SUMMARY

    root = make_mmar(tmp_path / "m", config=train_config(epochs=1))
    build(root, seed=7).run()
    assert json.loads((root / "models" / SUMMARY).read_text())["seed"] == 7


def test_a_stopped_finetune_resumed_stays_a_finetune(tmp_path):
    from mmarctl.run_records import HISTORY, SUMMARY

    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    build(root, seed=1, overrides={"epochs": 1}).run()
    models = root / "models"
    tuned = build(root, seed=2, finetune_from=str(models / "model.ckpt"))
    tuned.handlers = [StopAt(1)]
    with pytest.raises(KeyboardInterrupt):
        tuned.run()
    build(root, resume=True).run()
    lines = [json.loads(line) for line in (models / HISTORY).read_text().splitlines()]
    assert [(line["epoch"], line["phase"]) for line in lines] == [
        (1, "train"), (1, "finetune"), (2, "finetune"), (3, "finetune")]
    summary = json.loads((models / SUMMARY).read_text())
    assert summary["phase"] == "finetune" and "base_settings" in summary


class SigintAt(contract.Callback):
    def on_step_end(self, state, logs):
        if state.epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_sigint_stops_a_run_started_with_sigint_ignored(tmp_path):
    """A background job of a script starts with SIGINT ignored; `kill -INT` stops it with
    a resume state all the same (it already did when it landed in an epoch's bookkeeping)."""
    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=2)
    plan.handlers = [SigintAt()]
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt):
            plan.run()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # put back
    finally:
        signal.signal(signal.SIGINT, before)
    assert checkpoint.read_state(root / "models" / "resume" / "model.ckpt")["epoch"] == 0
