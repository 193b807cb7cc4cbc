"""`mmarctl data synth --kind/--format/--layout/--label-value`: which kind a command gets,
and one-line refusals of options a kind cannot honour, before anything is written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mmarctl import synth
from mmarctl.cli import app
from mmarctl.errors import UsageError
from mmarctl.synth_kinds import KINDS, choose

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("task,kind,expected", [
    (None, None, "spleen"), ("segmentation", None, "spleen"),
    ("classification", None, "nodule"), (None, "brats", "brats"),
    ("segmentation", "spine2d", "spine2d"), ("classification", "nodule", "nodule"),
])
def test_task_and_kind_choose(task, kind, expected):
    assert choose(task, kind).name == expected


def test_every_kind_writes_a_set_with_its_task(tmp_path):
    for name, kind in KINDS.items():
        root = tmp_path / name
        result = synth.synthesize(root, kind=name, cases=kind.least_cases, size=24,
                                  show_progress=False)
        datalist = json.loads((root / "dataset_0.json").read_text())
        assert datalist["synthetic"]["kind"] == name and datalist["synthetic"]["task"] == kind.task
        assert result.training + result.validation == kind.least_cases
        assert all(path.is_file() for path in result.files)


def test_nodule_images_as_png(tmp_path):
    from mmarctl.runtime.transforms._png import read_png

    root = tmp_path / "cls"
    synth.synthesize(root, task="classification", cases=4, size=32, file_format="png",
                     show_progress=False)
    datalist = json.loads((root / "dataset_0.json").read_text())
    item = datalist["training"][0]
    assert item["image"].endswith(".png") and item["label"] in ([0], [1])
    assert read_png(root / item["image"]).shape == (32, 32)


def test_cli_kind_summary_line(tmp_path):
    result = invoke("data", "synth", tmp_path / "d", "--kind", "spine2d", "--cases", "2",
                    "--size", "32", "--format", "png")
    assert result.exit_code == 0, result.output
    assert "wrote 1 training and 1 validation segmentation cases (spine2d)" in result.output
    assert (tmp_path / "d" / "imagesTr" / "spine_001.png").is_file()


def test_help_lists_every_kind():
    result = invoke("data", "synth", "--help")
    assert result.exit_code == 0
    for name in KINDS:
        assert name in result.output


@pytest.mark.parametrize("args,fragment", [
    (["--kind", "brats", "--task", "classification"],
     "--kind brats is segmentation data and does not go with --task classification"),
    (["--kind", "nodule", "--task", "segmentation"],
     "--kind nodule is classification data and does not go with --task segmentation"),
    (["--kind", "spine2d", "--shape", "32,32,32"], "--shape is for 3-D volumes (spleen, brats)"),
    (["--kind", "brats", "--format", "png"], "--format png is not available for brats"),
    (["--kind", "nodule", "--format", "npy"], "--format npy is not available for nodule"),
    (["--format", "png"], "--format png is not available for spleen"),
    (["--kind", "spine2d", "--format", "png", "--no-compress"],
     "--compress/--no-compress is for NIfTI files, not png"),
    (["--kind", "spine2d", "--layout", "4d"], "--layout is for brats, not spine2d"),
    (["--layout", "files"], "--layout is for brats, not spleen"),
    (["--kind", "brats", "--label-value", "255"],
     "--label-value is for one-structure masks (spine2d), not brats"),
    (["--kind", "spine2d", "--label-value", "256"], "--label-value must be in 1..255"),
    (["--kind", "spine2d", "--label-value", "0"], "--label-value must be in 1..255"),
    (["--kind", "brats", "--cases", "1"], "--cases must be at least 2 for brats"),
])
def test_bad_combinations_are_one_line_usage_errors(tmp_path, args, fragment):
    result = invoke("data", "synth", tmp_path / "d", "--size", "16", *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) <= 2, result.output  # the error, and at most its hint
    assert fragment in lines[0] and "Received:" in lines[0]
    assert not (tmp_path / "d").exists()


def test_unknown_kind_is_refused(tmp_path):
    result = invoke("data", "synth", tmp_path / "d", "--kind", "knee")
    assert result.exit_code == 2 and not (tmp_path / "d").exists()
    with pytest.raises(UsageError, match="unknown kind 'knee'"):
        synth.synthesize(tmp_path / "d", kind="knee", show_progress=False)


def test_layout_value_is_checked_in_the_api(tmp_path):
    with pytest.raises(UsageError, match="--layout for brats is files or 4d"):
        synth.synthesize(tmp_path / "d", kind="brats", layout="5d", show_progress=False)
    assert not (tmp_path / "d").exists()


def test_workspace_task_and_kind_must_agree(tmp_path):
    exp = tmp_path / "cls"
    assert invoke("init", exp, "--task", "classification").exit_code == 0
    result = invoke("data", "synth", exp, "--kind", "brats", "--cases", "2", "--size", "16")
    assert result.exit_code == 2
    assert "the MMAR's PROCESSING_TASK is classification" in result.output
    assert not (exp / "data").exists()


def test_workspace_dest_takes_a_kind_of_its_task(tmp_path):
    exp = tmp_path / "seg"
    assert invoke("init", exp, "--task", "segmentation").exit_code == 0
    result = invoke("data", "synth", exp, "--kind", "brats", "--cases", "2", "--size", "16")
    assert result.exit_code == 0, result.output
    datalist = json.loads((exp / "data" / "dataset_0.json").read_text())
    assert datalist["synthetic"]["kind"] == "brats"
