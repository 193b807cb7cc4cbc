"""Checkpoints: round trip, optimizer state, atomic replacement, clear failures."""

from __future__ import annotations

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = tf.keras

from mmarctl.errors import RuntimeFailure  # noqa: E402
from mmarctl.runtime import checkpoint as ckpt  # noqa: E402


def tiny_model(units: int = 3, seed: int = 0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(units)(inputs)
    return keras.Model(inputs, outputs)


def weights(model):
    return [v.numpy() for v in model.weights]


def test_round_trip_reproduces_outputs(tmp_path):
    prefix = tmp_path / "models" / "model.ckpt"
    a, b = tiny_model(seed=1), tiny_model(seed=2)
    ckpt.save_checkpoint(prefix, a)
    assert [p.name for p in ckpt.checkpoint_files(prefix)] == [
        "model.ckpt.index", "model.ckpt.data-00000-of-00001"]
    assert all(p.is_file() for p in ckpt.checkpoint_files(prefix))
    ckpt.restore_model(prefix, b)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(a(x), b(x))
    # No temporary, backup or marker files are left behind.
    assert sorted(p.name for p in prefix.parent.iterdir()) == [
        "model.ckpt.data-00000-of-00001", "model.ckpt.index"]


def test_folder_accepted_as_prefix(tmp_path):
    ckpt.save_checkpoint(tmp_path / "model.ckpt", tiny_model())
    assert ckpt.checkpoint_prefix(tmp_path) == str(tmp_path / "model.ckpt")


def test_training_state_and_optimizer_round_trip(tmp_path):
    prefix = tmp_path / "resume" / "model.ckpt"
    model = tiny_model()
    optimizer = keras.optimizers.Adam(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.ones((1, 4))))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))
    ckpt.save_checkpoint(prefix, model, optimizer, epoch=3, best_metric=0.5, name="run")

    model2, optimizer2 = tiny_model(seed=5), keras.optimizers.Adam(0.1)
    state = ckpt.restore_training_state(prefix, model2, optimizer2)
    assert state == {"epoch": 3, "best_metric": 0.5, "name": "run"}
    assert int(optimizer2.iterations.numpy()) == 1
    for v1, v2 in zip(optimizer.variables, optimizer2.variables):
        np.testing.assert_array_equal(v1.numpy(), v2.numpy())
    for w1, w2 in zip(weights(model), weights(model2)):
        np.testing.assert_array_equal(w1, w2)


def test_a_state_saved_before_the_first_step_resumes(tmp_path):
    """Interrupted before any step: the optimizer has no slots yet, and --resume builds
    them before it reads."""
    model, prefix = tiny_model(), str(tmp_path / "resume" / "model.ckpt")
    ckpt.save_checkpoint(prefix, model, keras.optimizers.Adam(0.1), epoch=0)
    model2, optimizer2 = tiny_model(seed=5), keras.optimizers.Adam(0.1)
    assert ckpt.restore_training_state(prefix, model2, optimizer2)["epoch"] == 0
    assert int(optimizer2.iterations.numpy()) == 0
    np.testing.assert_array_equal(weights(model2)[0], weights(model)[0])


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(RuntimeFailure, match="no model checkpoint at .*model.ckpt"):
        ckpt.restore_model(tmp_path / "model.ckpt", tiny_model())


def test_clara_tf1_checkpoint_gets_a_hint(tmp_path):
    (tmp_path / "model.ckpt.meta").write_bytes(b"\x00")
    with pytest.raises(RuntimeFailure) as info:
        ckpt.restore_model(tmp_path / "model.ckpt", tiny_model())
    assert "TF1" in info.value.hint and ".index/.data files" in info.value.hint


def test_mismatched_network_is_one_line(tmp_path):
    ckpt.save_checkpoint(tmp_path / "model.ckpt", tiny_model(units=3))
    with pytest.raises(RuntimeFailure) as info:
        ckpt.restore_model(tmp_path / "model.ckpt", tiny_model(units=5))
    assert "does not match the network" in info.value.message
    assert "\n" not in str(info.value)


def test_a_truncated_checkpoint_is_named_as_damaged_not_as_another_network(tmp_path):
    prefix = tmp_path / "model.ckpt"
    ckpt.save_checkpoint(prefix, tiny_model(units=64))
    data = [f for f in ckpt.checkpoint_files(prefix) if ".data-" in f.name][0]
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(RuntimeFailure) as info:
        ckpt.restore_model(prefix, tiny_model(units=64))
    assert info.value.message.startswith("damaged: "), info.value.message
    assert "different model config" not in info.value.hint


