"""The exported-model readers name a file of the other kind as such, with the loader that reads
it, not with the protobuf parser's or ONNX Runtime's words and "re-export it"."""

from __future__ import annotations

import pytest

from mmarctl.errors import RuntimeFailure

tf = pytest.importorskip("tensorflow")
pytest.importorskip("onnxruntime")


def test_an_onnx_file_read_as_a_frozen_graph_and_the_reverse(tmp_path):
    from mmarctl.runtime.export.frozen_graph import read_graph_def
    from mmarctl.runtime.export.onnx_model import load_onnx_model

    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"\x08\x08\x3a\x00")  # ir_version 8, an empty graph
    with pytest.raises(RuntimeFailure) as info:
        read_graph_def(onnx_file)
    assert str(info.value) == (f"{onnx_file}: an ONNX model, not a frozen TensorFlow graph "
                               "(read it with OnnxModelLoader (--model onnx))")
    graph = tf.compat.v1.GraphDef()
    node = graph.node.add(name="NV_MODEL_INPUT", op="Placeholder")
    node.attr["dtype"].type = 1
    graph.node.add(name="NV_MODEL_OUTPUT", op="Identity", input=["NV_MODEL_INPUT"])
    pb = tmp_path / "model.fzn.pb"
    pb.write_bytes(graph.SerializeToString())
    with pytest.raises(RuntimeFailure) as info:
        load_onnx_model(pb, providers=["CPUExecutionProvider"])
    assert str(info.value) == (f"{pb}: a TensorFlow frozen graph, not an ONNX model (read it "
                               "with FrozenGraphModelLoader (--model fzn))")


def test_a_graph_without_the_output_node_names_its_likely_output(tmp_path):
    from mmarctl.runtime.model_sources import open_source

    graph = tf.compat.v1.GraphDef()
    node = graph.node.add(name="IN", op="Placeholder")
    node.attr["dtype"].type = 1
    graph.node.add(name="OUT", op="Identity", input=["IN"])
    graph.node.add(name="Identity", op="Identity", input=["OUT"])
    pb = tmp_path / "model.fzn.pb"
    pb.write_bytes(graph.SerializeToString())
    with pytest.raises(RuntimeFailure) as info:
        open_source("frozen_graph", pb, input_name="IN", output_name="NV_MODEL_OUTPUT")
    assert str(info.value) == (f"{pb}: the graph has no output node 'NV_MODEL_OUTPUT' (its "
                               "output looks like 'OUT': name it with output_node_names "
                               "(Clara's --output_node_names))")
