"""Two cases with one file name in different folders (one folder per patient): infer and
validate keep them apart in the NIfTI outputs, the per-case tables and the report."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from report_mmars import segmentation_mmar  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mmarctl.cli import app  # noqa: E402


@pytest.fixture(scope="module")
def per_patient(tmp_path_factory):
    """A segmentation MMAR whose two validation cases are p1/ct.nii.gz and p2/ct.nii.gz."""
    root = segmentation_mmar(tmp_path_factory.mktemp("names") / "seg", cases=2)
    datalist = root / "data" / "dataset_0.json"
    data = json.loads(datalist.read_text())
    moved = []
    for index, entry in enumerate(data["validation"][:2], start=1):
        folder = root / "data" / f"p{index}"
        folder.mkdir()
        shutil.move(root / "data" / entry["image"], folder / "ct.nii.gz")
        shutil.move(root / "data" / entry["label"], folder / "seg.nii.gz")
        moved.append({"image": f"p{index}/ct.nii.gz", "label": f"p{index}/seg.nii.gz"})
    data["validation"] = moved
    datalist.write_text(json.dumps(data))
    return root


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def voxels(path):
    import nibabel as nib

    return np.asarray(nib.load(path).dataobj)


def test_infer_datalist_writes_each_case_apart(per_patient, tmp_path):
    out = tmp_path / "out"
    invoke("infer", per_patient, "--output", out, "--preview")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nii.gz")) == [
        "p1/ct/ct_model.nii.gz", "p2/ct/ct_model.nii.gz"]
    assert sorted(p.relative_to(out / "preview").as_posix()
                  for p in (out / "preview").rglob("*.png")) \
        == ["p1/ct_preview.png", "p2/ct_preview.png"]
    # each file holds its own case's mask: the same as inferring that image alone
    for patient in ("p1", "p2"):
        alone = tmp_path / f"alone_{patient}"
        invoke("infer", per_patient, "--input", per_patient / "data" / patient / "ct.nii.gz",
               "--output", alone)
        np.testing.assert_array_equal(voxels(out / patient / "ct" / "ct_model.nii.gz"),
                                      voxels(alone / "ct" / "ct_model.nii.gz"))
    assert not np.array_equal(voxels(out / "p1/ct/ct_model.nii.gz"),
                              voxels(out / "p2/ct/ct_model.nii.gz"))


def test_infer_inputs_with_one_file_name(per_patient, tmp_path):
    for folder, suffix in (("dupA", ".nii"), ("dupB", ".nii.gz")):
        (tmp_path / folder).mkdir()
        source = per_patient / "data" / ("p1" if folder == "dupA" else "p2") / "ct.nii.gz"
        if suffix == ".nii":
            import nibabel as nib

            nib.save(nib.load(source), tmp_path / folder / "case.nii")
        else:
            shutil.copy(source, tmp_path / folder / "case.nii.gz")
    out = tmp_path / "out"
    invoke("infer", per_patient, "-i", tmp_path / "dupA" / "case.nii",
           "-i", tmp_path / "dupB" / "case.nii.gz", "--output", out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nii.gz")) == [
        "dupA/case/case_model.nii.gz", "dupB/case/case_model.nii.gz"]


def test_validate_tables_and_report_name_each_case(per_patient, tmp_path):
    out = per_patient / "eval"
    invoke("validate", per_patient)
    rows = list(csv.reader((out / "metrics_per_case.csv").open()))
    assert [r[0].replace("\\", "/").rsplit("/", 2)[-2:] for r in rows[1:]] == [
        ["p1", "ct.nii.gz"], ["p2", "ct.nii.gz"]]
    cases = [row["case"] for row in json.loads((out / "metrics.json").read_text())["per_case"]]
    assert len(set(cases)) == 2
    page = (out / "report.html").read_text()
    assert ">p1/ct.nii.gz<" in page and ">p2/ct.nii.gz<" in page


def test_infer_input_folder_is_refused_as_a_folder(per_patient):
    result = CliRunner().invoke(app, ["infer", str(per_patient), "-i",
                                      str(per_patient / "data" / "p1")])
    assert result.exit_code != 0
    assert "--input names a folder; it takes image files" in result.output
    assert "not found" not in result.output
