"""A bad value that a search target writes is reported at that target, not at the concrete
config's path (which holds a valid value in the file) or a bare global's name."""

from __future__ import annotations

from mmarctl.problems import Problem
from mmarctl.search.space import at_search_target, read_space

FILE = "config/config_train.json"


def _model_config(search: list) -> dict:
    return {"learning_rate": 1e-4,
            "train": {"model": {"name": "Unet", "args": {"nf_enc": "4,8,8,8",
                                                         "nf_dec": "8,8,8,8,4"},
                                "search": search}}}


def test_a_float_bound_is_named_at_its_target():
    config = {"learning_rate": 1e-4,
              "search": [{"type": "float", "args": ["learning_rate"], "targets": [0, 1e-3]}]}
    space = read_space(config, FILE)
    found = Problem(FILE, "learning_rate", "must be > 0, got number 0.0")
    moved = at_search_target(space, space.spanning_points()[0], found)
    assert str(moved) == (f"{FILE}: search[0].targets[0]: must be > 0, got number 0.0 "
                          "(at the search point learning_rate=0.0)")


def test_an_enum_target_is_named_with_its_index_for_an_arg_or_its_component():
    space = read_space(_model_config([{"type": "enum", "args": ["nf_enc", "nf_dec"],
                                       "targets": [["4,8,8,8", "8,8,8,8,4"],
                                                   ["4,8,8,8,8,8,8", "8,8,8,8,4"]]}]), FILE)
    point = space.spanning_points()[1]
    on_arg = Problem(FILE, "train.model.args.nf_enc", "Unet: nf_enc expects string")
    on_component = Problem(FILE, "train.model", "Unet: nf_dec must be at least 8 entries")
    assert at_search_target(space, point, on_arg).json_path == \
        "train.model.search[0].targets[1]"
    moved = at_search_target(space, point, on_component)
    assert moved.json_path == "train.model.search[0].targets[1]"
    assert moved.message.endswith('(at the search point Unet.nf_enc="4,8,8,8,8,8,8")')


def test_a_problem_elsewhere_keeps_its_place():
    space = read_space(_model_config([{"type": "enum", "args": ["nf_enc"],
                                       "targets": [["4,8,8,8"], ["8,8,8,8"]]}]), FILE)
    other = Problem(FILE, "train.loss.args.x", "unknown argument")
    assert at_search_target(space, space.spanning_points()[1], other) is other


RANGE = {"name": "ScaleIntensityRange", "args": {"fields": "image"}}


def test_disabling_a_component_a_ref_reuses_is_named_at_the_search_target():
    switched = dict(RANGE, search=[{"type": "enum", "args": ["@disabled"],
                                    "targets": [[False], [True]]}])
    config = {"train": {"pre_transforms": [switched]},
              "validate": {"pre_transforms": [{"ref": "ScaleIntensityRange"}]}}
    (problem,) = read_space(config, FILE).problems
    assert problem.json_path == "train.pre_transforms[0].search[0].targets[1]"
    assert "ScaleIntensityRange.disabled=true disables 'ScaleIntensityRange', which " \
           "validate.pre_transforms[0] reuses (ref)" in problem.message


def test_a_tag_that_switches_the_component_and_its_ref_together_is_fine():
    config = {"search": [{"type": "enum", "args": ["@t"], "targets": [[False], [True]]}],
              "train": {"pre_transforms": [dict(RANGE, apply={"@disabled": "t"})]},
              "validate": {"pre_transforms": [{"ref": "ScaleIntensityRange",
                                               "apply": {"@disabled": "t"}}]}}
    assert read_space(config, FILE).problems == []
