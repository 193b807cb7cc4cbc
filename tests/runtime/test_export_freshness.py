"""validate/infer warn when the exported model they run is older than models/model.ckpt."""

from __future__ import annotations

import json

from mmarctl.runtime.export.freshness import stale_export_warning
from mmarctl.runtime.export.manifest import checkpoint_digest


def models(tmp_path, weights=b"w1"):
    folder = tmp_path / "models"
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "model.ckpt.index", folder / "model.ckpt.data-00000-of-00001"]
    files[0].write_bytes(b"index")
    files[1].write_bytes(weights)
    (folder / "model.onnx").write_bytes(b"onnx")
    (folder / "model.fzn.pb").write_bytes(b"fzn")
    (folder / "export.json").write_text(json.dumps({
        "source": {"checkpoint_sha256": checkpoint_digest(files)},
        "formats": {"onnx": {"path": "models/model.onnx"}}}))
    return folder


def test_same_checkpoint_no_warning_retrained_one_line(tmp_path):
    folder = models(tmp_path)
    assert stale_export_warning(folder / "model.onnx", tmp_path) is None
    (folder / "model.ckpt.data-00000-of-00001").write_bytes(b"retrained")
    warning = stale_export_warning(folder / "model.onnx", tmp_path)
    assert "model.onnx was exported from an older checkpoint" in warning
    assert f"mmarctl export {tmp_path} --format onnx" in warning and "\n" not in warning


def test_file_left_from_an_earlier_export_is_called_out(tmp_path):
    folder = models(tmp_path)
    warning = stale_export_warning(folder / "model.fzn.pb", tmp_path)
    assert "model.fzn.pb is not listed in" in warning and "--format fzn" in warning


def test_nothing_to_compare_no_warning(tmp_path):
    folder = models(tmp_path, weights=b"other")
    (folder / "model.ckpt.data-00000-of-00001").write_bytes(b"changed")
    (folder / "model.ckpt.index").unlink()  # checkpoint gone
    assert stale_export_warning(folder / "model.onnx", tmp_path) is None
    folder = models(tmp_path / "b")
    (folder / "model.ckpt.data-00000-of-00001").write_bytes(b"changed")
    (folder / "export.json").unlink()  # never exported by mmarctl
    assert stale_export_warning(folder / "model.onnx", tmp_path) is None


def test_clara_config_naming_model_trt_pb_warns_for_the_fzn_fallback(tmp_path, caplog):
    """Clara 3.x validation configs name model.trt.pb; the loader reads model.fzn.pb when it
    is missing, so the stale warning is for that file (it never fired before)."""
    import logging

    from mmarctl.runtime.evaluation import _warn_if_stale
    from mmarctl.workspace import Workspace

    (tmp_path / "config").mkdir()
    folder = models(tmp_path)
    (folder / "model.ckpt.data-00000-of-00001").write_bytes(b"retrained")
    entry = {"name": "FrozenGraphModelLoader",
             "args": {"model_file_path": str(folder / "model.trt.pb")}}
    with caplog.at_level(logging.WARNING, logger="mmarctl.evaluate"):
        _warn_if_stale(Workspace(tmp_path), entry)
    assert "model.fzn.pb is not listed in" in caplog.text and "--format fzn" in caplog.text
