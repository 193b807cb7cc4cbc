"""A checkpoint whose bytes were overwritten (right size, wrong bytes) is named as damaged, in
check's words, not as "written for another model config" with TensorFlow's op wrapping:
TensorFlow says "Checksum does not match", and the damage signs were compared case-sensitively."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.errors import RuntimeFailure  # noqa: E402
from mmarctl.runtime import checkpoint as ckpt  # noqa: E402


def tiny_model():
    import keras

    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(64)(inputs))


def test_a_bit_flipped_checkpoint_is_damaged_not_another_network(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prefix = tmp_path / "models" / "model.ckpt"
    ckpt.save_checkpoint(prefix, tiny_model())
    data = ckpt.checkpoint_files(prefix)[1]
    flipped = bytearray(data.read_bytes())
    for i in range(100, len(flipped), 500):
        flipped[i] ^= 0xFF
    data.write_bytes(bytes(flipped))
    with pytest.raises(RuntimeFailure) as info:
        ckpt.restore_model(prefix, tiny_model())
    line = str(info.value)
    assert line.startswith("models/model.ckpt: damaged: "), line
    assert "checksum does not match" in line and line.endswith("(copy it again, or train again)")
    assert "{{function_node" not in line and "[Op:" not in line and str(tmp_path) not in line
    assert "another model config" not in line and "\n" not in line


def test_check_verifies_the_checksums_the_index_stores(tmp_path):
    from mmarctl.model_files import scan_model

    prefix = tmp_path / "model.ckpt"
    ckpt.save_checkpoint(prefix, tiny_model())
    assert scan_model(prefix).problem is None
    data = ckpt.checkpoint_files(prefix)[1]
    flipped = bytearray(data.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    data.write_bytes(bytes(flipped))
    item = scan_model(prefix)
    assert item.damaged == "damaged"
    assert item.problem.startswith("damaged: checksum does not match for ") and \
        item.problem.endswith(" bytes in model.ckpt.data-00000-of-00001) (copy it again, or "
                              "train again)"), item.problem


def test_a_save_replacing_the_pair_while_check_reads_it_is_no_damage(tmp_path, monkeypatch):
    """`validate` or `check` beside a running `train`: the index read before a save's swap
    and the data read after it disagree. That is read again, never called damage."""
    import os

    from mmarctl.model_files import inventory, scan_model

    prefix, newer = tmp_path / "model.ckpt", tmp_path / "newer" / "model.ckpt"
    ckpt.save_checkpoint(prefix, tiny_model())
    ckpt.save_checkpoint(newer, tiny_model())  # same shapes, other weights
    data_checks = []
    check_data = inventory.truncated_data

    def a_save_swaps_in_after_the_index_was_read(checked, entries):
        if not data_checks:  # the first time: a save renames its pair in right now
            for new, old in zip(ckpt.checkpoint_files(newer), ckpt.checkpoint_files(prefix)):
                os.replace(new, old)
            assert inventory.checksum_damage(prefix, entries)  # the mixed read is real
        data_checks.append(checked)
        return check_data(checked, entries)

    monkeypatch.setattr(inventory, "truncated_data", a_save_swaps_in_after_the_index_was_read)
    item = scan_model(prefix)
    assert len(data_checks) == 2  # read again once the pair stopped moving
    assert item.damaged is None and item.problem is None, item.problem
