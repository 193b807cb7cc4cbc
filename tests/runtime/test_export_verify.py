"""Verification, the manifest, format parsing and the TensorRT availability rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mmarctl
from mmarctl.errors import RuntimeFailure, UsageError
from mmarctl.runtime.export import FORMATS, manifest, tensorrt_engine, verify
from mmarctl.runtime.export.exporter import check_node_name, parse_formats
from mmarctl.runtime.export.serving import ServingSpec


def test_sample_is_seeded():
    a = verify.sample_input((1, 4, 4, 2, 1), seed=5)
    assert a.dtype == np.float32 and a.shape == (1, 4, 4, 2, 1)
    np.testing.assert_array_equal(a, verify.sample_input((1, 4, 4, 2, 1), seed=5))
    assert not np.array_equal(a, verify.sample_input((1, 4, 4, 2, 1), seed=6))


@pytest.mark.parametrize("offset, passed", [(0.0, True), (5e-5, True), (2e-4, False)])
def test_verify_tolerance(offset, passed):
    reference = np.full((1, 2, 2, 2), 0.5, np.float32)
    predict = lambda x: reference + offset  # noqa: E731
    if passed:
        result = verify.verify("onnx", predict, reference, reference)
        assert result.passed and result.max_abs_diff == pytest.approx(offset, abs=1e-7)
    else:
        with pytest.raises(RuntimeFailure, match=r"onnx: output differs .* by 0.0002 "
                                                 r"\(tolerance 0.0001\)"):
            verify.verify("onnx", predict, reference, reference)


def test_verify_shape_and_nan():
    reference = np.zeros((1, 2, 2, 2), np.float32)
    with pytest.raises(RuntimeFailure, match="output shape"):
        verify.verify("fzn", lambda x: np.zeros((1, 2, 2, 3)), reference, reference)
    assert verify.max_abs_diff(reference, np.full_like(reference, np.nan)) == float("inf")
    with pytest.raises(RuntimeFailure, match="differs"):
        verify.verify("fzn", lambda x: np.full_like(reference, np.nan), reference, reference)


@pytest.mark.parametrize("values, expected, explicit", [
    (None, ["fzn"], {"fzn"}),
    (["all"], list(FORMATS), set()),
    (["onnx,fzn"], ["fzn", "onnx"], {"fzn", "onnx"}),
    (["triton", "ONNX", "tensorrt"], ["onnx", "triton", "trt"], {"onnx", "triton", "trt"}),
    (["saved_model", "all"], list(FORMATS), {"savedmodel"}),
])
def test_parse_formats(values, expected, explicit):
    assert parse_formats(values) == (expected, explicit)


@pytest.mark.parametrize("values", [["tflite"], ["fzn,pt"], [","]])
def test_parse_formats_rejects(values):
    with pytest.raises(UsageError):
        parse_formats(values)


@pytest.mark.parametrize("name", ["1abc", "a b", "", "x:0"])
def test_node_name_rejects(name):
    with pytest.raises(UsageError, match="Received"):
        check_node_name("--input-node", name)


def test_manifest_fields_and_merge(tmp_path):
    spec = ServingSpec((None, 8, 8, 4, 1), 2)
    source = {"checkpoint": "models/model.ckpt", "checkpoint_sha256": "abc"}
    first = manifest.build_manifest(source=source, spec=spec, sample_shape=(1, 8, 8, 4, 1),
                                    seed=0, tolerance=1e-4,
                                    formats={"fzn": {"path": "models/model.fzn.pb"}})
    assert first["mmarctl_version"] == mmarctl.__version__
    assert first["layout"] == "channels_last"
    assert first["input"]["shape"] == [None, 8, 8, 4, 1]
    assert first["output"]["shape"] == [None, 8, 8, 4, 2]
    assert first["output"]["axes"] == "N,X,Y,Z,K"
    manifest.write_manifest(tmp_path, first)
    assert json.loads((tmp_path / "export.json").read_text())["formats"] == first["formats"]

    previous = manifest.read_manifest(tmp_path)
    same = manifest.build_manifest(source=source, spec=spec, sample_shape=(1, 8, 8, 4, 1),
                                   seed=0, tolerance=1e-4, formats={"onnx": {}},
                                   previous=previous)
    assert set(same["formats"]) == {"fzn", "onnx"}
    other = manifest.build_manifest(source={**source, "checkpoint_sha256": "def"}, spec=spec,
                                    sample_shape=(1, 8, 8, 4, 1), seed=0, tolerance=1e-4,
                                    formats={"onnx": {}}, previous=previous)
    assert set(other["formats"]) == {"onnx"}  # new weights: older artifacts are not described


def test_damaged_manifest_is_ignored(tmp_path):
    (tmp_path / "export.json").write_text("{not json")
    assert manifest.read_manifest(tmp_path) is None


def test_checkpoint_digest_changes_with_content(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"1")
    b.write_bytes(b"2")
    assert manifest.checkpoint_digest([a, b]) != manifest.checkpoint_digest([b, a])


def test_trt_missing_names_what_is_absent(monkeypatch):
    import importlib.util
    import os

    monkeypatch.setattr(os.path, "exists", lambda p: False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert tensorrt_engine.missing() == "no NVIDIA GPU and the tensorrt package is not installed"
    monkeypatch.setattr(os.path, "exists", lambda p: True)
    assert tensorrt_engine.missing() == "the tensorrt package is not installed"
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "cuda.bindings" else object())
    assert tensorrt_engine.missing() == ("cuda-python (needed to verify the engine) "
                                         "is not installed")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert tensorrt_engine.missing() is None


def test_trt_without_tensorrt_is_a_missing_dependency(tmp_path, monkeypatch):
    import sys

    from mmarctl.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails
    with pytest.raises(MissingDependency, match="needs the tensorrt package"):
        tensorrt_engine.build_engine(tmp_path / "m.onnx", tmp_path / "m.trt", "x",
                                     ((1,), (1,), (1,)))


def test_trt_profile_shapes():
    fixed = tensorrt_engine.profile_shapes((1, 96, 96, 64, 1), (None, 96, 96, 64, 1), 4)
    assert fixed == ((1, 96, 96, 64, 1), (1, 96, 96, 64, 1), (4, 96, 96, 64, 1))
    dynamic = tensorrt_engine.profile_shapes((1, 96, 96, 64, 1), (None, None, None, None, 1), 1)
    assert dynamic == ((1, 48, 48, 32, 1), (1, 96, 96, 64, 1), (1, 192, 192, 128, 1))