def test_corrupt_checkpoint_is_runtime_failure(tmp_path):
    prefix = tmp_path / "model.ckpt"
    ckpt.save_checkpoint(prefix, tiny_model())
    ckpt.checkpoint_files(prefix)[1].write_bytes(b"garbage")
    with pytest.raises(RuntimeFailure):
        ckpt.restore_model(prefix, tiny_model())


@pytest.mark.parametrize("stop_after", ["tmp_written", "backup_linked", "marker", "one_renamed",
                                        "both_renamed"])
def test_killed_write_leaves_a_loadable_checkpoint(tmp_path, monkeypatch, stop_after):
    """Simulate a kill at each step of the swap: the old or the new weights load, intact."""
    prefix = tmp_path / "model.ckpt"
    old, new = tiny_model(seed=1), tiny_model(seed=2)
    ckpt.save_checkpoint(prefix, old)

    class Killed(BaseException):
        pass

    steps = {"n_replace": 0}
    real_replace, real_touch = os.replace, type(prefix).touch

    def fake_link(src, dst):
        real_link(src, dst)
        if stop_after == "backup_linked" and str(dst).endswith(ckpt.DATA_SUFFIX):
            raise Killed

    def fake_touch(self, *a, **k):
        real_touch(self, *a, **k)
        if stop_after == "marker":
            raise Killed

    def fake_replace(src, dst):
        real_replace(src, dst)
        steps["n_replace"] += 1
        if stop_after == "one_renamed" and steps["n_replace"] == 1:
            raise Killed
        if stop_after == "both_renamed" and steps["n_replace"] == 2:
            raise Killed

    real_link = os.link
    if stop_after == "tmp_written":
        monkeypatch.setattr(ckpt, "_exists", _raise_after_tmp(ckpt._exists, Killed))
    monkeypatch.setattr(ckpt.os, "link", fake_link)
    monkeypatch.setattr(type(prefix), "touch", fake_touch)
    monkeypatch.setattr(ckpt.os, "replace", fake_replace)
    with pytest.raises(Killed):
        ckpt.save_checkpoint(prefix, new)
    monkeypatch.undo()

    loaded = tiny_model(seed=9)
    ckpt.restore_model(prefix, loaded)
    got = weights(loaded)
    assert (all(np.array_equal(g, w) for g, w in zip(got, weights(old)))
            or all(np.array_equal(g, w) for g, w in zip(got, weights(new))))
    if stop_after in ("marker", "one_renamed", "tmp_written", "backup_linked"):
        assert all(np.array_equal(g, w) for g, w in zip(got, weights(old)))

    # The next save recovers and cleans up.
    ckpt.save_checkpoint(prefix, new)
    ckpt.restore_model(prefix, loaded)
    assert all(np.array_equal(g, w) for g, w in zip(weights(loaded), weights(new)))
    assert not (tmp_path / "model.ckpt.swapping").exists()
    assert not any(p.name.startswith("model.ckpt.bak") for p in tmp_path.iterdir())


def _raise_after_tmp(real, exc):
    """Kill right after the temporary pair is written (first _exists call on the main prefix)."""
    def wrapped(prefix):
        raise exc
    return wrapped


def test_interrupted_first_save_means_no_checkpoint(tmp_path, monkeypatch):
    prefix = tmp_path / "model.ckpt"
    (tmp_path / "model.ckpt.swapping").touch()
    ckpt.checkpoint_files(prefix)[0].write_bytes(b"half")
    assert ckpt.checkpoint_prefix(prefix) is None
    with pytest.raises(RuntimeFailure, match="no model checkpoint"):
        ckpt.restore_model(prefix, tiny_model())


def test_a_first_save_killed_after_its_renames_is_read_and_backed_up(tmp_path, monkeypatch):
    """A first save killed between its last rename and removing the marker leaves a whole
    pair, marked, with no backup: it is read; a later save killed mid-swap falls back to it."""
    prefix = tmp_path / "model.ckpt"
    first, second = tiny_model(seed=1), tiny_model(seed=2)

    class Killed(BaseException):
        pass

    real_unlink = type(prefix).unlink

    def kill_at_marker_removal(self, *args, **kwargs):
        if self.name.endswith(".swapping"):
            raise Killed
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(type(prefix), "unlink", kill_at_marker_removal)
    with pytest.raises(Killed):
        ckpt.save_checkpoint(prefix, first)
    monkeypatch.undo()
    assert (tmp_path / "model.ckpt.swapping").exists()
    assert ckpt.checkpoint_prefix(prefix) == str(prefix)
    loaded = tiny_model(seed=9)
    ckpt.restore_model(prefix, loaded)
    assert all(np.array_equal(g, w) for g, w in zip(weights(loaded), weights(first)))

    real_replace, renames = os.replace, []

    def kill_after_one_rename(src, dst):
        real_replace(src, dst)
        renames.append(dst)
        if len(renames) == 1:
            raise Killed

    monkeypatch.setattr(ckpt.os, "replace", kill_after_one_rename)
    with pytest.raises(Killed):
        ckpt.save_checkpoint(prefix, second)
    monkeypatch.undo()
    ckpt.restore_model(prefix, loaded)  # the backup: the first save's weights, not a mix
    assert all(np.array_equal(g, w) for g, w in zip(weights(loaded), weights(first)))


