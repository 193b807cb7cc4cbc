"""ReportCollector and PreviewWriter on synthetic samples: which cases get a picture, the
page's content, and pictures that fail without stopping anything (no TensorFlow)."""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import numpy as np
import pytest

from mmarctl.report.collector import (PreviewWriter, ReportCollector, describe_model,
                                      lower_is_better)

SHAPE = (12, 10, 8)


def metric(name: str, key: bool = False) -> SimpleNamespace:
    return SimpleNamespace(name=name, is_key_metric=key)


def sample(foreground: bool = True, *, image_shape=(1, *SHAPE)) -> dict:
    """A post-transform segmentation sample in Clara's channels-first layout."""
    label = np.zeros((1, *SHAPE), np.float32)
    if foreground:
        label[0, 3:8, 3:7, 2:6] = 1
    model = np.zeros((1, *SHAPE), np.float32)
    model[0, 4:9, 3:7, 2:6] = 1
    meta = {f: {"channel_axis": 0} for f in ("image", "label", "model")}
    meta["label"]["pixdim"] = [1.0, 1.0, 2.0]
    image = np.random.default_rng(0).random(image_shape).astype(np.float32)
    return {"image": image, "label": label, "model": model, "meta": meta}


def images_in(page: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png;base64,', page))


def test_many_cases_draw_the_worst_and_best_by_the_key_metric(tmp_path):
    collector = ReportCollector([metric("mean_dice", key=True), metric("other")],
                                classification=False, per_side=2)
    for i in range(7):
        collector.add(f"/data/case_{i}.nii.gz", sample(), [i / 10, 1.0])
    collector.add("/data/case_nan.nii.gz", sample(), [float("nan"), 1.0])
    cases, note = collector.chosen()
    assert cases == ["/data/case_0.nii.gz", "/data/case_1.nii.gz",
                     "/data/case_5.nii.gz", "/data/case_6.nii.gz"]
    assert note == "the 2 worst and 2 best of 8 cases by mean_dice, worst first"
    path = collector.write(tmp_path, results={"mean_dice": 0.3, "other": 1.0},
                           model="CheckpointLoader (models)", mmar="/work/exp")
    page = path.read_text()
    assert path == tmp_path / "report.html" and images_in(page) == 4
    assert page.count("<tr><td data-v=\"case_") == 8  # every case in the table
    assert "CheckpointLoader (models)" in page and "/work/exp" in page
    # The summary: value, min, max, mean over the finite cases, count.
    row = re.search(r"<tr><td data-v=\"mean_dice\">mean_dice</td>(.*?)</tr>", page).group(1)
    assert re.findall(r">([^<]*)</td>", row) == ["0.3000", "0.0000", "0.6000", "0.3000", "7"]
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched


def test_planes_kept_only_for_cases_that_can_still_be_drawn():
    collector = ReportCollector([metric("mean_dice")], classification=False, per_side=2)
    values = np.random.default_rng(5).permutation(30) / 30
    most = 0
    for i, value in enumerate(values):
        collector.add(f"c{i}", sample(), [float(value)])
        most = max(most, len(collector.views))
    assert most == 4  # never more than the 2 worst and 2 best so far
    order = [f"c{i}" for i in np.argsort(values)]
    assert collector.chosen() == (order[:2] + order[-2:],
                                  "the 2 worst and 2 best of 30 cases by mean_dice, "
                                  "worst first")


def test_every_case_drawn_when_few_and_memory_holds_only_planes(tmp_path):
    collector = ReportCollector([metric("hausdorff")], classification=False)
    for i, value in enumerate([3.0, 9.0, 1.0]):
        collector.add(f"c{i}", sample(), [value])
    assert lower_is_better("hausdorff") and not lower_is_better("mean_dice")
    assert collector.chosen() == (["c1", "c0", "c2"], "every case, worst first by hausdorff")
    for view in collector.views.values():
        arrays = [a for p in view.panels for a in (p.image, p.label, p.prediction)]
        assert all(a.ndim == 2 and a.dtype == np.uint8 for a in arrays)
    # pixdim (1, 1, 2) stretches the planes that show z.
    assert [p.aspect for p in collector.views["c0"].panels] == [1.0, 2.0, 2.0]


def test_bad_case_is_one_warning_and_the_report_still_written(tmp_path, caplog):
    collector = ReportCollector([metric("mean_dice")], classification=False)
    collector.add("good.nii.gz", sample(), [0.8])
    collector.add("empty.nii.gz", sample(foreground=False), [0.0])
    collector.add("fourd.nii.gz", sample(image_shape=(1, 3, *SHAPE)), [0.5])
    collector.add("fourd2.nii.gz", sample(image_shape=(1, 3, *SHAPE)), [0.5])
    with caplog.at_level(logging.WARNING, logger="mmarctl.report"):
        path = collector.write(tmp_path, results={"mean_dice": 0.5}, model="m", mmar="x")
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings[0].startswith("report: no picture of fourd: cannot draw a 4D image")
    assert warnings[1:] == ["report: 1 more picture(s) could not be drawn"]
    page = path.read_text()
    assert images_in(page) == 2  # good and empty
    assert "label empty: through the prediction&#x27;s centre" in page
    assert "2 picture(s) could not be drawn" in page
    assert "1 case(s) have an empty label" in page


def test_unwritable_report_is_one_warning(tmp_path, caplog):
    (tmp_path / "report.html").mkdir()  # writable as root too: the name is taken
    collector = ReportCollector([metric("mean_dice")], classification=False)
    collector.add("a", sample(), [0.5])
    with caplog.at_level(logging.WARNING, logger="mmarctl.report"):
        assert collector.write(tmp_path, results={}, model="m", mmar="x") is None
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith(f"report: {tmp_path / 'report.html'} "
                                                     "not written: ")


def test_classification_has_roc_and_table_columns(tmp_path):
    collector = ReportCollector([metric("auc", key=True)], classification=False)
    rng = np.random.default_rng(3)
    for i in range(10):
        label = float(i % 2)
        score = np.clip(label * 0.6 + rng.random() * 0.5, 0, 1)
        collector.add(f"img_{i}", {"model": np.array([score]), "label": np.array([label])},
                      [float("nan")])
    assert collector.classification  # a score vector switches the collector over
    page = collector.write(tmp_path, results={"auc": 0.9}, model="m", mmar="x").read_text()
    assert images_in(page) == 1 and "ROC curve and confusion matrix" in page
    assert re.search(r"<th>case</th><th>auc</th><th>truth</th><th>predicted</th>"
                     r"<th>score</th>", page)
    # the AUC is over the run: its case count is the 10 cases, not 0 finite per-case values
    assert collector.summary({"auc": 0.9})["auc"]["count"] == 10


def test_multi_label_cases_name_their_findings_not_an_argmax():
    """[1, 1] and [0, 0] are not "class 0" (D7): a multi-label case lists its findings."""
    from mmarctl.report.collector import class_outcome

    scores = np.array([0.7, 0.2, 0.9])
    assert class_outcome(scores, [1, 1, 0])[2] == {"truth": "0;1", "predicted": "0;2",
                                                   "score": 0.9}
    assert class_outcome(scores, [0, 0, 0])[2]["truth"] == "none"
    assert class_outcome([0.1, 0.3], [0, 0])[2]["predicted"] == "none"
    # one class per case keeps the argmax (a class index is made one-hot)
    assert class_outcome(scores, [0, 0, 1])[2] == {"truth": 2, "predicted": 2, "score": 0.9}
    assert class_outcome(scores, [1])[2]["truth"] == 1
    assert class_outcome([0.8], [0])[2] == {"truth": 0, "predicted": 1, "score": 0.8}


def test_preview_writer(tmp_path, caplog):
    writer = PreviewWriter(tmp_path / "preview")
    first = writer.add("/a/scan.nii.gz", sample())
    second = writer.add("/b/scan.nii.gz", sample())
    with caplog.at_level(logging.WARNING, logger="mmarctl.report"):
        assert writer.add("/c/bad.nii.gz", sample(image_shape=(1, 3, *SHAPE))) is None
        assert writer.add("/c/bad2.nii.gz", sample(image_shape=(1, 3, *SHAPE))) is None
        writer.finish()
    assert first == tmp_path / "preview" / "scan_preview.png"
    assert second == tmp_path / "preview" / "scan__preview.png"
    assert first.read_bytes()[:4] == b"\x89PNG" and writer.written == [first, second]
    assert [r.getMessage() for r in caplog.records] == [
        "preview: no picture of bad: cannot draw a 4D image (shape (1, 3, 12, 10, 8)); "
        "pictures show 2D images or 3D volumes", "preview: 1 more case(s) without a preview"]


@pytest.mark.parametrize("entry, text", [
    ({"name": "CheckpointLoader", "args": {"checkpoint_dir": "/m/models"}},
     "CheckpointLoader (/m/models)"),
    ({"name": "OnnxModelLoader", "args": {"model_file_path": "models/model.onnx"}},
     "OnnxModelLoader (models/model.onnx)"),
    ({"path": "my.Loader"}, "my.Loader"),
])
def test_describe_model(entry, text):
    assert describe_model(entry) == text


def test_skipped_cases_are_counted_and_listed(tmp_path):
    """skip_bad_cases: the page (archived or mailed as it is) says which cases it leaves out
    and why, as metrics_summary.txt does, and that its summary is over the others."""
    collector = ReportCollector([metric("mean_dice")], classification=False)
    collector.add("/data/a/ct.nii.gz", sample(), [0.5], shown="a/ct.nii.gz")
    collector.skip("/data/b/broken.nii.gz", "cannot read NIfTI image <x>", shown="b/broken")
    page = collector.write(tmp_path, results={"mean_dice": 0.5}, model="m",
                           mmar="/x").read_text()
    assert re.search(r"<dt>cases</dt><dd>1 \(\+1 skipped as unusable: skip_bad_cases", page)
    assert ('<tr><td title="/data/b/broken.nii.gz">b/broken</td>'
            '<td style="text-align:left">cannot read NIfTI image &lt;x&gt;</td></tr>') in page
    assert "over the 1 validated case(s)" in page
    # nothing skipped: the count alone, no section
    collector = ReportCollector([metric("mean_dice")], classification=False)
    collector.add("/data/a/ct.nii.gz", sample(), [0.5])
    page = collector.write(tmp_path, results={"mean_dice": 0.5}, model="m",
                           mmar="/x").read_text()
    assert "<dt>cases</dt><dd>1</dd>" in page and "Skipped" not in page
