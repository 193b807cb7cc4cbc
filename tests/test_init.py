"""`mmarctl init`: a blank workspace per task that, with synthetic data, passes `mmarctl check`
and resolves every placeholder; bad inputs through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mmarctl import scripts
from mmarctl.cli import app
from mmarctl.workspace import Workspace

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("task,scaffold", [("segmentation", "spleen"),
                                           ("classification", "classification")])
def test_init_creates_a_workspace_for_the_task(tmp_path, task, scaffold):
    dest = tmp_path / "exp"
    result = invoke("init", dest, "--task", task)
    assert result.exit_code == 0, result.output
    env = json.loads((dest / "config" / "environment.json").read_text())
    assert env["PROCESSING_TASK"] == task
    assert sorted(p.name for p in (dest / "commands").iterdir()) == sorted(scripts.SCRIPT_NAMES)
    provenance = json.loads((dest / ".mmarctl" / "provenance.json").read_text())
    assert provenance["command"] == "init"
    assert provenance["source"] == f"scaffold:{scaffold}"
    assert "mmarctl data synth" in result.output  # the next step is shown


def test_default_task_is_segmentation(tmp_path):
    result = invoke("init", tmp_path / "exp")
    assert result.exit_code == 0, result.output
    train = json.loads((tmp_path / "exp" / "config" / "config_train.json").read_text())
    assert train["train"]["model"]["name"] == "Unet"


def test_init_accepts_an_existing_empty_folder(tmp_path):
    dest = tmp_path / "exp"
    dest.mkdir()
    result = invoke("init", dest)
    assert result.exit_code == 0, result.output
    assert (dest / "config" / "config_train.json").is_file()


def test_placeholders_resolve_inside_the_workspace(tmp_path):
    dest = tmp_path / "exp"
    assert invoke("init", dest).exit_code == 0
    workspace = Workspace.locate(dest)
    train = workspace.resolve("config_train.json")
    pipeline = train.data["train"]["image_pipeline"]["args"]
    assert pipeline["data_list_file_path"] == str(dest.resolve() / "data" / "dataset_0.json")
    assert pipeline["data_file_base_dir"] == str(dest.resolve() / "data")
    validation = workspace.resolve("config_validation.json")
    assert validation.data["model_loader"]["args"]["checkpoint_dir"] == str(
        dest.resolve() / "models")


@pytest.mark.parametrize("task", ["segmentation", "classification"])
def test_init_then_synth_passes_check(tmp_path, task):
    dest = tmp_path / "exp"
    assert invoke("init", dest, "--task", task).exit_code == 0
    result = invoke("data", "synth", dest / "data", "--task", task, "--cases", "4",
                    "--size", "16")
    assert result.exit_code == 0, result.output
    result = invoke("check", dest)
    assert result.exit_code == 0, result.output


# -- bad input ----------------------------------------------------------------------------

def test_non_empty_folder_is_refused(tmp_path):
    dest = tmp_path / "exp"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    result = invoke("init", dest)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "not empty" in lines[0] and "exp" in lines[0]
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]


def test_unknown_task_is_a_usage_error(tmp_path):
    result = invoke("init", tmp_path / "exp", "--task", "detection")
    assert result.exit_code == 2
    assert "detection" in result.output
    assert not (tmp_path / "exp").exists()


def test_help_has_an_example():
    result = invoke("init", "--help")
    assert result.exit_code == 0 and "Example: mmarctl init my-exp" in result.output
