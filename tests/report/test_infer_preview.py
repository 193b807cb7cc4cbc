"""``mmarctl infer --preview``: a PNG per case beside the outputs; none for classification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from report_mmars import classification_mmar, segmentation_mmar  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mmarctl.cli import app  # noqa: E402
from mmarctl.report.overlays import GT_COLOURS, PRED_COLOURS  # noqa: E402


def colour_pixels(path: Path, hex_colour: str) -> int:
    from matplotlib.image import imread

    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], np.float32)
    image = imread(str(path))[..., :3] * 255
    return int((np.abs(image - target).max(axis=-1) < 40).sum())


def test_preview_per_case_with_prediction_contours(tmp_path):
    root = segmentation_mmar(tmp_path / "seg", cases=2)
    out = tmp_path / "predictions"
    result = CliRunner().invoke(app, ["infer", str(root), "--output", str(out), "--preview"])
    assert result.exit_code == 0, result.output
    previews = sorted((out / "preview").iterdir())
    assert [p.name for p in previews] == ["spleen_1_preview.png", "spleen_2_preview.png"]
    lines = result.output.splitlines()
    assert [l for l in lines if l.startswith("preview: ")] == [
        f"preview: {p}" for p in previews]
    # The writer's masks are where they always were (a folder per case).
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nii.gz")) == [
        "spleen_1/spleen_1_model.nii.gz", "spleen_2/spleen_2_model.nii.gz"]
    for path in previews:
        assert colour_pixels(path, PRED_COLOURS[0]) > 20  # prediction contours
        assert colour_pixels(path, GT_COLOURS[0]) == 0  # no ground truth in infer

    # Without --preview: no preview folder.
    plain = tmp_path / "plain"
    result = CliRunner().invoke(app, ["infer", str(root), "--output", str(plain)])
    assert result.exit_code == 0 and not (plain / "preview").exists()
    assert "preview:" not in result.output


def test_classification_infer_says_there_is_no_preview(tmp_path):
    root = classification_mmar(tmp_path / "cls", cases=4)
    result = CliRunner().invoke(app, ["infer", str(root), "--preview"])
    assert result.exit_code == 0, result.output
    assert "--preview: a classification network has no image preview" in result.output
    assert not (root / "eval" / "preview").exists()
    assert sorted(p.name for p in (root / "eval").iterdir()) == ["preds_model.csv"]
