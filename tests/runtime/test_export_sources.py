"""Freshness of exports whose source is not models/model.ckpt, and Triton models of other
names: after ``export --ckpt models/model_final.ckpt`` the warning used to call that
checkpoint "an older checkpoint" and advise re-exporting model.ckpt; after
``clone --with-models`` the source MMAR's ``triton/<its name>/`` was never named."""

from __future__ import annotations

import json

from mmarctl.runtime.checkpoint import checkpoint_files
from mmarctl.runtime.export.freshness import older_exports, stale_export_warning
from mmarctl.runtime.export.manifest import checkpoint_digest


def _pair(prefix, weights):
    files = checkpoint_files(prefix)
    files[0].write_bytes(b"index")
    files[1].write_bytes(weights)
    return files


def models(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir(parents=True)
    _pair(folder / "model.ckpt", b"best")
    final = _pair(folder / "model_final.ckpt", b"final")
    (folder / "model.onnx").write_bytes(b"onnx")
    (folder / "export.json").write_text(json.dumps({
        "source": {"checkpoint": "models/model_final.ckpt",
                   "checkpoint_sha256": checkpoint_digest(final)},
        "formats": {"onnx": {"path": "models/model.onnx"}}}))
    return folder


def test_an_export_from_a_chosen_checkpoint_names_it(tmp_path):
    folder = models(tmp_path)
    warning = stale_export_warning(folder / "model.onnx", tmp_path, _shown(tmp_path))
    assert warning == ("models/model.onnx was exported from models/model_final.ckpt (as "
                       "models/export.json records), not from models/model.ckpt")


def test_a_chosen_checkpoint_that_changed_since_is_named_with_its_own_export(tmp_path):
    folder = models(tmp_path)
    (folder / "model_final.ckpt.data-00000-of-00001").write_bytes(b"retrained")
    warning = stale_export_warning(folder / "model.onnx", tmp_path, _shown(tmp_path))
    assert "exported from an older models/model_final.ckpt" in warning
    assert "--ckpt models/model_final.ckpt --format onnx" in warning


def test_triton_models_of_other_names_are_older(tmp_path):
    folder = tmp_path / "models"
    for name in ("ex", "sp"):
        (folder / "triton" / name / "1").mkdir(parents=True)
        (folder / "triton" / name / "config.pbtxt").write_text("")
        (folder / "triton" / name / "1" / "model.onnx").write_bytes(b"onnx")
    (folder / "triton" / "notes").mkdir()  # not a model: not judged
    manifest = {"formats": {"triton": {"model_name": "ex"}}}
    assert older_exports(folder, manifest, "ex") == [folder / "triton" / "sp"]


def _shown(root):
    return lambda path: path.relative_to(root).as_posix()
