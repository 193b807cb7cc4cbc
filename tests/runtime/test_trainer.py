"""The training loop: checkpoints, TensorBoard, determinism, NaN, interrupt and resume."""

from __future__ import annotations

import json
import math
import os
import re
import signal

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.errors import RuntimeFailure  # noqa: E402
from mmarctl.runtime import checkpoint  # noqa: E402
from mmarctl.runtime.plan import TrainingPlan, TrainOptions  # noqa: E402
from mmarctl.runtime.training import contract  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402


def build(root, **options):
    options.setdefault("progress", False)
    return TrainingPlan.build(Workspace(root), TrainOptions(**options))


def weights(model):
    return [v.numpy() for v in model.weights]


def test_training_writes_best_final_and_events(tmp_path):
    root = make_mmar(tmp_path / "m")
    plan = build(root, seed=1)
    state = plan.run()
    names = {p.name for p in (root / "models").iterdir()}
    assert {"model.ckpt.index", "model_final.ckpt.index"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert not (root / "models" / "resume").exists()
    assert state.key_metric == "mean_dice" and math.isfinite(state.best_metric)
    assert [h["epoch"] for h in state.history] == [1, 2]
    saved = checkpoint.read_state(root / "models" / "model.ckpt")
    assert saved["epoch"] == state.best_epoch and saved["best_metric"] == pytest.approx(
        state.best_metric)


def test_tensorboard_events_hold_loss_lr_and_metrics(tmp_path):
    import tensorflow as tf

    root = make_mmar(tmp_path / "m")
    build(root, seed=1).run()
    event_file = next((root / "models").glob("events.out.tfevents*"))
    tags = set()
    for record in tf.data.TFRecordDataset(str(event_file)):
        event = tf.compat.v1.Event.FromString(record.numpy())
        tags |= {v.tag for v in event.summary.value}
    assert {"train/loss", "train/learning_rate", "epoch/loss", "validation/mean_dice"} <= tags


def test_same_seed_gives_identical_weights_and_losses(tmp_path):
    runs = []
    for name in ("a", "b"):
        root = make_mmar(tmp_path / name)
        plan = build(root, seed=7)
        state = plan.run()
        runs.append(([h["loss"] for h in state.history], weights(plan.model)))
    assert runs[0][0] == runs[1][0]
    for w1, w2 in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(w1, w2)


def test_determinism_global_seeds_the_run(tmp_path):
    config = train_config(epochs=1, determinism={"python_seed": "20191015", "random_seed": 5})
    plan = build(make_mmar(tmp_path / "m", config=config))
    assert plan.seed == 5


def test_bad_determinism_is_config_error(tmp_path):
    from mmarctl.errors import ConfigError

    config = train_config(epochs=1, determinism={"random_seed": "abc"})
    with pytest.raises(ConfigError, match="random_seed must be an integer"):
        build(make_mmar(tmp_path / "m", config=config))


def test_label_beyond_num_classes_stops_before_training(tmp_path):
    from mmarctl.errors import DataError

    root = make_mmar(tmp_path / "m", bad_label=True, n_train=2)
    with pytest.raises(DataError, match=r"label values 0..3 are outside 0..1"):
        build(root, seed=0).run()
    assert not (root / "models").exists()


def test_image_label_mismatch_names_the_case(tmp_path):
    from mmarctl.errors import DataError

    root = make_mmar(tmp_path / "m", mismatch=True, n_train=1)
    with pytest.raises(DataError, match=r"training_0_img.npy: image shape .* and label shape"):
        build(root)
    assert not (root / "models").exists()


def test_nan_loss_is_one_line_failure_and_models_untouched(tmp_path):
    config = train_config()
    config["train"]["loss"] = {"path": "standins.SoftDice", "args": {"nan": True}}
    root = make_mmar(tmp_path / "m", config=config)
    with pytest.raises(RuntimeFailure, match="the loss became nan at epoch 1, step 1"):
        build(root).run()
    assert not (root / "models").exists()


class PoisonWeights(contract.Callback):
    """Sets a weight to NaN after the last step of epoch ``epoch``: the loss stays finite."""

    def __init__(self, model, epoch):
        self.model, self.epoch, self.steps = model, epoch, 0

    def on_step_end(self, state, logs):
        # Only after the epoch's last step: poisoned earlier, the next step's loss is NaN on
        # CPUs whose kernels carry the NaN through (an AVX2-only AMD EPYC's do).
        self.steps += state.epoch == self.epoch
        if state.epoch == self.epoch and self.steps == state.steps_per_epoch:
            weight = self.model.trainable_weights[0]
            weight.assign(weight * float("nan"))


def test_nan_weights_behind_a_finite_loss_stop_before_anything_is_saved(tmp_path):
    root = make_mmar(tmp_path / "m", config=train_config(epochs=2))
    plan = build(root, seed=0)
    plan.handlers = [PoisonWeights(plan.model, 1)]
    with pytest.raises(RuntimeFailure, match=r"the weights became NaN or infinite in epoch 2 "
                                             r"while the loss stayed finite \(.*kernel"):
        plan.run()
    import numpy as np

    from mmarctl.runtime.checkpoint import restore_model

    restored = build(root, seed=0).model  # epoch 1's checkpoint, untouched
    restore_model(root / "models" / "model.ckpt", restored)
    assert all(np.isfinite(w.numpy()).all() for w in restored.weights)


def test_the_summary_records_the_runs_set_values(tmp_path):
    """What a run was given beyond its config files (--set, --epochs, --lr), for compare."""
    from mmarctl.run_records import SUMMARY

    root = make_mmar(tmp_path / "m", config=train_config(epochs=1))
    build(root, seed=0, overrides={"learning_rate": 0.05, "epochs": 1}).run()
    summary = json.loads((root / "models" / SUMMARY).read_text())
    assert summary["settings"] == {"learning_rate": 0.05, "epochs": 1}


def test_a_failed_run_replaces_the_previous_runs_summary(tmp_path):
    """A run that stops on an error says so in training_summary.json (status and the
    error's line): the previous run's "finished" no longer stands for it."""
    from mmarctl.run_records import SUMMARY

    root = make_mmar(tmp_path / "m", config=train_config(epochs=2))
    build(root, seed=0).run()
    summary = root / "models" / SUMMARY
    assert json.loads(summary.read_text())["status"] == "finished"
    plan = build(root, seed=0)
    plan.handlers = [PoisonWeights(plan.model, 1)]
    with pytest.raises(RuntimeFailure):
        plan.run()
    written = json.loads(summary.read_text())
    assert written["status"] == "failed" and written["epochs_finished"] == 1
    assert written["error"].startswith("the weights became NaN or infinite in epoch 2")


class InterruptAt(contract.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def test_interrupt_saves_resume_state_and_resume_continues(tmp_path):
    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=2)
    plan.handlers = [InterruptAt(1)]
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    resume = root / "models" / "resume" / "model.ckpt"
    assert checkpoint.exists(resume)
    saved = checkpoint.read_state(resume)
    assert saved["epoch"] == 0 and saved["step"] == plan.state.step
    iterations = int(plan.optimizer.iterations.numpy())

    resumed = build(root, seed=2, resume=True)
    assert resumed.state.start_epoch == 1
    assert int(resumed.optimizer.iterations.numpy()) == iterations
    for w1, w2 in zip(weights(plan.model), weights(resumed.model)):
        np.testing.assert_array_equal(w1, w2)
    state = resumed.run()
    assert [h["epoch"] for h in state.history] == [2, 3]
    assert not (root / "models" / "resume").exists()


class RecordRates(contract.Callback):
    """Each step's learning rate, with its epoch; raises Ctrl-C at epoch ``stop``'s
    validation (its steps done, the epoch not finished)."""

    def __init__(self, stop=None):
        self.rates, self.stop = [], stop

    def on_step_end(self, state, logs):
        self.rates.append((state.epoch, state.step, logs["learning_rate"]))

    def on_validation_end(self, state, metrics):
        if state.epoch == self.stop:
            raise KeyboardInterrupt


def test_a_resumed_run_follows_the_uninterrupted_learning_rate_schedule(tmp_path):
    """Interrupted after epoch 2's steps, resume redoes epoch 2 from the optimizer iteration
    where epoch 1 ended: the same rates and step numbers as a run never stopped (not shifted
    by epoch 2's first pass, which left the last epoch at rate 0)."""
    config = train_config(epochs=4)
    config["train"]["lr_policy"] = {"name": "ReducePoly", "args": {"poly_power": 0.9}}
    whole = build(make_mmar(tmp_path / "whole", config=config), seed=2)
    plain = RecordRates()
    whole.handlers = [plain]
    whole.run()

    root = make_mmar(tmp_path / "cut", config=config)
    first = build(root, seed=2)
    first.handlers = [RecordRates(stop=1)]
    with pytest.raises(KeyboardInterrupt):
        first.run()
    resumed = build(root, seed=2, resume=True)
    assert resumed.state.start_epoch == 1
    assert int(resumed.optimizer.iterations.numpy()) == resumed.state.step == 2
    again = RecordRates()
    resumed.handlers = [again]
    resumed.run()
    expected = [row for row in plain.rates if row[0] >= 1]
    assert [row[:2] for row in again.rates] == [row[:2] for row in expected]
    np.testing.assert_allclose([row[2] for row in again.rates],
                               [row[2] for row in expected], rtol=1e-6)


def test_each_step_logs_the_learning_rate_it_used(tmp_path):
    """ReducePoly changes the rate per epoch: every step of epoch 1 trains at the config's
    rate, epoch 2's at half of it (0 only after the last step). Logged after the step, the
    rate was the next step's: epoch 1's last step showed epoch 2's rate, the last step 0."""
    config = train_config(epochs=2)
    config["train"]["lr_policy"] = {"name": "ReducePoly", "args": {"poly_power": 1}}
    plan = build(make_mmar(tmp_path / "m", config=config), seed=0)
    rates = RecordRates()
    plan.handlers = [rates]
    plan.run()
    logged = [row[2] for row in rates.rates]
    per_epoch = len(logged) // 2
    assert logged == pytest.approx([0.05] * per_epoch + [0.025] * per_epoch, rel=1e-5)


class SignalAtEpochEnd(contract.Callback):
    """Sends this process ``signum`` in the middle of epoch ``epoch``'s bookkeeping (put
    first, it runs before the history line is written)."""

    def __init__(self, epoch, signum):
        self.epoch, self.signum = epoch, signum

    def on_epoch_end(self, state, logs):
        if state.epoch == self.epoch:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_interrupt_during_an_epochs_bookkeeping_lets_it_finish(tmp_path, signum):
    """The epoch's history line, summary and resume state agree: it finished, and resume
    goes on with the next epoch, so the history has every epoch once."""
    from mmarctl.run_records import HISTORY, SUMMARY

    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=2)
    own = plan.callbacks
    plan.callbacks = lambda: [SignalAtEpochEnd(0, signum), *own()]
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    models = root / "models"
    lines = [json.loads(line) for line in (models / HISTORY).read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1]
    summary = json.loads((models / SUMMARY).read_text())
    assert summary["status"] == "interrupted" and summary["epochs_finished"] == 1
    assert checkpoint.read_state(models / "resume" / "model.ckpt")["epoch"] == 0

    build(root, seed=2, resume=True).run()
    lines = [json.loads(line) for line in (models / HISTORY).read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]


