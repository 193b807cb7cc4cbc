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
                                             "--size", "24"],
                 ["train", root, "--epochs", "1", "--seed", "1"]):
        done = _run(*map(str, args))
        assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def mmar(trained, tmp_path) -> Path:
    root = tmp_path / "mmar"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("eval"))
    return root


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
