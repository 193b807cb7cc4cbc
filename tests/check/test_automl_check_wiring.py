"""check holds an annotated training config to what automl refuses, at the search entry:
``--set`` on a searched global, a search point's bad value (named at its target, not at the
concrete path that holds a good value), a constructor's warning (a note, not a raw Python
warning), and search annotations in a validation config (a note: nothing searches them)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401 - fixtures

runner = CliRunner()


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _search_learning_rate(data: dict, low: float = 1e-4) -> None:
    data["search"] = [{"domain": "lr", "type": "float", "args": ["learning_rate"],
                       "targets": [low, 1e-2]}]


def test_a_set_on_a_searched_global_is_a_problem_at_the_search_entry(mmar: Path) -> None:
    _edit(mmar / "config" / "config_train.json", _search_learning_rate)
    assert runner.invoke(app, ["check", str(mmar)]).exit_code == 0
    result = runner.invoke(app, ["check", str(mmar), "--set", "learning_rate=0.5"])
    assert result.exit_code == 1, result.output
    assert ("config/config_train.json: search[0]: --set learning_rate=0.5: learning_rate is "
            "searched here") in result.output


def test_a_search_points_bad_value_is_named_at_its_target(mmar: Path) -> None:
    _edit(mmar / "config" / "config_train.json", lambda d: _search_learning_rate(d, low=0))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    [line] = [line for line in problem_lines(result.output) if "learning_rate" in line
              or "search[0]" in line]
    assert line.startswith("config/config_train.json: search[0].targets[0]: "), line
    assert "(at the search point learning_rate=0" in line, line


def test_search_annotations_in_a_validation_config_are_a_note(mmar: Path) -> None:
    def annotate(data: dict) -> None:
        data["pre_transforms"][0]["search"] = [{"type": "enum", "args": ["as_closest_canonical"],
                                                "targets": [[True], [False]]}]

    _edit(mmar / "config" / "config_validation.json", annotate)
    result = runner.invoke(app, ["check", str(mmar)])
    assert ("config/config_validation.json: search: note: AutoML searches only the training "
            "config; these annotations are ignored") in result.output, result.output


def test_a_constructor_warning_is_a_note_in_checks_words(mmar: Path) -> None:
    def oscillate(data: dict) -> None:
        data["train"]["pre_transforms"].append(
            {"name": "ScaleIntensityOscillation", "args": {"fields": "image", "magnitude": 1.5}})

    _edit(mmar / "config" / "config_train.json", oscillate)
    result = runner.invoke(app, ["check", str(mmar)])
    assert "UserWarning" not in result.output and ".py:" not in result.output, result.output
    assert ": note: ScaleIntensityOscillation: magnitude >= 1 allows factors <= 0" \
        in result.output, result.output


def _crop(data: dict) -> dict:
    return next(step for step in data["train"]["pre_transforms"]
                if step["name"] == "FastCropByPosNegRatio")


def test_a_crop_size_off_the_networks_divisor_is_a_problem(mmar: Path) -> None:
    # the patches the crop cuts are what the network sees: 30^3 failed at the first
    # decoder join of the first step, with TensorFlow's text.
    _edit(mmar / "config" / "config_train.json", lambda d: _crop(d)["args"].update(
        size=[30, 30, 30]))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    assert any(line.endswith("args.size: every size must be a multiple of 16, the network's "
                             "size divisor; Received: [30, 30, 30] (e.g. [32, 32, 32])")
               for line in problem_lines(result.output)), result.output


def test_a_searched_crop_size_off_the_divisor_is_named_at_its_target(mmar: Path) -> None:
    _edit(mmar / "config" / "config_train.json", lambda d: _crop(d).update(search=[
        {"type": "enum", "args": ["size"], "targets": [[[32, 32, 32]], [[30, 30, 30]]]}]))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    [line] = problem_lines(result.output)
    assert ".search[0].targets[1]: every size must be a multiple of 16" in line, line
