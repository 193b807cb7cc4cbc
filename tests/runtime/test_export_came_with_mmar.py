"""A Clara MMAR's own files are not "an older export": exporting a Clara TF1 checkpoint called
Clara's shipped model.fzn.pb an older export to refresh or remove, and validate/infer then
warned it may be from an older checkpoint. TF-free."""

from __future__ import annotations

import json

from mmarctl.runtime.export.freshness import (came_with_mmar, older_exports,
                                               stale_export_warning)
from mmarctl.runtime.export.manifest import checkpoint_digest

TF1_FILES = ("model.ckpt.index", "model.ckpt.data-00000-of-00001", "model.ckpt.meta")


def clara_models(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir(parents=True)
    for name in TF1_FILES:
        (folder / name).write_bytes(name.encode())
    (folder / "model.fzn.pb").write_bytes(b"clara's graph")
    return folder


def export_json(folder, formats, **extra):
    sha = checkpoint_digest([folder / name for name in TF1_FILES])
    (folder / "model.onnx").write_bytes(b"onnx")
    manifest = {"source": {"format": "tf1_checkpoint", "checkpoint": "models/model.ckpt",
                           "checkpoint_sha256": sha}, "formats": formats, **extra}
    (folder / "export.json").write_text(json.dumps(manifest))
    return manifest


def test_clara_s_frozen_graph_came_with_the_mmar_and_is_not_older(tmp_path):
    folder = clara_models(tmp_path)
    sha = checkpoint_digest([folder / name for name in TF1_FILES])
    shipped = came_with_mmar(folder, None, sha, ["onnx", "savedmodel"],
                             lambda p: f"models/{p.name}")
    assert shipped == {"fzn": "models/model.fzn.pb"}
    manifest = export_json(folder, {"onnx": {"path": "models/model.onnx"}},
                           came_with_mmar=shipped)
    assert older_exports(folder, manifest, "tf1") == []
    assert stale_export_warning(folder / "model.fzn.pb", tmp_path) is None
    # kept by the next export of the same checkpoint, dropped once it writes the file
    assert came_with_mmar(folder, manifest, sha, ["onnx"]) == shipped
    assert came_with_mmar(folder, manifest, sha, ["fzn"]) == {}
    # a new checkpoint: Clara's graph is from an older one, and that is said
    (folder / "model.ckpt.data-00000-of-00001").write_bytes(b"retrained")
    assert "may be from an older checkpoint" in stale_export_warning(folder / "model.fzn.pb",
                                                                      tmp_path)
    assert came_with_mmar(folder, manifest, "another sha", ["onnx"]) == {}


def test_after_an_mmarctl_export_the_files_left_are_an_older_export_s(tmp_path):
    folder = clara_models(tmp_path)
    (folder / "export.json").write_text("{")  # there, even if unreadable
    assert came_with_mmar(folder, None, "sha", ["onnx"]) == {}
