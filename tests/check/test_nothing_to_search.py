"""automl's "no search annotations" refusal, and the older ``learning_rate_search_space`` key
that searches nothing, are said by check before any compute."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401

runner = CliRunner()


def note_lines(output: str) -> list[str]:
    return [" ".join(line.split()) for line in output.splitlines() if ": note: " in line]
ENTRY = ('"search": [{"type": "float", "args": ["learning_rate"], "targets": [0.0001, 0.1], '
         '"domain": "lr"}]')


def _older_range(root: Path) -> None:
    path = root / "config" / "config_train.json"
    config = json.loads(path.read_text())
    config["learning_rate_search_space"] = [0.1, 0.0001]  # (either order: the entry sorts)
    path.write_text(json.dumps(config, indent=1))
    (root / "config" / "config_automl.json").write_text(json.dumps(
        {"controller": {"name": "RandomController", "args": {"max_rounds": 2}}}))


def test_the_older_key_is_a_note_with_the_search_entry_to_write(mmar: Path) -> None:
    _older_range(mmar)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    notes = note_lines(result.output)
    assert ("config/config_train.json: learning_rate_search_space: note: an older Clara AutoML "
            "key that nothing reads (mmarctl automl searches \"search\" annotations): to "
            f"search it, add {ENTRY} at the top level") in notes
    # config_automl.json leaves the training config to automl's command line: a note
    assert ("config/config_train.json: note: no search annotations: automl with "
            "config/config_automl.json would find nothing to search in it; add "
            f"{ENTRY} (from its learning_rate_search_space), or give automl the annotated "
            "config with --config-train") in notes


def test_automl_settings_named_on_the_command_line_make_it_a_problem(mmar: Path) -> None:
    _older_range(mmar)
    result = runner.invoke(app, ["check", str(mmar), "--config-automl", "config_automl.json"])
    assert result.exit_code == 1, result.output
    assert problem_lines(result.output) == [
        "config/config_train.json: no search annotations: automl with config/config_automl.json "
        f"would find nothing to search; add {ENTRY} (from its learning_rate_search_space)"]
    refused = runner.invoke(app, ["automl", str(mmar)])
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "error: config/config_train.json: no search annotations: nothing to search (add "
        f"{ENTRY} (from its learning_rate_search_space, which nothing reads))")


def test_settings_naming_an_unannotated_config_are_a_problem(mmar: Path) -> None:
    (mmar / "config" / "config_automl.json").write_text(json.dumps(
        {"handlers": [{"name": "MMARHandler",
                       "args": {"train_config_file": "config_train.json"}}]}))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    assert problem_lines(result.output) == [
        "config/config_train.json: no search annotations: automl with config/config_automl.json "
        "would find nothing to search; add \"search\" entries (docs/automl.md#a-first-study)"]


def test_a_plain_mmar_without_automl_settings_says_nothing_of_search(mmar: Path) -> None:
    result = runner.invoke(app, ["check", str(mmar)])
    assert "search" not in result.output, result.output
