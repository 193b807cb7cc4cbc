"""FrozenGraphModelLoader and OnnxModelLoader: the exported files as validation models."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = tf.keras

from mmarctl.errors import ConfigError, RuntimeFailure  # noqa: E402
from mmarctl.runtime import registry  # noqa: E402
from mmarctl.runtime.export.frozen_graph import write_frozen_graph  # noqa: E402
from mmarctl.runtime.export.serving import ServingSpec, serving_function  # noqa: E402
from mmarctl.runtime.model_loaders.frozen_graph import FrozenGraphModelLoader  # noqa: E402
from mmarctl.runtime.model_loaders.onnx_loader import OnnxModelLoader  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402

SPEC = ServingSpec((None, None, None, None, 1), 2)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, None, None, 1))
    x = keras.layers.Conv3D(3, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv3D(2, 1, activation="softmax")(x))


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "models").mkdir()
    return Workspace(tmp_path)


def batch():
    return np.random.default_rng(2).standard_normal((2, 8, 6, 4, 1)).astype(np.float32)


def test_frozen_graph_loader_predicts_like_the_model(workspace, model):
    write_frozen_graph(serving_function(model, SPEC), workspace.models_dir / "model.fzn.pb")
    loader = FrozenGraphModelLoader("models/model.fzn.pb")  # relative to the MMAR root
    assert loader.get_config() == {"model_file_path": "models/model.fzn.pb"}
    predict = loader.load(workspace, None)
    np.testing.assert_allclose(predict(batch()), model(batch()).numpy(), atol=1e-6)


def test_trt_pb_falls_back_to_fzn_pb_with_a_warning(workspace, model, capsys):
    write_frozen_graph(serving_function(model, SPEC), workspace.models_dir / "model.fzn.pb")
    loader = FrozenGraphModelLoader(str(workspace.models_dir / "model.trt.pb"))
    assert loader.model_file(workspace).name == "model.fzn.pb"
    assert "warning: model.trt.pb not found; loading model.fzn.pb" in capsys.readouterr().err
    np.testing.assert_allclose(loader.load(workspace)(batch()), model(batch()).numpy(),
                               atol=1e-6)


def test_trt_pb_is_read_when_present(workspace, model, capsys):
    write_frozen_graph(serving_function(model, SPEC), workspace.models_dir / "model.trt.pb")
    loader = FrozenGraphModelLoader("models/model.trt.pb")
    assert loader.model_file(workspace).name == "model.trt.pb"
    assert "warning" not in capsys.readouterr().err


def test_node_names_come_from_the_export_manifest(workspace, model):
    spec = ServingSpec((None, None, None, None, 1), 2, "img", "probs")
    write_frozen_graph(serving_function(model, spec), workspace.models_dir / "model.fzn.pb")
    (workspace.models_dir / "export.json").write_text(json.dumps(
        {"input": {"name": "img"}, "output": {"name": "probs"}}))
    predict = FrozenGraphModelLoader("models/model.fzn.pb").load(workspace)
    assert predict(batch()).shape == (2, 8, 6, 4, 2)


def test_missing_graph(workspace):
    with pytest.raises(RuntimeFailure, match="no frozen graph at") as info:
        FrozenGraphModelLoader("models/model.trt.pb").load(workspace)
    assert "mmarctl export --format fzn" in info.value.hint


@pytest.mark.parametrize("cls", [FrozenGraphModelLoader, OnnxModelLoader])
@pytest.mark.parametrize("value", [None, "", 3])
def test_bad_model_file_path(cls, value):
    with pytest.raises(ConfigError, match="model_file_path must be a file path; Received"):
        cls(model_file_path=value)


def test_onnx_loader_bad_providers():
    with pytest.raises(ConfigError, match="providers must be a list"):
        OnnxModelLoader(providers="CPUExecutionProvider")


def test_onnx_loader_predicts_like_the_model(workspace, model):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from mmarctl.runtime.export.onnx_model import write_onnx

    write_onnx(serving_function(model, SPEC), SPEC, workspace.models_dir / "model.onnx")
    predict = OnnxModelLoader(providers=["CPUExecutionProvider"]).load(workspace)
    np.testing.assert_allclose(predict(batch()), model(batch()).numpy(), atol=1e-5)


def test_onnx_loader_missing_file(workspace):
    with pytest.raises(RuntimeFailure, match="no ONNX model at") as info:
        OnnxModelLoader().load(workspace)
    assert "--format onnx" in info.value.hint


@pytest.mark.parametrize("name, cls", [("FrozenGraphModelLoader", FrozenGraphModelLoader),
                                       ("OnnxModelLoader", OnnxModelLoader)])
def test_registered_under_clara_names(name, cls):
    assert registry.lookup("model_loaders", name) is cls


def test_onnx_runtime_errors_keep_their_continuation_lines():
    from mmarctl.runtime.export.onnx_model import one_line

    error = RuntimeError("Got invalid dimensions for input: NV_MODEL_INPUT for the following "
                         "indices\n index: 1 Got: 48 Expected: 1\n Please fix either the "
                         "inputs/outputs or the model.\n")
    assert one_line(error) == ("Got invalid dimensions for input: NV_MODEL_INPUT for the "
                               "following indices index: 1 Got: 48 Expected: 1 Please fix "
                               "either the inputs/outputs or the model.")
    assert one_line(RuntimeError("x" * 1000)).endswith("...")
