"""validate and infer on cases the pre-flight cannot judge from headers: label values
beyond the network's classes (validate stops as train does, or skips the case), and an
``--input`` image with another channel count than the network takes (the message says
channels, not spatial sizes). Nothing of a refused run is written to eval/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.distributed.tiny_spleen import shrink_spleen

pytest.importorskip("tensorflow")


def _run(verb: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmarctl", verb, *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def _validation_file(root: Path, field: str) -> Path:
    datalist = json.loads((root / "data" / "dataset_0.json").read_text())
    return root / "data" / datalist["validation"][0][field]


def _eval_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "eval").glob("*") if not p.name.startswith("."))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The spleen scaffold with 4 tiny cases, trained one epoch."""
    root = tmp_path_factory.mktemp("eval_bad_cases") / "mmar"
    for args in (["clone", "spleen", root], ["data", "synth", root, "--cases", "4",
                                             "--size", "24"]):
        done = _run(*map(str, args))
        assert done.returncode == 0, done.stderr
    shrink_spleen(root)  # 16^3 crops: validation of bad cases is under test
    done = _run("train", str(root), "--epochs", "1", "--seed", "1")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def mmar(trained, tmp_path) -> Path:
    root = tmp_path / "mmar"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("eval"))
    return root


def _labels_five(path: Path) -> None:
    image = nib.load(str(path))
    array = np.asarray(image.dataobj).copy()
    array[array > 0] = 5
    nib.save(nib.Nifti1Image(array, image.affine, image.header), str(path))


@pytest.mark.slow
def test_validate_stops_on_labels_beyond_num_classes(mmar):
    label = _validation_file(mmar, "label")
    _labels_five(label)

    done = _run("validate", mmar)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # Refused by the pre-flight, before the model is loaded: check reads the label values.
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    name = label.relative_to(mmar / "data").as_posix()
    assert line.startswith("error: config/config_validation.json: label_transforms: "), line
    assert f"hold values 0..5, outside 0..1 (num_classes=2): {name} (0..5)" in line, line
    assert _eval_files(mmar) == []


@pytest.mark.slow
def test_validate_skips_such_a_case_with_skip_bad_cases(mmar):
    _labels_five(_validation_file(mmar, "label"))
    bad_case = str(_validation_file(mmar, "image"))
    datalist = mmar / "data" / "dataset_0.json"
    lists = json.loads(datalist.read_text())
    lists["validation"] = lists["training"][:1] + lists["validation"]
    datalist.write_text(json.dumps(lists))

    done = _run("validate", mmar, "--set", "skip_bad_cases=true")

    assert done.returncode == 0, done.stderr
    assert "skipping a bad case" in done.stderr and "outside 0..1" in done.stderr
    metrics = json.loads((mmar / "eval" / "metrics.json").read_text())
    assert [s["case"] for s in metrics["skipped"]] == [bad_case]
    assert len(metrics["per_case"]) == 1
    page = (mmar / "eval" / "report.html").read_text()  # the page says so too
    assert "1 (+1 skipped as unusable: skip_bad_cases" in page
    assert f'title="{bad_case}"' in page and "outside 0..1" in page


@pytest.mark.slow
def test_infer_input_with_two_channels_says_channels(mmar, tmp_path):
    source = nib.load(str(_validation_file(mmar, "image")))
    array = np.asarray(source.dataobj, dtype=np.float32)
    two = tmp_path / "two_channels.nii.gz"
    nib.save(nib.Nifti1Image(np.stack([array, array], -1), source.affine), str(two))

    done = _run("infer", mmar, "--input", two)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert two.name in line and "2 channel(s) but the network takes 1" in line, line
    assert "spatial sizes" not in line
    assert _eval_files(mmar) == []
