"""A ref reuses the component it names as built: a search or an apply that writes its args
(or plain args on it) would never reach training, so check refuses them."""

from __future__ import annotations

from pathlib import Path

from mmarctl.check.components import ComponentChecker
from mmarctl.search.space import read_space

RANGE = {"name": "ScaleIntensityRange",
         "args": {"fields": "image", "a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0}}


def _config(ref: dict) -> dict:
    return {"train": {"pre_transforms": [RANGE]}, "validate": {"pre_transforms": [ref]}}


def test_a_search_on_a_refs_args_is_refused():
    ref = {"ref": "ScaleIntensityRange",
           "search": [{"type": "float", "args": ["a_min"], "targets": [-100, 0]}]}
    (problem,) = read_space(_config(ref), "config/config_train.json").problems
    assert problem.json_path == "validate.pre_transforms[0].search[0].args"
    assert "a ref reuses the component 'ScaleIntensityRange' as built" in problem.message


def test_an_apply_writing_a_refs_arg_is_refused_but_a_switch_is_fine():
    ref = {"ref": "ScaleIntensityRange", "apply": {"a_min": "low"}}
    config = _config(ref)
    config["search"] = [{"type": "enum", "args": ["low"], "targets": [[-57], [0]]}]
    problems = read_space(config, "f").problems
    assert [p.json_path for p in problems][:1] == ["validate.pre_transforms[0].apply.a_min"]
    switched = _config({"ref": "ScaleIntensityRange",
                        "search": [{"type": "enum", "args": ["@disabled"],
                                    "targets": [[True], [False]]}]})
    space = read_space(switched, "f")
    assert space.problems == [] and len(space.dimensions) == 1


def test_args_on_a_ref_are_reported_as_ignored(tmp_path: Path):
    checker = ComponentChecker("config/config_train.json", tmp_path)
    checker.check_config("train", _config({"ref": "ScaleIntensityRange", "args": {"a_min": 3}}))
    assert [(p.json_path, "ignored" in p.message) for p in checker.problems] == [
        ("validate.pre_transforms[0].args", True)]
    plain = ComponentChecker("config/config_train.json", tmp_path)
    plain.check_config("train", _config({"ref": "ScaleIntensityRange"}))
    assert plain.problems == []