class InterruptAfterFirstStep(contract.Callback):
    def on_step_end(self, state, logs):
        raise KeyboardInterrupt


def test_ctrl_c_while_the_first_step_is_traced_leaves_a_resumable_state(tmp_path, monkeypatch):
    """Keras marks an optimizer built before it adds its moments; a Ctrl-C between the two,
    in the first step's trace, used to save a resume state without them. The plan builds
    the optimizer before training, so the trace has nothing of it to build."""
    import keras
    import tensorflow as tf

    real_add = keras.optimizers.Optimizer.add_optimizer_variables

    def ctrl_c_in_a_trace(self, *args, **kwargs):
        if tf.inside_function():
            raise KeyboardInterrupt  # the Ctrl-C lands while the step is traced
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(keras.optimizers.Optimizer, "add_optimizer_variables",
                        ctrl_c_in_a_trace)
    root = make_mmar(tmp_path / "m", config=train_config(epochs=2))
    plan = build(root, seed=2)
    assert plan.optimizer.built and len(plan.optimizer.variables) > 2
    plan.handlers = [InterruptAfterFirstStep()]
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    monkeypatch.undo()
    resumed = build(root, seed=2, resume=True)
    assert resumed.state.start_epoch == 0
    assert len(resumed.optimizer.variables) == len(plan.optimizer.variables)


