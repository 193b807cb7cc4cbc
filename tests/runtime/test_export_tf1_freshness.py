"""An export of a Clara TF1 checkpoint is not "from an older checkpoint": its export.json digest
covers the .meta too, and validate/infer compared it with the .index and .data only. TF-free."""

from __future__ import annotations

import json

from mmarctl.runtime.export.freshness import stale_export_warning
from mmarctl.runtime.export.manifest import checkpoint_digest

TF1_FILES = ("model.ckpt.index", "model.ckpt.data-00000-of-00001", "model.ckpt.meta")


def test_an_export_of_the_tf1_checkpoint_is_not_older_than_it(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in TF1_FILES:
        (folder / name).write_bytes(name.encode())
    (folder / "model.onnx").write_bytes(b"onnx")
    (folder / "export.json").write_text(json.dumps({
        "source": {"format": "tf1_checkpoint", "checkpoint": "models/model.ckpt",
                   "checkpoint_sha256": checkpoint_digest([folder / n for n in TF1_FILES])},
        "formats": {"onnx": {"path": "models/model.onnx"}}}))
    assert stale_export_warning(folder / "model.onnx", tmp_path) is None
    (folder / "model.ckpt.data-00000-of-00001").write_bytes(b"retrained")
    assert "older checkpoint" in stale_export_warning(folder / "model.onnx", tmp_path)
