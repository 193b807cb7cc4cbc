"""Each export format on its own: written from a small Conv3D model, read back, compared."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = tf.keras

from mmarctl.errors import RuntimeFailure  # noqa: E402
from mmarctl.runtime.export.frozen_graph import (graph_nodes, load_frozen_graph,  # noqa: E402
                                                 read_graph_def, write_frozen_graph)
from mmarctl.runtime.export.saved_model import load_saved_model, write_saved_model  # noqa: E402
from mmarctl.runtime.export.serving import ServingSpec, serving_function  # noqa: E402


def conv_model(classes: int = 3, channels: int = 2):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, None, channels))
    x = keras.layers.Conv3D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv3D(classes, 1, activation="softmax")(x))


def sample(shape=(2, 6, 6, 4, 2), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


FIXED = ServingSpec(input_shape=(None, 6, 6, 4, 2), output_channels=3)
DYNAMIC = ServingSpec(input_shape=(None, None, None, None, 2), output_channels=3)


def test_serving_spec_shapes():
    assert FIXED.output_shape == (None, 6, 6, 4, 3)
    assert FIXED.spatial_dims == 3 and not FIXED.dynamic
    assert DYNAMIC.dynamic
    classifier = ServingSpec((None, 64, 64, 1), 2, spatial_output=False)
    assert classifier.output_shape == (None, 2) and classifier.spatial_dims == 2


@pytest.mark.parametrize("spec", [FIXED, DYNAMIC], ids=["fixed", "dynamic"])
def test_frozen_graph_round_trip(tmp_path, spec):
    model = conv_model()
    path = write_frozen_graph(serving_function(model, spec), tmp_path / "model.fzn.pb")
    nodes = graph_nodes(read_graph_def(path))
    assert nodes["NV_MODEL_INPUT"].op == "Placeholder"
    assert nodes["NV_MODEL_OUTPUT"].op == "Identity"
    assert not any(n.op in ("VarHandleOp", "ReadVariableOp") for n in nodes.values())
    predict = load_frozen_graph(path)  # input found as the only placeholder
    assert predict.input_shape == spec.input_shape
    x = sample()
    np.testing.assert_allclose(predict(x), model(x).numpy(), atol=1e-6)


def test_fixed_frozen_graph_rejects_other_sizes(tmp_path):
    path = write_frozen_graph(serving_function(conv_model(), FIXED), tmp_path / "m.pb")
    with pytest.raises(RuntimeFailure, match=r"does not fit .*NV_MODEL_INPUT \[None, 6, 6, 4, 2\]"):
        load_frozen_graph(path)(sample((1, 8, 6, 4, 2)))


def test_frozen_graph_dynamic_runs_other_sizes(tmp_path):
    model = conv_model()
    path = write_frozen_graph(serving_function(model, DYNAMIC), tmp_path / "m.pb")
    x = sample((1, 10, 4, 6, 2))
    np.testing.assert_allclose(load_frozen_graph(path)(x), model(x).numpy(), atol=1e-6)


def test_frozen_graph_unknown_node_lists_candidates(tmp_path):
    path = write_frozen_graph(serving_function(conv_model(), FIXED), tmp_path / "m.pb")
    with pytest.raises(RuntimeFailure, match="no output node 'logits'") as info:
        load_frozen_graph(path, output_name="logits")
    assert "NV_MODEL_OUTPUT" in info.value.hint
    with pytest.raises(RuntimeFailure, match="no input node 'x'"):
        load_frozen_graph(path, input_name="x")


@pytest.mark.parametrize("content", [b"", b"\xff\xfe garbage \x00\x01"])
def test_not_a_frozen_graph(tmp_path, content):
    path = tmp_path / "model.fzn.pb"
    path.write_bytes(content)
    with pytest.raises(RuntimeFailure, match="not a frozen TensorFlow graph"):
        load_frozen_graph(path)


def test_saved_model_signature(tmp_path):
    model = conv_model()
    spec = ServingSpec((None, None, None, None, 2), 3, "img", "prob")
    path = write_saved_model(model, serving_function(model, spec), tmp_path / "saved_model")
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    assert list(signature.structured_input_signature[1]) == ["img"]
    assert list(signature.structured_outputs) == ["prob"]
    x = sample()
    np.testing.assert_allclose(load_saved_model(path, "img", "prob")(x), model(x).numpy(),
                               atol=1e-6)
    with pytest.raises(RuntimeFailure, match="takes \\['img'\\]"):
        load_saved_model(path, "NV_MODEL_INPUT", "prob")


def test_saved_model_missing_folder(tmp_path):
    with pytest.raises(RuntimeFailure, match="cannot load SavedModel"):
        load_saved_model(tmp_path / "nothing", "a", "b")


@pytest.fixture
def onnx():
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    return pytest.importorskip("onnx")


@pytest.mark.usefixtures("onnx")
class TestOnnx:

    @pytest.mark.parametrize("spec", [FIXED, DYNAMIC], ids=["fixed", "dynamic"])
    def test_round_trip_names_and_dims(self, tmp_path, spec, onnx):
        from mmarctl.runtime.export.onnx_model import OPSET, load_onnx_model, onnx_io, write_onnx

        model = conv_model()
        path = write_onnx(serving_function(model, spec), spec, tmp_path / "model.onnx")
        proto = onnx.load(str(path))
        assert proto.opset_import[0].version == OPSET
        io = onnx_io(path)
        assert io["inputs"] == [("NV_MODEL_INPUT", list(spec.input_shape), "float32")]
        assert io["outputs"] == [("NV_MODEL_OUTPUT", list(spec.output_shape), "float32")]
        dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
        assert dims[0] == "batch"
        if spec.dynamic:
            assert dims[1:4] == ["x", "y", "z"]
        x = sample()
        np.testing.assert_allclose(load_onnx_model(path)(x), model(x).numpy(), atol=1e-5)

    def test_wrong_input_rank_is_one_error(self, tmp_path):
        from mmarctl.runtime.export.onnx_model import load_onnx_model, write_onnx

        path = write_onnx(serving_function(conv_model(), FIXED), FIXED, tmp_path / "m.onnx")
        with pytest.raises(RuntimeFailure, match="ONNX Runtime failed on input"):
            load_onnx_model(path)(sample((1, 6, 6, 2)))

    def test_unknown_names(self, tmp_path):
        from mmarctl.runtime.export.onnx_model import load_onnx_model, write_onnx

        path = write_onnx(serving_function(conv_model(), FIXED), FIXED, tmp_path / "m.onnx")
        with pytest.raises(RuntimeFailure, match="maps \\['NV_MODEL_INPUT'\\]"):
            load_onnx_model(path, "image")

    def test_not_an_onnx_file(self, tmp_path):
        from mmarctl.runtime.export.onnx_model import load_onnx_model

        path = tmp_path / "m.onnx"
        path.write_bytes(b"nope")
        with pytest.raises(RuntimeFailure, match="cannot load the model"):
            load_onnx_model(path)
