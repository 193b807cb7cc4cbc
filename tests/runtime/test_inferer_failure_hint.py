"""A network failure in validate/infer's inferer is blamed on the spatial size only when the
size is not a multiple of the network's size divisor; any other failure says what failed."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.errors import DataError, RuntimeFailure  # noqa: E402
from mmarctl.runtime.inferers.scan_window import TFScanWindowInferer  # noqa: E402
from mmarctl.runtime.inferers.simple import TFSimpleInferer  # noqa: E402


def failing(error, divisor=None):
    def predict(batch):
        raise error

    if divisor is not None:
        predict.size_divisor = divisor
    return predict


def _unimplemented():
    return tf.errors.UnimplementedError(None, None, "Graph execution error:\n\nDetected at "
                                        "node Unet_1/up1_1/BroadcastTo defined at (most recent "
                                        "call last):\nbroadcast not supported on this device")


def test_a_failure_on_sizes_that_fit_the_divisor_says_what_failed():
    inferer = TFScanWindowInferer(roi_size=[16, 16, 16])
    with pytest.raises(RuntimeFailure) as info:
        inferer(failing(_unimplemented(), divisor=16), np.zeros((1, 16, 16, 16, 1), np.float32))
    said = str(info.value) + info.value.hint
    assert "UnimplementedError: broadcast not supported on this device" in str(info.value)
    assert "must be multiples" not in said and "skip_bad_cases" not in said
    assert "multiples of the network's size divisor (16)" in info.value.hint


def test_out_of_memory_asks_for_a_smaller_window():
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
    with pytest.raises(RuntimeFailure) as info:
        TFScanWindowInferer(roi_size=[16, 16, 16])(failing(oom, divisor=16),
                                                   np.zeros((1, 16, 16, 16, 1), np.float32))
    assert "roi_size or batch_size" in info.value.hint
    assert "must be multiples" not in info.value.hint


def test_a_size_off_the_divisor_is_still_blamed_on_the_size_naming_it():
    with pytest.raises(DataError) as info:
        TFSimpleInferer()(failing(_unimplemented(), divisor=16),
                          np.zeros((1, 24, 16, 16, 1), np.float32))
    assert "multiples of 16, the network's size divisor" in info.value.hint


def test_without_a_known_divisor_only_a_shape_mismatch_is_blamed_on_the_size():
    image = np.zeros((1, 16, 16, 16, 1), np.float32)
    with pytest.raises(RuntimeFailure):
        TFSimpleInferer()(failing(_unimplemented()), image)
    mismatch = tf.errors.InvalidArgumentError(
        None, None, "ConcatOp : Dimensions of inputs should match: shape[0] = [1,3,4,4,8] "
                    "vs. shape[1] = [1,2,4,4,8]")
    with pytest.raises(DataError) as info:
        TFSimpleInferer()(failing(mismatch), image)
    assert "size divisor" in info.value.hint


def test_validate_knows_the_networks_divisor_and_names_the_case(tmp_path, monkeypatch):
    """validate with the training config's network: a TensorFlow fault on a fitting size is
    a RuntimeFailure naming the case (not a skippable bad case blamed on roi_size)."""
    import json

    from standin_mmar import make_mmar, train_config, validation_config

    from mmarctl.runtime.evaluation import EvalOptions, evaluate
    from mmarctl.runtime.plan import TrainingPlan, TrainOptions
    from mmarctl.runtime.training import tf_engine
    from mmarctl.workspace import Workspace

    config = train_config(epochs=1)
    config["train"]["model"] = {"name": "Unet", "args": {"num_classes": 2, "nf_enc": "4,4",
                                                         "nf_dec": "4,4,4"}}
    root = make_mmar(tmp_path / "m", config=config)
    validation = {**validation_config(), "inferer": {"name": "TFSimpleInferer"}}
    (root / "config" / "config_validation.json").write_text(json.dumps(validation))
    TrainingPlan.build(Workspace(root), TrainOptions(seed=0, progress=False)).run()
    seen = {}

    def make_predict(model, jit=False):
        def predict(batch):
            seen["divisor"] = getattr(predict, "size_divisor", None)
            raise _unimplemented()
        return predict

    monkeypatch.setattr(tf_engine, "make_predict", make_predict)
    with pytest.raises(RuntimeFailure, match=r"^case \S+: \w+Inferer: the network failed"):
        evaluate(Workspace(root), EvalOptions(progress=False), mode="validate")
    assert seen["divisor"] == 4  # two levels


def test_a_classification_networks_failure_is_said_as_the_inferers_say_theirs():
    """run_inferer called a classification network directly: its failure was TensorFlow's
    traceback, not mmarctl's line naming what failed."""
    from mmarctl.runtime.training.tf_engine import run_inferer

    with pytest.raises(RuntimeFailure) as info:
        run_inferer(TFSimpleInferer(), failing(_unimplemented()),
                    np.zeros((1, 16, 16, 1), np.float32), classification=True)
    assert "network: the network failed on input of shape (1, 16, 16, 1)" in str(info.value)
    scores = run_inferer(TFSimpleInferer(), lambda batch: np.full((1, 3), 0.5),
                         np.zeros((1, 16, 16, 1), np.float32), classification=True)
    assert scores.shape == (1, 3) and scores.dtype == np.float32
