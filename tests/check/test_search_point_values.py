"""check holds every value an AutoML search can write, each at its own search target: a
second bad enum target is not hidden behind the first, and a transform reading a field no
case has at one search point is said as the data check says it of a plain config."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401 - fixtures

runner = CliRunner()


def _search_transform(root: Path, name: str, arg: str, targets: list) -> int:
    path = root / "config" / "config_train.json"
    config = json.loads(path.read_text())
    chain = config["train"]["pre_transforms"]
    index = next(i for i, step in enumerate(chain) if step["name"] == name)
    chain[index]["search"] = [{"type": "enum", "args": [arg], "targets": targets,
                               "domain": "transform"}]
    path.write_text(json.dumps(config, indent=1))
    return index


def test_every_bad_enum_target_is_a_problem(mmar: Path) -> None:
    index = _search_transform(mmar, "ScaleIntensityOscillation", "magnitude",
                              [[0.1], [-1], [-2]])
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert problem_lines(result.output) == [
        f"config/config_train.json: train.pre_transforms[{index}].search[0].targets[{n}]: "
        f"ScaleIntensityOscillation: magnitude must be >= 0; Received: magnitude=-{n} (at "
        f"the search point ScaleIntensityOscillation.magnitude=-{n})" for n in (1, 2)]


def test_a_field_no_case_has_at_a_search_point_is_a_problem(mmar: Path) -> None:
    index = _search_transform(mmar, "RandomSpatialFlip", "fields",
                              [["image"], ["imag"], ["labl"]])
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert problem_lines(result.output) == [
        f"config/config_train.json: train.pre_transforms[{index}].search[0].targets[{n}]: "
        f"RandomSpatialFlip reads '{field}', which no transform makes and no 'training' item "
        f"has (a case holds image, label); did you mean '{meant}'? (at the search point "
        f"RandomSpatialFlip.fields=\"{field}\")"
        for n, field, meant in ((1, "imag", "image"), (2, "labl", "label"))]


def test_good_targets_pass(mmar: Path) -> None:
    _search_transform(mmar, "ScaleIntensityOscillation", "magnitude", [[0.1], [0.2]])
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
