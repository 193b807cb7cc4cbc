"""Model files told apart from their bytes (no TensorFlow), and TF1 sources run as their graphs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mmarctl.model_files import scan_models  # noqa: E402
from mmarctl.model_files.graph_info import summarize_graph_def  # noqa: E402

tf = pytest.importorskip("tensorflow")

import tf1_artifacts  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """3D channels-first dynamic (2 classes), 2D channels-first fixed (3 classes),
    3D channels-last fixed (1 class)."""
    base = tmp_path_factory.mktemp("tf1")
    made = {}
    for tag, kwargs in {"3d_cf": dict(dims=3, channels=2, classes=2),
                        "2d_cf_fixed": dict(dims=2, channels=2, classes=3, size=(16, 16)),
                        "3d_cl_fixed": dict(dims=3, channels=1, classes=1, size=(16, 16, 16),
                                            channels_first=False)}.items():
        made[tag] = (base / tag, tf1_artifacts.build(base / tag, **kwargs), kwargs)
    return made


def test_inventory_tells_tf1_from_tf2_and_reads_the_graph(models, tmp_path):
    folder = models["3d_cf"][0]
    items = {i.path.name: i for i in scan_models(folder)}
    ckpt, frozen = items["model.ckpt"], items["model.fzn.pb"]
    assert (ckpt.kind, frozen.kind) == ("tf1_checkpoint", "frozen_graph")
    assert ckpt.has_meta and ckpt.layout == frozen.layout == "channels_first"
    assert ckpt.input_shape == (None, 2, None, None, None) and not ckpt.fixed_shape
    assert (ckpt.input, ckpt.output) == ("NV_MODEL_INPUT", "NV_MODEL_OUTPUT")
    assert "12 optimizer slots" in ckpt.details[0]  # 6 variables x Adam m, v
    fixed = {i.path.name: i for i in scan_models(models["2d_cf_fixed"][0])}["model.fzn.pb"]
    assert fixed.input_shape == (None, 2, 16, 16) and fixed.fixed_shape
    assert fixed.layout == "channels_first"
    last = {i.path.name: i for i in scan_models(models["3d_cl_fixed"][0])}["model.ckpt"]
    assert last.layout == "channels_last"

    # mmarctl's own TF2 object checkpoint, and a TF1 checkpoint whose .meta is gone.
    tf.train.Checkpoint(v=tf.Variable([1.0, 2.0])).write(str(tmp_path / "model.ckpt"))
    assert [i.kind for i in scan_models(tmp_path)] == ["tf2_checkpoint"]
    bare = tmp_path / "bare"
    tf1_artifacts.build(bare, dims=2, frozen=None, meta=False)
    (item,) = scan_models(bare)
    assert item.kind == "tf1_checkpoint" and not item.has_meta
    assert item.uses["validate/infer"].startswith("no: the graph (.meta) is missing")


def test_tensorrt_graph_is_recognised_without_tensorflow(models, tmp_path):
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((models["3d_cf"][0] / "model.fzn.pb").read_bytes())
    node = graph_def.node.add()
    node.name, node.op = "TRTEngineOp_0", "TRTEngineOp"
    (tmp_path / "model.trt.pb").write_bytes(graph_def.SerializeToString())
    assert summarize_graph_def(graph_def.SerializeToString()).tensorrt
    (item,) = scan_models(tmp_path)
    assert item.kind == "tftrt_graph"
    assert "make model.fzn.pb with `mmarctl export`" in item.uses["validate/infer"]


def test_light_readers_do_not_import_tensorflow(models):
    code = ("import sys; from mmarctl.model_files import describe_models; "
            f"lines = describe_models({str(models['3d_cf'][0])!r}); "
            "assert len(lines) == 2, lines; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("tag", ["3d_cf", "2d_cf_fixed", "3d_cl_fixed"])
def test_tf1_checkpoint_and_frozen_graph_match_the_numpy_twin(models, tag):
    from mmarctl.runtime.model_sources import open_source

    folder, weights, kwargs = models[tag]
    dims, channels = kwargs["dims"], kwargs["channels"]
    batch = np.random.default_rng(3).standard_normal((2, *(16,) * dims, channels)).astype("f")
    first = kwargs.get("channels_first", True)
    expected = tf1_artifacts.twin(weights, np.moveaxis(batch, -1, 1) if first else batch, first)
    if first:
        expected = np.moveaxis(expected, 1, -1)
    ckpt = open_source("tf1_checkpoint", folder / "model.ckpt")
    frozen = open_source("frozen_graph", folder / "model.fzn.pb")
    from_ckpt, from_frozen = ckpt.predict(batch), frozen.predict(batch)
    assert from_ckpt.shape == expected.shape == (2, *(16,) * dims, kwargs["classes"])
    # float16 section: the twin rounds where TF does, but accumulates in float64.
    np.testing.assert_allclose(from_ckpt, expected, atol=3e-3)
    # Session and eager runs may round one float16 value apart (seen: 5.5e-6).
    np.testing.assert_allclose(from_frozen, from_ckpt, atol=5e-5)
    assert ckpt.fixed_spatial == (kwargs.get("size") or None)


def test_tf1_checkpoint_names_a_missing_node(models):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.model_sources import open_source

    with pytest.raises(RuntimeFailure, match="the graph has no output node 'probs'"):
        open_source("tf1_checkpoint", models["3d_cf"][0] / "model.ckpt", output_name="probs")


def test_finetune_import_refuses_an_unmatched_network_and_maps_a_matching_one(models):
    import keras

    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.model_sources.weight_import import import_tf1_weights

    folder, weights, _ = models["3d_cl_fixed"]
    other = keras.Sequential([keras.Input((16, 16, 16, 1)),
                              keras.layers.Conv3D(4, 3, name="conv_a")], name="net")
    before = [w.numpy().copy() for w in other.weights]
    with pytest.raises(RuntimeFailure) as raised:
        import_tf1_weights(folder / "model.ckpt", other)
    assert "the network's variable net/conv_a/kernel [3, 3, 3, 1, 4] has no TF1 variable" in str(
        raised.value)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, other.weights))

    inputs = keras.Input((16, 16, 16, 1))
    h = keras.layers.Conv3D(4, 3, padding="same", name="conv1")(inputs)
    h = keras.layers.BatchNormalization(name="bn1", epsilon=1e-3)(h)
    h = keras.layers.Conv3D(1, 1, name="conv2")(keras.layers.ReLU()(h))
    same = keras.Model(inputs, h, name="net")
    mapping = dict(import_tf1_weights(folder / "model.ckpt", same))
    assert mapping["conv1/kernel"] == "conv1/kernel" and len(mapping) == 8
    np.testing.assert_array_equal(same.get_layer("bn1").moving_variance.numpy(),
                                  weights["bn1/moving_variance"])


# --- Damaged or mismatched TF1 artifacts: one line from check and from every verb's loader ---

@pytest.mark.parametrize("garbage, why", [(b"this is not a meta graph\n", "unsupported wire type"),
                                          (b"\x0a\x05abc", "runs past the end"),
                                          (b"", "no graph nodes")])
def test_a_corrupt_meta_is_a_problem_for_check_and_one_line_for_the_loader(tmp_path, garbage,
                                                                           why):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.model_sources import open_source

    folder = tmp_path / "models"
    tf1_artifacts.build(folder, dims=2, frozen=None)
    (folder / "model.ckpt.meta").write_bytes(garbage)
    (item,) = scan_models(folder)
    assert item.kind == "tf1_checkpoint" and not item.has_meta
    assert item.problem.startswith(f"corrupt: not a TF1 MetaGraphDef (")
    assert why in item.problem and "--model fzn" in item.problem
    assert item.uses["validate/infer"] == "no: its graph (.meta) is corrupt"
    with pytest.raises(RuntimeFailure) as raised:
        open_source("tf1_checkpoint", folder / "model.ckpt")
    assert raised.value.message == item.meta_error
    assert raised.value.file.endswith("model.ckpt.meta")


def test_a_graph_for_other_channels_is_a_problem_and_the_loader_names_the_channels(models):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.model_sources import open_source

    folder = models["3d_cf"][0]  # 2 input channels
    items = {i.path.name: i for i in scan_models(folder, channels=1)}
    for name in ("model.ckpt", "model.fzn.pb"):
        assert items[name].problem.startswith(
            "the graph's input NV_MODEL_INPUT takes 2 channels but the training config's "
            "output_image_channels is 1"), name
    assert not any(i.problem for i in scan_models(folder, channels=2))

    one_channel = np.zeros((1, 8, 8, 8, 1), np.float32)
    for kind, name in (("tf1_checkpoint", "model.ckpt"), ("frozen_graph", "model.fzn.pb")):
        with pytest.raises(RuntimeFailure) as raised:
            open_source(kind, folder / name).predict(one_channel)
        assert raised.value.message == ("the graph's input NV_MODEL_INPUT takes 2 channels but "
                                        "the input of shape (1, 1, 8, 8, 8) has 1"), kind
        assert "trained on 2-channel images" in raised.value.hint
        assert "roi_size" not in raised.value.hint


def test_a_fixed_size_graph_still_asks_for_the_roi_size(models):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.model_sources import open_source

    source = open_source("tf1_checkpoint", models["2d_cf_fixed"][0] / "model.ckpt")
    with pytest.raises(RuntimeFailure, match="does not fit NV_MODEL_INPUT") as raised:
        source.predict(np.zeros((1, 8, 8, 2), np.float32))
    assert "roi_size" in raised.value.hint


def test_a_meta_without_its_weights_names_the_missing_files(tmp_path):
    from types import SimpleNamespace

    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.model_loaders.checkpoint import CheckpointLoader

    folder = tmp_path / "models"
    tf1_artifacts.build(folder, dims=2, frozen=None)
    (folder / "model.ckpt.index").unlink()
    (item,) = scan_models(folder)
    assert "without its weights: model.ckpt.index not found" in item.details[0]
    with pytest.raises(RuntimeFailure) as raised:
        CheckpointLoader().load(SimpleNamespace(root=tmp_path), None)
    assert raised.value.message == ("a TF1 checkpoint's graph without its weights: "
                                    "model.ckpt.index not found")
    assert raised.value.file.endswith("model.ckpt.meta")
    assert "copy the checkpoint's .index and .data-* files" in raised.value.hint
    assert "TF2" not in raised.value.hint
    for data in folder.glob("model.ckpt.data-*"):
        data.unlink()
    with pytest.raises(RuntimeFailure, match="model.ckpt.index and "
                                             "model.ckpt.data-00000-of-00001 not found"):
        CheckpointLoader().load(SimpleNamespace(root=tmp_path), None)


def test_onnx_export_of_a_channels_first_graph_runs_channels_last_batches(models, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    import json
    from types import SimpleNamespace

    from mmarctl.runtime.export.graph_export import write_onnx
    from mmarctl.runtime.export.serving import ServingSpec
    from mmarctl.runtime.model_loaders.onnx_loader import OnnxModelLoader
    from mmarctl.runtime.model_sources import open_source

    folder = models["3d_cf"][0]
    frozen = open_source("frozen_graph", folder / "model.fzn.pb")
    spec = ServingSpec((None, 2, None, None, None), 2, layout="channels_first")
    (tmp_path / "models").mkdir()
    write_onnx(frozen.graph_def(), spec, tmp_path / "models" / "model.onnx")
    batch = np.random.default_rng(5).standard_normal((1, 8, 8, 8, 2)).astype("f")
    loader = OnnxModelLoader(providers=["CPUExecutionProvider"])
    # Without export.json the input's shape (batch, 2, x, y, z) says channels first.
    predict = loader.load(SimpleNamespace(root=tmp_path))
    assert predict.source.layout == "channels_first"
    np.testing.assert_allclose(predict(batch), frozen.predict(batch), atol=3e-3)
    # export.json's layout when it lists the ONNX file.
    (tmp_path / "models" / "export.json").write_text(json.dumps(
        {"layout": "channels_first", "formats": {"onnx": {"path": "models/model.onnx"}},
         "input": {"name": "NV_MODEL_INPUT"}, "output": {"name": "NV_MODEL_OUTPUT"}}))
    predict = loader.load(SimpleNamespace(root=tmp_path))
    assert predict.source.layout_reason == "export.json"
    np.testing.assert_allclose(predict(batch), frozen.predict(batch), atol=3e-3)


def test_a_truncated_data_file_says_what_failed(tmp_path):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.model_sources import open_source

    folder = tmp_path / "models"
    tf1_artifacts.build(folder, dims=2, frozen=None)
    (data,) = folder.glob("model.ckpt.data-*")
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(RuntimeFailure) as raised:
        open_source("tf1_checkpoint", folder / "model.ckpt")
    assert raised.value.message == ("cannot restore the TF1 checkpoint: Read less bytes than "
                                    "requested")
    assert "copy the checkpoint again" in raised.value.hint


def test_a_damaged_frozen_graph_without_checkpoint_is_not_sent_to_export(tmp_path):
    from mmarctl.errors import RuntimeFailure
    from mmarctl.runtime.export.frozen_graph import read_graph_def

    (tmp_path / "model.fzn.pb").write_bytes(b"\x0a\x05abc")
    with pytest.raises(RuntimeFailure, match="not a frozen TensorFlow graph") as raised:
        read_graph_def(tmp_path / "model.fzn.pb")
    assert "copy model.fzn.pb again" in raised.value.hint
    tf1_artifacts.build(tmp_path, dims=2, frozen=None)
    with pytest.raises(RuntimeFailure) as raised:
        read_graph_def(tmp_path / "model.fzn.pb")
    assert "mmarctl export --format fzn" in raised.value.hint