def test_a_save_during_a_read_is_read_again_never_mixed(tmp_path, monkeypatch):
    """validate beside a running train: a save that replaces the pair while a reader reads
    it makes the reader start over on the new pair."""
    prefix = tmp_path / "model.ckpt"
    first, second = tiny_model(seed=1), tiny_model(seed=2)
    ckpt.save_checkpoint(prefix, first)
    real_read = ckpt._read
    saves = []

    def read_while_a_save_lands(checkpoint, found, what):
        status = real_read(checkpoint, found, what)
        if not saves:  # the writer replaces the pair just as the first read ends
            saves.append(ckpt.save_checkpoint(prefix, second))
        return status

    monkeypatch.setattr(ckpt, "_read", read_while_a_save_lands)
    reader = tiny_model(seed=3)
    ckpt.restore_model(prefix, reader)
    assert saves                                     # the save did happen mid-read
    for got, want in zip(weights(reader), weights(second)):
        np.testing.assert_array_equal(got, want)     # the new pair, read again in full


def test_a_checkpoint_replaced_on_every_attempt_is_one_clear_error(tmp_path, monkeypatch):
    prefix = tmp_path / "model.ckpt"
    ckpt.save_checkpoint(prefix, tiny_model(seed=1))
    real_read = ckpt._read

    def always_replaced(checkpoint, found, what):
        status = real_read(checkpoint, found, what)
        ckpt.save_checkpoint(prefix, tiny_model(seed=1))
        return status

    monkeypatch.setattr(ckpt, "_read", always_replaced)
    with pytest.raises(RuntimeFailure, match="replaced 5 times while it was being read"):
        ckpt.restore_model(prefix, tiny_model(seed=2))


def test_an_unreadable_state_is_one_runtime_failure(tmp_path):
    prefix = tmp_path / "model.ckpt"
    ckpt.save_checkpoint(prefix, tiny_model(), epoch=1)
    data = ckpt.checkpoint_files(prefix)[1]
    data.write_bytes(b"")                            # truncated after it was written
    with pytest.raises(RuntimeFailure, match="cannot be read"):
        ckpt.read_state(prefix)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt])
def test_a_failed_save_removes_its_temporary_files(tmp_path, monkeypatch, failure):
    """A write that fails halfway (disk full) or is interrupted leaves no ``.tmp-<pid>``
    files or ``_temp/`` folder behind; the previous checkpoint is untouched."""
    prefix = tmp_path / "model.ckpt"
    old = tiny_model(seed=1)
    ckpt.save_checkpoint(prefix, old)
    real_make = ckpt._make_checkpoint

    class HalfWritten:
        """Writes what TensorFlow has on disk mid-save, then fails."""

        def __init__(self, *args, **kwargs):
            self.real = real_make(*args, **kwargs)

        def write(self, tmp):
            self.real.write(tmp)
            (tmp_path / (os.path.basename(tmp) + "_temp")).mkdir()
            (tmp_path / (os.path.basename(tmp) + "_temp") / "part-00000").write_bytes(b"x")
            raise failure

    monkeypatch.setattr(ckpt, "_make_checkpoint", HalfWritten)
    with pytest.raises(type(failure) if isinstance(failure, BaseException) else failure):
        ckpt.save_checkpoint(prefix, tiny_model(seed=2))
    monkeypatch.undo()
    assert _leftovers(tmp_path) == []
    loaded = tiny_model(seed=9)
    ckpt.restore_model(prefix, loaded)
    assert all(np.array_equal(g, w) for g, w in zip(weights(loaded), weights(old)))


