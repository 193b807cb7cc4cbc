"""A truncated model.onnx (an interrupted copy) is a problem in check, as a truncated
model.fzn.pb is, in the words validate/infer --model onnx then refuse with before ONNX Runtime's
"Protobuf parsing failed". TF-free."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.clone import clone
from mmarctl.model_files import scan_model

onnx = pytest.importorskip("onnx")


def onnx_bytes() -> bytes:
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    weights = numpy_helper.from_array(np.ones((64, 64), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["NV_MODEL_INPUT", "W"], ["NV_MODEL_OUTPUT"])], "g",
        [helper.make_tensor_value_info("NV_MODEL_INPUT", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("NV_MODEL_OUTPUT", TensorProto.FLOAT, [1, 64])],
        [weights])
    return helper.make_model(graph).SerializeToString()


def test_a_truncated_onnx_model_is_corrupt(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_bytes())
    assert scan_model(path).kind == "onnx" and scan_model(path).problem is None
    path.write_bytes(onnx_bytes()[:1000])
    item = scan_model(path)
    assert item.problem == ("corrupt: not a whole ONNX model (length-delimited field runs past the "
                            "end) (copy model.onnx again from where it came from (`mmarctl "
                            "export` re-makes it only from a checkpoint, and none is beside it))")
    path.write_bytes(b"")
    assert scan_model(path).problem.startswith("corrupt: not an ONNX model (empty file)")


def test_check_reports_it_with_the_export_hint(tmp_path):
    root = clone("spleen", tmp_path / "seg").root
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "model.ckpt.index").write_bytes(b"")
    (root / "models" / "model.onnx").write_bytes(onnx_bytes()[:1000])
    result = CliRunner().invoke(app, ["check", str(root)])
    assert result.exit_code == 1
    assert ("models/model.onnx: corrupt: not a whole ONNX model (length-delimited field runs past "
            "the end) (re-export it with `mmarctl export --format onnx`)") in result.output
