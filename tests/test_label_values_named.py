"""Label values beyond num_classes: the one-line error names the label file, not the image."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402

runner = CliRunner()


@pytest.mark.slow
def test_out_of_range_labels_name_the_label_file(tmp_path: Path):
    pytest.importorskip("tensorflow")
    # The second training case's label holds a 3; the pre-flight reads only the first case,
    # so the run meets it in epoch 1.
    root = make_mmar(tmp_path / "m", bad_label=True, n_train=2)
    result = runner.invoke(app, ["train", str(root), "--epochs", "1"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    label = root.resolve() / "data" / "training_1_lbl.npy"
    assert f"{label}: label values 0..3 are outside 0..1 (num_classes=2)" in result.output
    assert "training_1_img.npy" not in result.output
