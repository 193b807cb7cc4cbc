"""Triton repository: config.pbtxt written, read back and held against the model."""

from __future__ import annotations

import pytest

from mmarctl.errors import RuntimeFailure, UsageError
from mmarctl.runtime.export import triton

IO = {"inputs": [("NV_MODEL_INPUT", [None, 96, 96, 64, 1], "float32")],
      "outputs": [("NV_MODEL_OUTPUT", [None, 96, 96, 64, 2], "float32")]}
DYNAMIC_IO = {"inputs": [("NV_MODEL_INPUT", [None, None, None, None, 1], "float32")],
              "outputs": [("NV_MODEL_OUTPUT", [None, None, None, None, 2], "float32")]}


def repository(tmp_path, io=IO, max_batch_size=4):
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"onnx bytes")
    return triton.write_repository(tmp_path / "triton", "spleen", onnx_file, io, max_batch_size)


def test_config_round_trip(tmp_path):
    folder = repository(tmp_path)
    assert (folder / "1" / "model.onnx").read_bytes() == b"onnx bytes"
    config = triton.check_config(folder, IO)
    assert config["name"] == ["spleen"]
    assert config["platform"] == ["onnxruntime_onnx"]
    assert config["backend"] == ["onnxruntime"]
    assert config["max_batch_size"] == ["4"]
    (tensor,) = config["input"]
    assert tensor == {"name": ["NV_MODEL_INPUT"], "data_type": ["TYPE_FP32"],
                      "dims": ["96", "96", "64", "1"]}  # batch axis left out: max_batch_size > 0
    assert config["output"][0]["dims"] == ["96", "96", "64", "2"]


def test_no_batching_keeps_batch_axis_and_dynamic_is_minus_one(tmp_path):
    folder = repository(tmp_path, DYNAMIC_IO, max_batch_size=0)
    config = triton.check_config(folder, DYNAMIC_IO)
    assert config["input"][0]["dims"] == ["-1", "-1", "-1", "-1", "1"]


@pytest.mark.parametrize("io, match", [
    ({**IO, "outputs": [("probs", [None, 96, 96, 64, 2], "float32")]}, "output names"),
    ({**IO, "inputs": [("NV_MODEL_INPUT", [None, 96, 96, 32, 1], "float32")]},
     r"config says \[96, 96, 64, 1\] TYPE_FP32, the model has \[96, 96, 32, 1\]"),
    ({**IO, "inputs": [("NV_MODEL_INPUT", [None, 96, 96, 64, 1], "float16")]}, "TYPE_FP16"),
])
def test_check_config_catches_disagreement(tmp_path, io, match):
    folder = repository(tmp_path)
    with pytest.raises(RuntimeFailure, match=match):
        triton.check_config(folder, io)


def test_check_config_needs_model_file(tmp_path):
    folder = repository(tmp_path)
    (folder / "1" / "model.onnx").unlink()
    with pytest.raises(RuntimeFailure, match="no model file"):
        triton.check_config(folder, IO)


def test_negative_max_batch_size(tmp_path):
    with pytest.raises(UsageError, match="0 or more"):
        repository(tmp_path, max_batch_size=-1)


def test_unsupported_dtype():
    with pytest.raises(RuntimeFailure, match="no data type for complex64"):
        triton.render_config("m", [("x", [None, 1], "complex64")], [], 1)


@pytest.mark.parametrize("text, expected", [
    ("my-exp", "my-exp"), ("spleen seg (v2)", "spleen_seg__v2"), ("...", "mmar_model"),
])
def test_model_name(text, expected):
    assert triton.model_name(text) == expected


@pytest.mark.parametrize("name", ["a/b", "", "-x", "a b"])
def test_check_name_rejects(name):
    with pytest.raises(UsageError, match="--triton-name"):
        triton.check_name(name)


def test_parse_pbtxt_comments_escapes_and_lists():
    text = '''
        # a comment
        name: "a \\"quoted\\" name"  # trailing comment
        dims: [ 1, 2 ]
        dims: 3
        parameters { key: "x" value { string_value: "y" } }
    '''
    parsed = triton.parse_pbtxt(text)
    assert parsed["name"] == ['a "quoted" name']
    assert parsed["dims"] == ["1", "2", "3"]
    assert parsed["parameters"] == [{"key": ["x"], "value": [{"string_value": ["y"]}]}]


@pytest.mark.parametrize("text, match", [
    ("input [ { name: \"x\" ", "missing"),
    ("name: \"open", "unterminated"),
    ("dims: [1, 2", "missing"),
    ("} name: 1", "expected a field name"),
    ("name:", "no value"),
])
def test_parse_pbtxt_rejects(text, match):
    with pytest.raises(ValueError, match=match):
        triton.parse_pbtxt(text)
