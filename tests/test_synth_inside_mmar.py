"""``data synth cl/data`` for a classification workspace ``cl``: the folder lies in that MMAR,
so its PROCESSING_TASK picks the data, as ``data synth cl`` does. It used to write spleen
segmentation data, which train then refused."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mmarctl.cli import app

runner = CliRunner()


def test_a_data_folder_inside_a_classification_mmar_gets_classification_data(tmp_path):
    root = tmp_path / "cl"
    assert runner.invoke(app, ["clone", "classification", str(root)]).exit_code == 0
    result = runner.invoke(app, ["data", "synth", str(root / "data"), "--cases", "4",
                                 "--size", "16"])
    assert result.exit_code == 0, result.output
    assert "classification cases (nodule)" in result.output
    datalist = json.loads((root / "data" / "dataset_0.json").read_text())
    assert isinstance(datalist["training"][0]["label"], list)  # class vectors, not masks


def test_kind_still_decides(tmp_path):
    root = tmp_path / "cl"
    assert runner.invoke(app, ["clone", "classification", str(root)]).exit_code == 0
    result = runner.invoke(app, ["data", "synth", str(root / "other"), "--kind", "spleen",
                                 "--cases", "4", "--size", "16"])
    assert result.exit_code == 0 and "segmentation cases (spleen)" in result.output
