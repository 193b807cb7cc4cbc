"""``export`` with part of a checkpoint in models/ (an interrupted copy) refuses with check's
line: it used to fall back to a model.fzn.pb beside it, possibly an older training's, and ship
those weights with exit 0. The frozen-graph fallback is for a models/ without any checkpoint,
and then export says so before its work."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.clone import clone

runner = CliRunner()


@pytest.fixture
def mmar(tmp_path):
    root = clone("spleen", tmp_path / "seg").root
    models = root / "models"
    models.mkdir(exist_ok=True)
    (models / "model.fzn.pb").write_bytes(b"\x0a\xff\xff\xff\x0f not a graph")
    return root


def tiny_checkpoint(prefix):
    keras = pytest.importorskip("keras")
    from mmarctl.runtime.checkpoint import save_checkpoint

    inputs = keras.Input((4,))
    save_checkpoint(prefix, keras.Model(inputs, keras.layers.Dense(2)(inputs)))


def test_index_without_data_is_incomplete_not_the_frozen_graph(mmar, tmp_path):
    tiny_checkpoint(tmp_path / "ckpt" / "model.ckpt")
    shutil.copy(tmp_path / "ckpt" / "model.ckpt.index", mmar / "models" / "model.ckpt.index")
    result = runner.invoke(app, ["export", str(mmar), "-f", "onnx"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        "error: models/model.ckpt: incomplete: model.ckpt.data-00000-of-00001 is missing "
        "(copy it again, or train again)"), result.output
    check = runner.invoke(app, ["check", str(mmar)])
    assert ("models/model.ckpt: incomplete: model.ckpt.data-00000-of-00001 is missing"
            in check.output)


def test_data_without_index_is_incomplete(mmar):
    (mmar / "models" / "model.ckpt.data-00000-of-00001").write_bytes(b"weights")
    result = runner.invoke(app, ["export", str(mmar), "-f", "onnx"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == ("error: models/model.ckpt: incomplete: model.ckpt.index "
                                     "is missing (copy it again, or train again)")
    assert not (mmar / "models" / "export.json").exists()


def test_ckpt_naming_an_exported_model_says_what_it_is(mmar):
    models = mmar / "models"
    (models / "model.onnx").write_bytes(b"\x08\x08\x3a\x00")
    (models / "saved_model").mkdir()
    (models / "saved_model" / "saved_model.pb").write_bytes(b"")
    result = runner.invoke(app, ["export", str(mmar), "--ckpt", str(models / "model.onnx")])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --ckpt models/model.onnx: an ONNX model, not a checkpoint (export reads a "
        "checkpoint (models/model.ckpt) or a frozen graph (.pb))")
    result = runner.invoke(app, ["export", str(mmar), "--ckpt", str(models / "saved_model")])
    assert result.exit_code == 1
    assert "--ckpt models/saved_model: a SavedModel folder, not a checkpoint" in result.output
