"""The built-in scaffolds run end to end: clone -> data synth -> train -> validate / infer.

Slow (each trains a network). They check what a user of the scaffold relies on: spleen masks
come back on the input image's grid, and the classification model separates the classes in
inference mode (validate), not only in training mode.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.distributed.tiny_spleen import shrink_spleen

pytest.importorskip("tensorflow")
nib = pytest.importorskip("nibabel")



def invoke(*args) -> str:
    """Run ``mmarctl ARGS`` in its own process, as a user would; fail with the output
    unless it exits 0. (In-process, the log handlers a run installs keep pytest's captured
    stderr, which is closed when the test ends.)"""
    result = subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)],
                            capture_output=True, text=True, timeout=540)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def _datalist(root: Path, key: str) -> list[dict]:
    return json.loads((root / "data" / "dataset_0.json").read_text())[key]


@pytest.mark.slow
def test_spleen_masks_on_the_input_grid(tmp_path):
    root = tmp_path / "spleen"
    invoke("clone", "spleen", root)
    # 32..40 voxels a side at ~1.6 x 1.6 x 2.5 mm: ScaleByResolution (2.5 x 2.5 x 3 mm)
    # changes every axis, so a mask left on the resampled grid would show.
    invoke("data", "synth", root, "--cases", 4, "--size", 32, "--seed", 0)
    shrink_spleen(root)  # 16^3 crops and window: the grids are under test, not the Dice
    invoke("train", root, "--epochs", 1, "--seed", 0)

    invoke("infer", root)
    cases = _datalist(root, "validation")
    assert cases
    dice = []
    for case in cases:
        source = nib.load(root / "data" / case["image"])
        name = Path(case["image"]).name.removesuffix(".nii.gz")
        mask = nib.load(root / "eval" / name / f"{name}_model.nii.gz")
        assert mask.shape == source.shape
        np.testing.assert_allclose(mask.affine, source.affine, atol=1e-6)
        for coded in ("get_sform", "get_qform"):
            got, code = getattr(mask.header, coded)(coded=True)
            want, want_code = getattr(source.header, coded)(coded=True)
            assert code == want_code
            np.testing.assert_allclose(got, want, atol=1e-5)
        np.testing.assert_allclose(mask.header.get_zooms(), source.header.get_zooms())
        assert mask.get_data_dtype() == np.uint8
        values = np.asarray(mask.dataobj)
        assert set(np.unique(values)) <= {0, 1}  # nearest neighbour: class indices only
        label = np.asarray(nib.load(root / "data" / case["label"]).dataobj) > 0.5
        predicted = values == 1
        dice.append(2 * (predicted & label).sum() / (predicted.sum() + label.sum()))

    output = invoke("validate", root)
    assert "mean_dice" in output
    for name in ("metrics.json", "metrics_per_case.csv", "metrics_summary.txt"):
        assert (root / "eval" / name).is_file(), name
    reported = json.loads((root / "eval" / "metrics.json").read_text())
    # validate scores on the input grid too: its Dice equals the one of the written masks.
    assert reported["summary"]["mean_dice"]["value"] == pytest.approx(np.mean(dice), abs=1e-6)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_classification_scaffold_separates_classes_in_inference_mode(tmp_path):
    # The scaffold's defaults on the default synthetic set (40 images, 80 training steps):
    # about 80 s of training on 2 CPU cores. With Keras's batch-norm momentum this ended
    # with every validation image scored alike (AUC about 0.5).
    root = tmp_path / "classification"
    invoke("clone", "classification", root)
    invoke("data", "synth", root, "--seed", 0)
    invoke("train", root)

    output = invoke("validate", root)
    assert "auc" in output
    reported = json.loads((root / "eval" / "metrics.json").read_text())
    auc = reported["summary"]["auc"]["value"]
    assert auc >= 0.9, output
    assert (root / "eval" / "auc_per_class.csv").is_file()
