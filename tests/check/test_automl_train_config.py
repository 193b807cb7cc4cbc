"""check reads the training config that config_automl.json's ``train_config_file`` names.

Clara's AutoML MMARs keep the annotated config beside a plain one (``trn_autoML.json`` next
to ``config_train.json``) and name it in ``config_automl.json``; automl trains that file, so
a whole-MMAR check must hold it to the same rules, or check says OK to a search automl
refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401 - fixtures

runner = CliRunner()


def _automl_layout(root: Path, learning_rate_name: str) -> None:
    config = json.loads((root / "config" / "config_train.json").read_text())
    config["search"] = [{"domain": "lr", "type": "float", "args": [learning_rate_name],
                         "targets": [0.0001, 0.01]}]
    (root / "config" / "trn_autoML.json").write_text(json.dumps(config, indent=2))
    (root / "config" / "config_automl.json").write_text(json.dumps(
        {"handlers": [{"name": "MMARHandler",
                       "args": {"train_config_file": "trn_autoML.json"}}]}))


def test_a_bad_search_in_the_named_training_config_is_a_problem(mmar: Path) -> None:
    _automl_layout(mmar, "learning_rat")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    assert any(line.startswith("config/trn_autoML.json: search[0].args: unknown global or "
                               "tag 'learning_rat'") for line in problem_lines(result.output))


def test_a_good_named_training_config_is_checked_and_passes(mmar: Path) -> None:
    _automl_layout(mmar, "learning_rate")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    assert "OK: 6 files checked" in result.output  # environment, 2 configs, the datalist,
    # config_automl.json and trn_autoML.json


def test_a_named_config_is_not_added_when_the_command_line_names_one(mmar: Path) -> None:
    _automl_layout(mmar, "learning_rat")
    result = runner.invoke(app, ["check", str(mmar), "--config-train", "config_train.json"])
    assert result.exit_code == 0, result.output


def _controller_variant(root: Path, name: str) -> str:
    """A second controller file beside config_automl.json, as Clara's examples keep them."""
    path = root / "config" / f"config_automl_{name}.json"
    path.write_text(json.dumps({"controller": {"name": "ReinforcmentController",
                                               "args": {"max_rounds": 2}}}))
    return f"config/{path.name}"


def test_every_config_automl_variant_is_checked(mmar: Path) -> None:
    """automl --config-automl config/config_automl_BYO.json refused what check said OK to."""
    shown = _controller_variant(mmar, "BYO_RandomController")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    assert any(line.startswith(f"{shown}: controller.name: unknown controller "
                               "'ReinforcmentController'") for line in problem_lines(result.output))


def test_config_automl_names_the_settings_to_check(mmar: Path) -> None:
    shown = _controller_variant(mmar, "BYO_RandomController")
    result = runner.invoke(app, ["check", str(mmar), "--config-train", "config_train.json",
                                 "--config-automl", shown])
    assert result.exit_code == 1, result.output
    assert any(line.startswith(f"{shown}: controller.name:")
               for line in problem_lines(result.output))
    result = runner.invoke(app, ["check", str(mmar), "--config-automl", "config_automl_x.json"])
    assert result.exit_code == 1
    assert ("config/config_automl_x.json: file not found: automl --config-automl reads it"
            in problem_lines(result.output))
