"""check's view of a validation config's model_loader with the file it reads
(:func:`mmarctl.check.models.loader_problems`): what validate/infer refuse after TensorFlow has
started (a SavedModel or an ONNX file given to FrozenGraphModelLoader, a frozen graph given to
OnnxModelLoader, a graph without the output node, a fixed-size graph and another roi_size) is
found from the bytes, in the verbs' words, naming the config's JSON path."""

from __future__ import annotations

import json

import pytest

from mmarctl.check.models import loader_problems
from mmarctl.clone import clone
from mmarctl.workspace import Workspace


def graph_bytes(shape, input_name="NV_MODEL_INPUT", output_name="NV_MODEL_OUTPUT") -> bytes:
    """A frozen GraphDef: placeholder -> Identity (output) -> Identity (the function's)."""
    tf = pytest.importorskip("tensorflow")
    graph = tf.compat.v1.GraphDef()
    node = graph.node.add(name=input_name, op="Placeholder")
    node.attr["dtype"].type = 1
    for size in shape:
        node.attr["shape"].shape.dim.add(size=-1 if size is None else size)
    graph.node.add(name=output_name, op="Identity", input=[input_name])
    graph.node.add(name="Identity", op="Identity", input=[output_name])
    return graph.SerializeToString()


@pytest.fixture
def mmar(tmp_path):
    root = clone("spleen", tmp_path / "seg").root
    (root / "models").mkdir(exist_ok=True)
    return root


def validation_config(root, name, loader, path, roi=None, **args):
    config = json.loads((root / "config" / "config_validation.json").read_text())
    config["model_loader"] = {"name": loader, "args": {
        "model_file_path": "{MMAR_CKPT_DIR}/" + path, **args}}
    if roi is not None:
        config["inferer"]["args"]["roi_size"] = roi
    (root / "config" / name).write_text(json.dumps(config))
    return name


def lines(root, config, model=None):
    return [str(p) for p in loader_problems(Workspace(root), {}, config, model)]


def test_a_file_of_another_kind_names_the_right_loader(mmar):
    models = mmar / "models"
    (models / "model.fzn.pb").write_bytes(graph_bytes((None, None, None, None, 1)))
    (models / "model.onnx").write_bytes(b"\x08\x08\x3a\x00")  # ir_version, a graph
    (models / "saved_model").mkdir()
    (models / "saved_model" / "saved_model.pb").write_bytes(b"")
    config = validation_config(mmar, "cv_onnx.json", "FrozenGraphModelLoader", "model.onnx")
    assert lines(mmar, config) == [
        "config/cv_onnx.json: model_loader.args.model_file_path: models/model.onnx is an ONNX "
        "model; FrozenGraphModelLoader reads a frozen graph (.pb) (use OnnxModelLoader)"]
    config = validation_config(mmar, "cv_pb.json", "OnnxModelLoader", "model.fzn.pb")
    assert lines(mmar, config) == [
        "config/cv_pb.json: model_loader.args.model_file_path: models/model.fzn.pb is a "
        "TensorFlow frozen graph; OnnxModelLoader reads an ONNX model (.onnx) (use "
        "FrozenGraphModelLoader)"]
    config = validation_config(mmar, "cv_sm.json", "FrozenGraphModelLoader", "saved_model")
    (line,) = lines(mmar, config)
    assert "models/saved_model is a SavedModel folder; FrozenGraphModelLoader reads" in line
    config = validation_config(mmar, "cv_ok.json", "FrozenGraphModelLoader", "model.fzn.pb")
    assert lines(mmar, config) == []


def test_a_graph_without_the_output_node_names_its_own_output(mmar):
    (mmar / "models" / "model.fzn.pb").write_bytes(
        graph_bytes((None, None, None, None, 1), "IN", "OUT"))
    config = validation_config(mmar, "cvf.json", "FrozenGraphModelLoader", "model.fzn.pb")
    assert lines(mmar, config) == [
        "config/cvf.json: model_loader.args.output_node_names: models/model.fzn.pb: the graph "
        "has no output node 'NV_MODEL_OUTPUT' (set \"output_node_names\": \"OUT\")"]
    config = validation_config(mmar, "cvf2.json", "FrozenGraphModelLoader", "model.fzn.pb",
                               output_node_names="OUT")
    assert lines(mmar, config) == []


def test_a_fixed_size_graph_and_another_roi_size(mmar):
    (mmar / "models" / "model.fzn.pb").write_bytes(graph_bytes((None, 48, 48, 48, 1)))
    config = validation_config(mmar, "cv32.json", "FrozenGraphModelLoader", "model.fzn.pb",
                               roi=[32, 32, 32])
    assert lines(mmar, config) == [
        "config/cv32.json: inferer.args.roi_size: model.fzn.pb takes a fixed input of "
        "[48, 48, 48] (dynamic_input_shape false) but the inferer's roi_size is [32, 32, 32] "
        "(set roi_size to [48, 48, 48])"]
    config = validation_config(mmar, "cv48.json", "FrozenGraphModelLoader", "model.fzn.pb",
                               roi=[48, 48, 48])
    assert lines(mmar, config) == []


def test_check_and_validate_refuse_it_before_tensorflow(mmar):
    # Wired into check (each validation config) and validate/infer's pre-flight: the same
    # line, before any TensorFlow start-up.
    import os
    import subprocess
    import sys

    from typer.testing import CliRunner

    from mmarctl.cli import app

    assert CliRunner().invoke(app, ["data", "synth", str(mmar), "--cases", "2",
                                    "--size", "16"]).exit_code == 0
    (mmar / "models" / "model.onnx").write_bytes(b"\x08\x08\x3a\x00")
    config = validation_config(mmar, "cv_onnx.json", "FrozenGraphModelLoader", "model.onnx")
    line = ("config/cv_onnx.json: model_loader.args.model_file_path: models/model.onnx is an "
            "ONNX model; FrozenGraphModelLoader reads a frozen graph (.pb)")
    result = CliRunner().invoke(app, ["check", str(mmar), "--config", config])
    assert result.exit_code == 1 and line in result.output, result.output
    done = subprocess.run([sys.executable, "-m", "mmarctl", "validate", str(mmar), "--config",
                           config], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 1 and line in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