def test_the_next_save_removes_temporary_files_of_dead_processes_only(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid, live_pid = int(dead.stdout), os.getppid()
    for pid in (dead_pid, live_pid):
        stem = f"model.ckpt.tmp-{pid}"
        (tmp_path / (stem + ".index")).write_bytes(b"i")
        (tmp_path / (stem + ckpt.DATA_SUFFIX)).write_bytes(b"d")
        (tmp_path / (stem + "_temp")).mkdir()
        (tmp_path / (stem + "_temp") / "part-00000").write_bytes(b"p")
    (tmp_path / "other.ckpt.tmp-1.index").write_bytes(b"another prefix's")
    ckpt.save_checkpoint(tmp_path / "model.ckpt", tiny_model())
    assert _leftovers(tmp_path) == sorted([f"model.ckpt.tmp-{live_pid}.index",
                                           f"model.ckpt.tmp-{live_pid}{ckpt.DATA_SUFFIX}",
                                           f"model.ckpt.tmp-{live_pid}_temp",
                                           "other.ckpt.tmp-1.index"])


def test_a_resume_state_missing_optimizer_variables_is_called_incomplete(tmp_path):
    """Saved from an optimizer Keras marked built before it had its moments: the network
    fits, so the message says the state is incomplete, not that the model config changed."""
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    model, half = tiny_model(), keras.optimizers.Adam(0.1)
    BaseOptimizer.build(half, model.trainable_variables)  # built=True, no moments yet
    prefix = tmp_path / "resume" / "model.ckpt"
    ckpt.save_checkpoint(prefix, model, half, epoch=-1)
    with pytest.raises(RuntimeFailure) as info:
        ckpt.restore_training_state(prefix, tiny_model(seed=3), keras.optimizers.Adam(0.1))
    assert "is incomplete" in info.value.message and "of the optimizer's" in info.value.message
    assert "fresh run" in info.value.hint and "model config" not in str(info.value)


def test_a_resume_state_of_another_network_still_blames_the_model_config(tmp_path):
    prefix = tmp_path / "resume" / "model.ckpt"
    model, optimizer = tiny_model(units=3), keras.optimizers.Adam(0.1)
    optimizer.build(model.trainable_variables)
    ckpt.save_checkpoint(prefix, model, optimizer, epoch=0)
    with pytest.raises(RuntimeFailure, match="does not match the network") as info:
        ckpt.restore_training_state(prefix, tiny_model(units=5), keras.optimizers.Adam(0.1))
    assert "model config" in info.value.hint


def test_a_folder_where_a_checkpoint_file_goes_leaves_no_marker_and_names_the_file(tmp_path):
    from mmarctl.errors import write_failed

    prefix = tmp_path / "model_final.ckpt"
    (tmp_path / "model_final.ckpt.index").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        ckpt.save_checkpoint(prefix, tiny_model())
    assert str(write_failed(info.value)) == (
        f"{tmp_path / 'model_final.ckpt.index'}: cannot write: is a folder, expected a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_final.ckpt.index"]


def test_a_rename_failing_halfway_puts_the_backup_back(tmp_path, monkeypatch):
    prefix = tmp_path / "model.ckpt"
    old = tiny_model(seed=1)
    ckpt.save_checkpoint(prefix, old)
    before = sorted(p.name for p in tmp_path.iterdir())
    real_replace = os.replace

    def second_fails(src, dst):
        if str(dst).endswith(ckpt.DATA_SUFFIX) and ".tmp-" in os.path.basename(src):
            raise PermissionError(1, "Operation not permitted", src, None, dst)
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", second_fails)
    with pytest.raises(PermissionError):
        ckpt.save_checkpoint(prefix, tiny_model(seed=2))
    monkeypatch.setattr(ckpt.os, "replace", real_replace)
    # the old pair is whole again and no marker or backup is left
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    restored = tiny_model(seed=3)
    ckpt.restore_model(prefix, restored)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(old(x), restored(x))


def test_a_network_record_that_cannot_be_written_leaves_no_temporary(tmp_path, monkeypatch):
    from pathlib import Path

    real_write_text = Path.write_text

    def full(self, *args, **kwargs):
        if ".network.json" in self.name:
            real_write_text(self, "{\"half")
            raise OSError(28, "No space left on device", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    monkeypatch.setattr("mmarctl.runtime.model_io.built_from", lambda model: {"network": "x"})
    ckpt.save_checkpoint(tmp_path / "model.ckpt", tiny_model())  # the checkpoint is saved
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.ckpt.data-00000-of-00001", "model.ckpt.index"]


def test_a_missing_model_checkpoint_points_at_the_folder_setting(tmp_path):
    # validate, infer and export read MMAR_CKPT_DIR; MMAR_CKPT is finetune's alone
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime import checkpoint

    with pytest.raises(RuntimeFailure) as missing:
        checkpoint.restore_model(tmp_path / "model.ckpt", None)
    assert "--set MMAR_CKPT_DIR=FOLDER" in missing.value.hint
    assert "MMAR_CKPT " not in missing.value.hint
