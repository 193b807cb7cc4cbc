"""Small refusals of `mmarctl automl`: one line each, nothing written."""

from __future__ import annotations

import json
import os

import pytest

from mmarctl.search.settings import read_settings
from tests.search.test_automl_cli import _one_line_error, mmarctl, spleen, spleen_source  # noqa: F401

pytest.importorskip("optuna")


@pytest.mark.parametrize("args,fragment", [
    (["--run-id", ""], "--run-id must be a plain folder name; Received: ''"),
    (["--set", "run_id="], "--run-id must be a plain folder name; Received: ''"),
    (["--storage", "sqlite:///nodir/x.db", "--rounds", "1"],
     "--storage sqlite:///nodir/x.db: the folder nodir does not exist"),
])
def test_empty_run_id_and_storage_in_a_missing_folder(spleen, args, fragment, tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = mmarctl("automl", spleen, *args, check=False, env=env, cwd=tmp_path)
    _one_line_error(result, fragment)
    assert "lock" not in result.stderr
    assert not (spleen / "automl").exists() and not (tmp_path / "nodir").exists()


def test_a_work_dir_in_a_folder_that_does_not_exist_is_refused(tmp_path):
    """Clara 4's shipped config_automl_BYO_handler.json names /claraDevDay/AutoML/models:
    automl would have made it at the filesystem root without a word."""
    raw = {"handlers": [{"name": "MMARHandler",
                         "args": {"work_dir": "/claraDevDay/AutoML/models"}}]}
    settings, problems = read_settings(raw, "config/config_automl.json")
    assert settings.work_dir is None
    (problem,) = problems
    assert problem.json_path == "handlers[0].args.work_dir"
    assert "/claraDevDay/AutoML does not exist" in problem.message
    raw["handlers"][0]["args"]["work_dir"] = str(tmp_path / "studies")
    settings, problems = read_settings(raw, "config/config_automl.json")
    assert problems == [] and settings.work_dir == str(tmp_path / "studies")
    raw["handlers"][0]["args"]["work_dir"] = "studies"  # under the MMAR
    assert read_settings(raw, "config/config_automl.json")[1] == []
    assert json.dumps(raw)


def test_a_broken_unused_config_automl_does_not_block_a_study_on_another(spleen):
    # automl --config-automl other.json checked config_automl.json (which it does not read)
    # and refused the study over it.
    from mmarctl.errors import ConfigError
    from mmarctl.search.automl import AutomlRequest, prepare

    config = spleen / "config"
    (config / "other.json").write_text((config / "config_automl.json").read_text()
                                       if (config / "config_automl.json").exists() else "{}")
    (config / "config_automl.json").write_text(json.dumps({"controller": {"name": "Nope"}}))
    with pytest.raises(ConfigError, match="config_automl.json"):
        prepare(AutomlRequest(mmar=str(spleen), set_items=[]))
    prepared = prepare(AutomlRequest(mmar=str(spleen), set_items=[], config_automl="other.json"))
    assert prepared.study_dir.parent == spleen / "automl"
