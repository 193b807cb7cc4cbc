"""Image and label resampled differently, then cropped together: check says it (the run
stopped on its first case: "fields differ in spatial shape")."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

from tests.check.broken_mmars import mmar, problem_lines, spleen  # noqa: F401 - fixtures

runner = CliRunner()
CONFIG = "config/config_train.json"


def _edit(root: Path, change) -> list:
    path = root / CONFIG
    config = json.loads(path.read_text())
    change(config["train"]["pre_transforms"], config)
    path.write_text(json.dumps(config, indent=1))
    return config["train"]["pre_transforms"]


def _index(chain: list, name: str) -> int:
    return next(i for i, step in enumerate(chain) if step["name"] == name)


def test_a_label_resampled_to_another_resolution_is_a_problem(mmar: Path) -> None:
    chain = _edit(mmar, lambda chain, _: chain[_index(chain, "ScaleByResolution#ScaleLb")][
        "args"].update(target_resolution=[2.0, 2.0, 3.0]))
    image, label = (_index(chain, f"ScaleByResolution#{tag}") for tag in ("ScaleImg", "ScaleLb"))
    crop = _index(chain, "FastCropByPosNegRatio")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert problem_lines(result.output) == [
        f"{CONFIG}: train.pre_transforms[{crop}]: FastCropByPosNegRatio reads image, label "
        "together, but they are on different voxel grids: image by "
        f"train.pre_transforms[{image}] (target_resolution [2.5, 2.5, 3.0]); label by "
        f"train.pre_transforms[{label}] (target_resolution [2.0, 2.0, 3.0]) (resample them "
        "alike, in one step or with the same arguments)"]


def test_a_label_left_on_its_grid_is_a_problem(mmar: Path) -> None:
    def drop_label_resampling(chain: list, config: dict) -> None:
        chain.pop(_index(chain, "ScaleByResolution#ScaleLb"))
        validate = config["validate"]["pre_transforms"]
        validate[:] = [step for step in validate if step.get("ref") != "ScaleLb"]

    chain = _edit(mmar, drop_label_resampling)
    image = _index(chain, "ScaleByResolution#ScaleImg")
    crop = _index(chain, "FastCropByPosNegRatio")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert problem_lines(result.output) == [
        f"{CONFIG}: train.pre_transforms[{crop}]: FastCropByPosNegRatio reads image, label "
        f"together, but they are on different voxel grids: image by train.pre_transforms[{image}]"
        " (target_resolution [2.5, 2.5, 3.0]); label is not resampled (resample them alike, in "
        "one step or with the same arguments)"]


def test_a_search_moving_one_resolution_is_a_problem_at_its_target(mmar: Path) -> None:
    def search_image_resolution(chain: list, _config: dict) -> None:
        chain[_index(chain, "ScaleByResolution#ScaleImg")]["search"] = [{
            "type": "enum", "args": ["target_resolution"], "domain": "transform",
            "targets": [[[2.5, 2.5, 3.0]], [[1.5, 1.5, 2.0]]]}]

    chain = _edit(mmar, search_image_resolution)
    crop = _index(chain, "FastCropByPosNegRatio")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    (line,) = problem_lines(result.output)
    assert line.startswith(f"{CONFIG}: train.pre_transforms[{crop}]: FastCropByPosNegRatio "
                           "reads image, label together, but they are on different voxel "
                           "grids"), line
    assert line.endswith("(at the search point ScaleImg.target_resolution=[1.5, 1.5, 2.0])")


def test_image_and_label_resampled_alike_pass(mmar: Path) -> None:
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
