"""A Ctrl-C that lands while TensorFlow traces a graph comes back disguised (CPython's
SystemError "... returned a result with an exception set", wrapped by autograph in a
StagingError); train, validate and infer still treat it as the interrupt it is."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.errors import DataError  # noqa: E402
from mmarctl.run_records import SUMMARY  # noqa: E402
from mmarctl.runtime import checkpoint  # noqa: E402
from mmarctl.runtime.inferers.base import run_predict  # noqa: E402
from mmarctl.runtime.interrupts import disguised_interrupt  # noqa: E402
from mmarctl.runtime.plan import TrainingPlan, TrainOptions  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402


def ctrl_c_in_c_code():
    """What CPython raises when a signal handler's KeyboardInterrupt escapes a C call back
    into Python (seen in the step's tape.gradient: an enum's __getattribute__)."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as interrupt:
        raise SystemError("<method-wrapper '__getattribute__' of EnumType object> returned "
                          "a result with an exception set") from interrupt


def test_a_ctrl_c_disguised_by_tracing_is_recognised_and_a_later_failure_is_not():
    @tf.function
    def traced(x):
        ctrl_c_in_c_code()
        return x

    with pytest.raises(Exception) as staged:
        traced(tf.constant(1.0))
    assert not isinstance(staged.value, SystemError)  # autograph wrapped it
    assert disguised_interrupt(staged.value)
    try:  # mmarctl's own wrapping of it, as the inferer did
        raise DataError("the network failed") from staged.value
    except DataError as wrapped:
        assert disguised_interrupt(wrapped)
    # A full disk while a plain Ctrl-C's resume state is saved is the failure to show.
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise OSError(28, "No space left on device")
    except OSError as full:
        assert not disguised_interrupt(full)
    assert not disguised_interrupt(SystemError("a bug")) and not disguised_interrupt(None)


def test_ctrl_c_while_the_first_step_is_traced_saves_a_resumable_state(tmp_path, monkeypatch):
    real_gradient = tf.GradientTape.gradient

    def gradient(self, *args, **kwargs):
        if tf.inside_function():
            ctrl_c_in_c_code()
        return real_gradient(self, *args, **kwargs)

    root = make_mmar(tmp_path / "m", config=train_config(epochs=2))
    plan = TrainingPlan.build(Workspace(root), TrainOptions(seed=2, progress=False))
    monkeypatch.setattr(tf.GradientTape, "gradient", gradient)
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    monkeypatch.undo()
    models = root / "models"
    assert checkpoint.exists(models / "resume" / "model.ckpt")
    assert json.loads((models / SUMMARY).read_text())["status"] == "interrupted"
    resumed = TrainingPlan.build(Workspace(root), TrainOptions(resume=True, progress=False))
    assert resumed.state.start_epoch == 0
    resumed.run()


def test_ctrl_c_while_the_inferers_network_is_traced_is_no_bad_case():
    """Not a DataError (skip_bad_cases would skip it and go on with the next case)."""
    def predict(batch):
        ctrl_c_in_c_code()

    with pytest.raises(KeyboardInterrupt):
        run_predict(predict, np.zeros((1, 16, 16, 16, 1), np.float32), "TFSimpleInferer")
