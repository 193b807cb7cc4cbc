"""A damaged models/export.json is said, not silently read as no manifest: validate/infer then
run the exports without its node names, layout and freshness check. TF-free."""

from __future__ import annotations

from mmarctl.runtime.export.freshness import stale_export_warning
from mmarctl.runtime.export.manifest import manifest_problem


def test_a_damaged_export_json_is_one_warning_naming_what_is_lost(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx")
    assert manifest_problem(folder) is None  # not there: nothing to say
    (folder / "export.json").write_text('{"formats": ')
    shown = lambda p: str(p.relative_to(tmp_path))  # noqa: E731
    assert manifest_problem(folder, shown) == "models/export.json:1:13: invalid JSON: " \
        "Expecting value"
    warning = stale_export_warning(folder / "model.onnx", tmp_path, shown)
    assert warning.startswith("models/export.json:1:13: invalid JSON: Expecting value: the "
                              "exports' node names and layout it records")
    assert f"mmarctl export {tmp_path} --format onnx" in warning and "\n" not in warning
    (folder / "export.json").write_text("[]")
    assert manifest_problem(folder, shown) == "models/export.json: not a JSON object"
