"""older_exports: which files in the export folder export.json does not list (TF-free)."""

from __future__ import annotations

from mmarctl.runtime.export.exporter import SOURCE_ITSELF
from mmarctl.runtime.export.freshness import older_exports


def folder_with_every_artifact(tmp_path):
    out = tmp_path / "models"
    for name in ("model.fzn.pb", "model.onnx", "model.trt"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"x")
    for folder in ("saved_model", "triton/spleen/1", "triton/other_model"):
        (out / folder).mkdir(parents=True)
    return out


def test_unlisted_and_skipped_artifacts_are_older(tmp_path):
    out = folder_with_every_artifact(tmp_path)
    manifest = {"formats": {"onnx": {"path": "models/model.onnx"},
                            "trt": {"skipped": "no NVIDIA GPU"}}}
    older = older_exports(out, manifest, "spleen")
    assert sorted(older) == sorted([out / "model.fzn.pb", out / "saved_model",
                                    out / "triton" / "spleen", out / "model.trt"])
    assert out / "triton" / "other_model" not in older  # another model of the repository


def test_listed_artifacts_and_a_frozen_graph_source_are_not_older(tmp_path):
    out = folder_with_every_artifact(tmp_path)
    (out / "model.trt").unlink()
    manifest = {"formats": {"fzn": {"skipped": SOURCE_ITSELF},
                            "savedmodel": {"path": "models/saved_model"},
                            "onnx": {"path": "models/model.onnx"},
                            "triton": {"path": "models/triton/spleen", "model_name": "spleen"}}}
    assert older_exports(out, manifest, "ignored-name") == []


def test_nothing_on_disk_nothing_older(tmp_path):
    assert older_exports(tmp_path / "models", {"formats": {}}, "spleen") == []
