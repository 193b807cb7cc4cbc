"""finetune given (MMAR_CKPT) a model file that is no checkpoint: an exported model has no
trainable variables, and the refusal says so (it used to say "none at models/model.fzn.pb"
of a file that was there)."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402

runner = CliRunner()


def _finetune(root: Path, start: str):
    return runner.invoke(app, ["finetune", str(root), "--epochs", "1", "--set",
                               f"MMAR_CKPT={start}"])


def test_an_onnx_model_is_named_as_an_exported_model(tmp_path):
    root = make_mmar(tmp_path / "m")
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "model.onnx").write_bytes(b"\x08\x07")  # ModelProto: ir_version 7
    result = _finetune(root, "models/model.onnx")
    assert result.exit_code == 1
    assert "models/model.onnx is an exported model (ONNX model) without trainable variables: " \
           "finetune needs a checkpoint (e.g. models/model.ckpt)" in result.output, result.output
    assert "none at" not in result.output


def test_a_saved_model_is_named_as_an_exported_model(tmp_path):
    root = make_mmar(tmp_path / "m")
    (root / "models" / "saved_model").mkdir(parents=True)
    (root / "models" / "saved_model" / "saved_model.pb").write_bytes(b"")
    result = _finetune(root, "models/saved_model")
    assert result.exit_code == 1 and "(SavedModel) without trainable variables" in result.output


def test_nothing_there_is_still_none(tmp_path):
    root = make_mmar(tmp_path / "m")
    result = _finetune(root, "models/nothere.ckpt")
    assert result.exit_code == 1
    assert "none at models/nothere.ckpt" in result.output
