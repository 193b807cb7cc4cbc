"""`mmarctl check` holds each validation config to the training config as validate and
infer's pre-flight do: a chain missing training's channel step, WritePng for a 3-D network,
and label files that training maps (0/255 with ThresholdValues) but label_transforms do not.
check passed all three; validate/infer then refused them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.check.broken_mmars import edit_json, mmar, problem_lines, spleen  # noqa: F401
from tests.check.test_validation_channels import LINE, _points_in_training
from tests.check.test_validation_label_values import _mapped_in_training, _masks_of_255

from mmarctl.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path / "cache"))


def _check(root: Path) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["check", str(root)])
    return result.exit_code, problem_lines(result.output)


def test_a_chain_missing_trainings_channel_step(mmar):  # noqa: F811
    edit_json(mmar / "config" / "config_train.json", _points_in_training)
    code, lines = _check(mmar)
    assert code == 1 and LINE in lines, lines


def test_writepng_for_the_3d_network(mmar):  # noqa: F811
    edit_json(mmar / "config" / "config_validation.json", lambda c: c.update(writers=[
        {"name": "WritePng", "args": {"field": "model", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}]))
    code, lines = _check(mmar)
    assert code == 1 and any(line.startswith(
        "config/config_validation.json: writers[0].name: WritePng writes 2-D masks")
        for line in lines), lines


def test_labels_mapped_in_training_only(mmar):  # noqa: F811
    _masks_of_255(mmar)
    edit_json(mmar / "config" / "config_train.json", _mapped_in_training)
    code, lines = _check(mmar)
    assert code == 1 and any(line.startswith(
        "config/config_validation.json: label_transforms: data/dataset_0.json 'validation': "
        "1 of 1 label files hold values 0..255") for line in lines), lines


def test_the_scaffold_passes(mmar):  # noqa: F811
    assert _check(mmar) == (0, [])