class PeerStopsAt(contract.Callback):
    """Fails a step of epoch ``epoch`` the way a collective does when another worker died."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_step_end(self, state, logs):
        if state.epoch == self.epoch:
            raise RuntimeError("Horovod has been shut down. This was caused by an exception "
                               "on one of the ranks or an attempt to allreduce")


def test_another_workers_stop_leaves_a_resume_state_a_nan_does_not(tmp_path, caplog):
    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=2)
    plan.handlers = [PeerStopsAt(1)]
    with pytest.raises(RuntimeError, match="Horovod has been shut down"):
        plan.run()
    resume = root / "models" / "resume" / "model.ckpt"
    assert checkpoint.read_state(resume)["epoch"] == 0
    assert "another worker stopped in epoch 2; saved a resumable state" in caplog.text
    assert build(root, seed=2, resume=True).state.start_epoch == 1

    other = make_mmar(tmp_path / "n", config=train_config(epochs=2))
    poisoned = build(other, seed=0)
    poisoned.handlers = [PoisonWeights(poisoned.model, 1)]
    with pytest.raises(RuntimeFailure):
        poisoned.run()
    assert not (other / "models" / "resume").exists()


def test_resume_without_saved_state(tmp_path):
    root = make_mmar(tmp_path / "m")
    with pytest.raises(RuntimeFailure, match="nothing to resume"):
        build(root, resume=True)


def test_finetune_starts_from_checkpoint(tmp_path):
    root = make_mmar(tmp_path / "m", config=train_config(epochs=1))
    first = build(root, seed=3)
    first.run()
    tuned = build(root, seed=4, finetune_from=str(root / "models" / "model_final.ckpt"))
    for w1, w2 in zip(weights(first.model), weights(tuned.model)):
        np.testing.assert_array_equal(w1, w2)


def test_finetune_from_mismatched_network(tmp_path):
    root = make_mmar(tmp_path / "m", config=train_config(epochs=1))
    build(root, seed=3).run()
    config = train_config(epochs=1)
    config["train"]["model"]["args"]["width"] = 6
    (root / "config" / "config_train.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeFailure, match="does not match the network"):
        build(root, finetune_from=str(root / "models" / "model.ckpt"))


def test_validation_cadence(tmp_path):
    config = train_config(epochs=3, num_training_epoch_per_valid=2)
    state = build(make_mmar(tmp_path / "m", config=config), seed=0).run()
    assert ["mean_dice" in h for h in state.history] == [False, True, True]


def test_without_validation_model_ckpt_still_written(tmp_path):
    config = train_config(epochs=1)
    config["validate"]["metrics"] = []
    root = make_mmar(tmp_path / "m", config=config)
    state = build(root, seed=0).run()
    assert state.key_metric is None
    assert checkpoint.exists(root / "models" / "model.ckpt")


def test_stats_handler_logs_epochs(tmp_path, caplog):
    config = train_config(epochs=1)
    config["train"]["handlers"] = [{"name": "StatsHandler"}]
    plan = build(make_mmar(tmp_path / "m", config=config), seed=0)
    with caplog.at_level("INFO", logger="modelLogger"):
        plan.run()
    assert any("epoch 1/1: loss=" in r.getMessage() for r in caplog.records)


def test_schema_error_stops_before_building(tmp_path):
    from mmarctl.errors import ConfigError

    config = train_config()
    config["epochs"] = "ten"
    with pytest.raises(ConfigError) as info:
        build(make_mmar(tmp_path / "m", config=config))
    assert info.value.json_path == "epochs"


def test_unknown_component_names_json_path(tmp_path):
    from mmarctl.errors import ConfigError

    config = train_config()
    config["train"]["pre_transforms"].append({"name": "LoadNifty"})
    with pytest.raises(ConfigError) as info:
        build(make_mmar(tmp_path / "m", config=config))
    assert info.value.json_path.startswith("train.pre_transforms[2]")


def test_engine_measures_input_wait(tmp_path):
    plan = build(make_mmar(tmp_path / "m", config=train_config(epochs=1)), seed=0)
    plan.run()
    engine = plan.last_engine
    assert engine.samples_seen == 4 and engine.step_s > 0 and engine.wait_s >= 0


class SignalAt(contract.Callback):
    """Sends this process ``signum`` after each step of epoch 2."""

    def __init__(self, signum):
        self.signum = signum

    def on_step_end(self, state, logs):
        if state.epoch == 1:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_during_training_saves_resume_state(tmp_path, signum):
    """SIGHUP (the ssh session dropped) stops the run like SIGTERM does: resumable."""
    root = make_mmar(tmp_path / "m", config=train_config(epochs=3))
    plan = build(root, seed=2)
    plan.handlers = [SignalAt(signum)]
    with pytest.raises(KeyboardInterrupt):
        plan.run()
    saved = checkpoint.read_state(root / "models" / "resume" / "model.ckpt")
    assert saved["epoch"] == 0  # epoch 2 was cut short: resume redoes it
    assert signal.getsignal(signum) == signal.SIG_DFL  # the handler is put back


def test_corrupt_image_file_names_case_and_loader(tmp_path):
    from mmarctl.errors import DataError

    root = make_mmar(tmp_path / "m", n_train=2)
    (root / "data" / "training_0_img.npy").write_bytes(b"not an array")
    # NumPy refusing the file is bad data (skip_bad_cases applies), not a bug in the
    # MMAR's loader, whose line is named too
    with pytest.raises(DataError, match=r"LoadNpy failed on .*training_0_img.npy") as info:
        build(root, seed=0).run()
    assert "\n" not in str(info.value)
    assert re.search(r"\(custom/standins\.py:\d+\)$", str(info.value)), str(info.value)
    assert not (root / "models").exists()


def test_failure_mid_first_epoch_writes_no_events(tmp_path):
    root = make_mmar(tmp_path / "m", n_train=6)
    plan = build(root, seed=0)
    engine = plan.engine()
    real = engine.train_epoch

    def poisoned(epoch):
        for i, logs in enumerate(real(epoch)):
            yield {**logs, "loss": float("nan")} if i == 2 else logs

    engine.train_epoch = poisoned
    plan.engine = lambda: engine
    with pytest.raises(RuntimeFailure, match="step 3"):
        plan.run()
    assert not (root / "models").exists()


def test_channel_count_mismatch_is_reported_before_training(tmp_path):
    from mmarctl.errors import DataError

    config = train_config(epochs=1)
    config["train"]["image_pipeline"]["args"]["output_image_channels"] = 2
    root = make_mmar(tmp_path / "m", config=config)
    with pytest.raises(DataError, match="1 channel.* but output_image_channels is 2"):
        build(root)


def test_step_failure_is_one_line(tmp_path):
    config = train_config(epochs=1)
    config["train"]["loss"] = {"path": "standins.SoftDice", "args": {"broken": True}}
    root = make_mmar(tmp_path / "m", config=config)
    with pytest.raises(RuntimeFailure, match=r"the training step failed on a batch of images "
                                             r"\(2, 8, 8, 8, 1\)") as info:
        build(root, seed=0).run()
    assert "\n" not in str(info.value)
    assert not (root / "models").exists()


def test_aux_op_tags_are_logged_and_feed_metrics(tmp_path):
    import tensorflow as tf

    pytest.importorskip("mmarctl.runtime.aux_ops.neg_loss")
    config = train_config(epochs=1)
    config["train"]["aux_ops"] = [{"name": "NegLoss", "args": {"tag": "negloss"}}]
    config["validate"]["metrics"].append(
        {"name": "ComputeAverage", "args": {"name": "negloss", "field": "negloss"}})
    root = make_mmar(tmp_path / "m", config=config)
    state = build(root, seed=0).run()
    assert state.history[0]["negloss"] < 0
    event_file = next((root / "models").glob("events.out.tfevents*"))
    tags = set()
    for record in tf.data.TFRecordDataset(str(event_file)):
        tags |= {v.tag for v in tf.compat.v1.Event.FromString(record.numpy()).summary.value}
    assert {"train/negloss", "validation/negloss"} <= tags


class TwoRankStandIn:
    """A backend that says it has two ranks: the other rank's loss is always ours + 1.

    Collectives are local (no second process); ``allreduce_mean`` of the step values returns
    the two-rank mean, so what the callbacks see tells whether the mean was used.
    """

    rank, size, local_rank, is_chief = 0, 2, 0, True

    def __init__(self):
        self.step_reductions = []

    def shard(self, items):
        return list(items)

    def share(self, items):
        return list(items)

    def gather_objects(self, value):
        return [value, value]  # the other rank saw what this one saw

    def broadcast_variables(self, variables, root_rank=0):
        pass

    def allreduce_gradients(self, grads):
        return list(grads)

    def allreduce_mean(self, value):
        if isinstance(value, dict):
            self.step_reductions.append(dict(value))
            return {k: (v + (v + 1.0)) / 2 for k, v in value.items()}
        return value


class StepLogs(contract.Callback):
    def __init__(self):
        self.logs = []

    def on_step_end(self, state, logs):
        self.logs.append(dict(logs))


def test_logged_loss_is_the_mean_over_ranks(tmp_path):
    import tensorflow as tf

    backend = TwoRankStandIn()
    root = make_mmar(tmp_path / "m", config=train_config(epochs=1))
    plan = TrainingPlan.build(Workspace(root), TrainOptions(seed=0, progress=False), backend)
    recorder = StepLogs()
    plan.handlers = [recorder]
    state = plan.run()
    own = [r["loss"] for r in backend.step_reductions]
    assert len(own) == plan.state.steps_per_epoch == len(recorder.logs)
    assert [log["loss"] for log in recorder.logs] == pytest.approx([v + 0.5 for v in own])
    assert state.history[0]["loss"] == pytest.approx(np.mean(own) + 0.5)
    event_file = next((root / "models").glob("events.out.tfevents*"))
    logged = []
    for record in tf.data.TFRecordDataset(str(event_file)):
        for value in tf.compat.v1.Event.FromString(record.numpy()).summary.value:
            if value.tag == "train/loss":
                logged.append(float(tf.make_ndarray(value.tensor)))
    assert logged == pytest.approx([v + 0.5 for v in own], abs=1e-6)


def test_aux_values_keep_every_sample_of_a_batch():
    import tensorflow as tf

    from mmarctl.runtime.aux_ops.binary_preds import ComputeBinaryPreds
    from mmarctl.runtime.aux_ops.neg_loss import NegLoss
    from mmarctl.runtime.training.tf_engine import aux_fields, make_aux

    def loss(y_true, y_pred):
        return tf.reduce_mean(tf.abs(y_true - y_pred))

    aux = make_aux(loss, [ComputeBinaryPreds(), NegLoss(tag="negloss")])
    scores = np.array([[0.9, 0.2], [0.1, 0.7], [0.4, 0.6]], np.float32)
    labels = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    values = aux(labels, scores)
    np.testing.assert_allclose(values["binary_preds"], scores)   # (B, K), not one row
    np.testing.assert_array_equal(values["binary_labels"], labels)
    assert values["negloss"].shape == () and values["negloss"] < 0
    second = aux_fields(values, 1, batch=3)
    np.testing.assert_allclose(second["binary_preds"], scores[1])
    np.testing.assert_array_equal(second["binary_labels"], labels[1])
    assert second["negloss"] == values["negloss"]


CLASSIFIER = '''
import keras
from mmarctl.runtime.component import Component


class TinyClassifier(Component):
    """Global average of a 3x3 convolution, then a sigmoid per class (multi-label)."""
    final_activation = "sigmoid"

    def __init__(self, num_classes=3):
        super().__init__(num_classes=num_classes)
        self.num_classes = num_classes

    def build(self, spatial_dims, in_channels):
        inputs = keras.Input((None, None, in_channels))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(self.num_classes)(x)
        return keras.Model(inputs, keras.layers.Activation("sigmoid", dtype="float32")(x))
'''


def hand_auc(scores, labels):
    """P(score of a positive > score of a negative), ties one half, by counting pairs."""
    pos = [s for s, y in zip(scores, labels) if y > 0.5]
    neg = [s for s, y in zip(scores, labels) if y <= 0.5]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_chexpert_style_auc_from_binary_preds_matches_hand_computed(tmp_path):
    """ComputeBinaryPreds + ComputeAUC on its tags (CheXpert's validate section)."""
    root = make_mmar(tmp_path / "m")
    (root / "custom" / "classifier.py").write_text(CLASSIFIER)
    rng = np.random.default_rng(3)
    labels = {"training": [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]],
              "validation": [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0],
                             [0, 1, 1]]}
    lists = {}
    for key, rows in labels.items():
        lists[key] = []
        for i, row in enumerate(rows):
            name = f"{key}_{i}_cls.npy"
            np.save(root / "data" / name, rng.normal(size=(8, 8)).astype(np.float32)
                    + np.float32(row[0]))
            lists[key].append({"image": name, "label": row})
    (root / "data" / "dataset.json").write_text(json.dumps(lists))
    pipeline = {"data_list_file_path": "{DATASET_JSON}", "data_file_base_dir": "{DATA_ROOT}",
                "data_list_key": "training", "output_crop_size": [8, 8],
                "output_batch_size": 2, "output_data_dims": 2}

    def auc(name, **args):
        return {"name": "ComputeAUC", "args": {"name": name, "field": "binary_preds",
                                               "label_field": "binary_labels", **args}}

    config = {
        "epochs": 1, "learning_rate": 0.01,
        "train": {
            "loss": {"name": "BinaryClassificationLoss"},
            "optimizer": {"path": "standins.Opt"},
            "model": {"path": "classifier.TinyClassifier", "args": {"num_classes": 3}},
            "pre_transforms": [{"name": "LoadNpy", "path": "standins.LoadNpy",
                                "args": {"fields": ["image"]}}],
            "aux_ops": [{"name": "ComputeBinaryPreds",
                         "args": {"binary_preds_name": "binary_preds",
                                  "binary_labels_name": "binary_labels"}}],
            "image_pipeline": {"name": "ClassificationImagePipeline", "args": pipeline},
        },
        "validate": {
            "metrics": [auc("Average_AUC", auc_average="macro", is_key_metric=True),
                        auc("class_0", class_index=0), auc("class_2", class_index=2),
                        {"name": "ComputeAUC", "args": {"name": "model_auc"}}],
            "pre_transforms": [{"ref": "LoadNpy"}],
            "image_pipeline": {"name": "ClassificationImagePipeline",
                               "args": {**pipeline, "data_list_key": "validation",
                                        "output_batch_size": 1}},
            "inferer": {"path": "standins.Simple"},
        },
    }
    (root / "config" / "config_train.json").write_text(json.dumps(config))
    plan = build(root, seed=0)
    state = plan.run()
    metrics = state.history[-1]

    images = np.stack([np.load(root / "data" / item["image"])[..., None]
                       for item in lists["validation"]])
    scores = np.asarray(plan.model(images, training=False))
    truth = np.asarray(labels["validation"], np.float32)
    per_class = [hand_auc(scores[:, c], truth[:, c]) for c in range(3)]
    assert metrics["class_0"] == pytest.approx(per_class[0], abs=1e-6)
    assert metrics["class_2"] == pytest.approx(per_class[2], abs=1e-6)
    assert metrics["Average_AUC"] == pytest.approx(np.mean(per_class), abs=1e-6)
    assert metrics["model_auc"] == pytest.approx(metrics["Average_AUC"], abs=1e-6)
    assert state.key_metric == "Average_AUC"


def test_a_failed_step_is_told_by_its_own_line_not_keras_frame():
    from mmarctl.runtime.tf_errors import telling_line as _first_line

    framed = ("Exception encountered when calling Concatenate.call().\n\n\x1b[1m{{function_node "
              "__wrapped__ConcatV2_N_2_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
              "ConcatOp : Dimension 1 in both shapes must be equal: shape[0] = [2,4,4,4,64] vs. "
              "shape[1] = [2,5,5,5,64] [Op:ConcatV2] name: concat\x1b[0m\n\nArguments received "
              "by Concatenate.call():\n  • inputs=['tf.Tensor(shape=(2, 4, 4, 4, 64))']\n"
              "  • training=True")
    assert _first_line(ValueError(framed)) == (
        "ConcatOp : Dimension 1 in both shapes must be equal: shape[0] = [2,4,4,4,64] vs. "
        "shape[1] = [2,5,5,5,64] [Op:ConcatV2] name: concat")
    plain = "Exception encountered when calling X.call().\n\nsomething odd\n  • training=True"
    assert _first_line(ValueError(plain)) == "something odd"
