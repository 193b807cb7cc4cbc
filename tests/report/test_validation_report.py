"""``mmarctl validate`` writes eval/report.html; a real headless Chromium renders it."""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from report_mmars import classification_mmar, segmentation_mmar  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mmarctl.cli import app  # noqa: E402
from mmarctl.report.overlays import GT_COLOURS, PRED_COLOURS  # noqa: E402


def validate(root: Path, *extra: str) -> str:
    result = CliRunner().invoke(app, ["validate", str(root), *extra])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def segmentation(tmp_path_factory) -> tuple[Path, str]:
    root = segmentation_mmar(tmp_path_factory.mktemp("report") / "seg")
    return root, validate(root)


def test_validate_writes_a_self_contained_report(segmentation):
    root, output = segmentation
    # A path the user can open from where they ran validate (here: outside the MMAR).
    assert f"report page: {(root / 'eval' / 'report.html').resolve()}" in output
    page = (root / "eval" / "report.html").read_text(encoding="utf-8")
    per_case = json.loads((root / "eval" / "metrics.json").read_text())["per_case"]
    assert len(per_case) == 4
    assert "<title>Validation report: seg</title>" in page
    assert f"<dd>{root}</dd>" in page and "CheckpointLoader (" in page
    assert "<dt>key metric</dt><dd>mean_dice</dd>" in page
    # One picture per case (4 <= 2 x 5), embedded; no src or href leaves the file.
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4
    assert not re.findall(r'(?:src|href)="(?!data:|#)', page)
    # The last case's label was emptied: centred on the prediction, and said so.
    assert re.search(r"<b>spleen_\d+\.nii\.gz</b>: label empty: through the prediction",
                     page)
    assert "through the label&#x27;s centre" in page


def _colour_pixels(image: np.ndarray, hex_colour: str) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], np.float32)
    return int((np.abs(image[..., :3] * 255 - target).max(axis=-1) < 40).sum())


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.mark.timeout(180)
def test_report_renders_in_headless_chromium(segmentation, tmp_path):
    """Title and summary shown, every image decoded, no console or page error, the table
    sorts on a click, and the screenshot shows the page with both contour colours."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="no playwright (pip install -e '.[dev]')")
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium (apt-get install chromium)")
    root, _ = segmentation
    shot = tmp_path / "report.png"
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((root / "eval" / "report.html").as_uri())
            assert page.title() == "Validation report: seg"
            assert "mean_dice" in page.inner_text("#metrics")
            assert "cases\n4" in page.inner_text("#summary").replace("\t", "\n")
            loaded = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
            assert loaded == [True] * 4

            def column(n: int) -> list[str]:
                return page.eval_on_selector_all(
                    f"#cases tbody tr td:nth-child({n})", "tds => tds.map(t => t.dataset.v)")

            before = column(1)
            page.click("#cases thead th:nth-child(2)")  # mean_dice, ascending
            ascending = [float(v) for v in column(2)]
            finite = [v for v in ascending if not math.isnan(v)]
            assert finite == sorted(finite) and len(finite) >= 3
            page.click("#cases thead th:nth-child(2)")  # descending
            descending = [float(v) for v in column(2) if v != "NaN"]
            assert descending == sorted(finite, reverse=True)
            page.click("#cases thead th:nth-child(1)")  # by case name
            assert column(1) == sorted(before) and column(1) != column(2)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    from matplotlib.image import imread

    image = imread(str(shot))
    assert image.shape[0] > 600 and image.shape[1] == 1300
    assert image[..., :3].std() > 0.1  # not blank
    assert _colour_pixels(image, GT_COLOURS[0]) > 50  # ground-truth contours
    assert _colour_pixels(image, PRED_COLOURS[0]) > 50  # prediction contours
    # Kept for a look by eye: pytest --basetemp=DIR keeps it under DIR.
    shutil.copy(shot, root / "eval" / "report_screenshot.png")


def test_unwritable_report_warns_once_and_validation_succeeds(segmentation, tmp_path,
                                                              caplog):
    root, _ = segmentation
    out = tmp_path / "out"
    (out / "report.html").mkdir(parents=True)  # the report's name is taken by a folder
    with caplog.at_level(logging.WARNING, logger="mmarctl.report"):
        output = validate(root, "--set", f"MMAR_EVAL_OUTPUT_PATH={out}")
    assert "validated 4 cases" in output and "report page" not in output
    assert (out / "metrics.json").is_file()
    warnings = [r.getMessage() for r in caplog.records if r.name == "mmarctl.report"]
    assert len(warnings) == 1 and warnings[0].startswith(f"report: {out / 'report.html'} "
                                                         "not written:")


def test_classification_report_has_roc_and_confusion(tmp_path):
    root = classification_mmar(tmp_path / "cls")
    output = validate(root)
    assert f"report page: {(root / 'eval' / 'report.html').resolve()}" in output
    page = (root / "eval" / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 1
    assert "<b>ROC curve and confusion matrix</b>: 12 cases" in page
    assert "<th>case</th><th>auc</th><th>truth</th><th>predicted</th><th>score</th>" in page
    assert page.count('<tr><td data-v="img_') == 12
    # the page's truth / predicted / score, machine-readable, keyed as metrics_per_case.csv
    with (root / "eval" / "predictions.csv").open(newline="") as handle:
        predicted = list(csv.DictReader(handle))
    with (root / "eval" / "metrics_per_case.csv").open(newline="") as handle:
        assert [r["case"] for r in predicted] == [r["case"] for r in csv.DictReader(handle)]
    assert list(predicted[0]) == ["case", "truth", "predicted", "score", "class_0"]
    datalist = json.loads((root / "data" / "dataset_0.json").read_text())
    truth = {str((root / "data" / i["image"]).resolve()): i["label"][0]
             for i in datalist["validation"]}
    for row in predicted:
        assert int(row["truth"]) == truth[str(Path(row["case"]).resolve())], row
        assert int(row["predicted"]) == (float(row["score"]) > 0.5), row
        assert row["score"] == row["class_0"]
