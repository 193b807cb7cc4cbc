"""Clara's AutoML annotations: reading the space, resolving points, refusing bad ones."""

from __future__ import annotations

import copy
import json
import math

import pytest

from mmarctl.errors import ConfigError
from mmarctl.search.concrete import concrete_config, read_valid_space, written_values
from mmarctl.search.space import has_annotations, read_space
from tests.conftest import SHARED

AUTOML_FILES = SHARED / "compat" / "clara4-automl" / "config"

#: The spleen-style search of the issue: a float learning rate, the loss as two
#: alternatives switched by tags, and one transform's own @disabled.
SEARCHED = {
    "epochs": 2,
    "learning_rate": 1e-3,
    "search": [
        {"domain": "lr", "type": "float", "args": ["learning_rate"], "targets": [1e-4, 3e-3]},
        {"domain": "transform", "type": "enum", "args": ["lossDice", "lossFocal"],
         "targets": [[False, True], [True, False]]},
    ],
    "train": {
        "loss": [{"name": "Dice", "args": {"skip_background": True},
                  "apply": {"@disabled": "lossDice"}},
                 {"name": "Focal", "disabled": True, "apply": {"@disabled": "lossFocal"}}],
        "model": {"name": "Unet", "args": {"num_classes": 2}},
        "pre_transforms": [
            {"name": "RandomSpatialFlip", "args": {"fields": ["image"]},
             "search": [{"type": "enum", "args": ["@disabled"], "targets": [[True], [False]]}]},
            {"name": "ScaleIntensityOscillation", "args": {"fields": "image", "magnitude": 0.1},
             "search": [{"type": "float", "args": ["magnitude#osc"], "targets": [0.0, 0.2]}]},
            {"name": "AddGaussianNoise", "args": {"fields": "image"}, "apply": {"prob": "osc"}},
        ],
    },
}


def _walk(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def test_dimensions_and_where_their_values_land():
    space = read_valid_space(SEARCHED, "trn.json")
    assert [d.key for d in space.dimensions] == [
        "search[0]", "search[1]", "train.pre_transforms[0].search[0]",
        "train.pre_transforms[1].search[0]"]
    assert [d.type for d in space.dimensions] == ["float", "enum", "enum", "float"]
    assert space.dimensions[0].domain == "lr"
    assert space.alternatives == [("train", "loss")]
    assert not space.enum_only

    point = {"search[0]": 5e-4, "search[1]": 0, "train.pre_transforms[0].search[0]": 0,
             "train.pre_transforms[1].search[0]": 0.15}
    config = concrete_config(SEARCHED, space, point, "trn.json")
    assert config["learning_rate"] == 5e-4
    assert config["train"]["loss"] == {"name": "Dice", "args": {"skip_background": True}}
    transforms = config["train"]["pre_transforms"]
    assert transforms[0]["disabled"] is True
    assert transforms[1]["args"]["magnitude"] == 0.15
    assert transforms[2]["args"]["prob"] == 0.15  # the alias osc is shared
    assert not any("search" in d or "apply" in d for d in _walk(config))
    assert space.describe(point) == {"learning_rate": 5e-4, "lossDice": False,
                                     "lossFocal": True, "RandomSpatialFlip.disabled": True,
                                     "osc": 0.15}
    # The other enum target enables the other alternative.
    config = concrete_config(SEARCHED, space, {**point, "search[1]": 1}, "trn.json")
    assert config["train"]["loss"] == {"name": "Focal"}
    assert SEARCHED["train"]["loss"][1]["disabled"] is True  # the input is not changed


def test_written_values_are_what_train_runs():
    config = written_values(SEARCHED, "trn.json")
    assert config["learning_rate"] == 1e-3
    assert config["train"]["loss"]["name"] == "Dice"
    assert "search" not in config
    undecided = copy.deepcopy(SEARCHED)
    del undecided["train"]["loss"][1]["disabled"]
    with pytest.raises(ConfigError) as raised:
        written_values(undecided, "trn.json")
    assert str(raised.value).startswith("trn.json: train.loss: a list of 2 alternatives with 2 "
                                        "enabled: `mmarctl train` needs exactly one")
    assert "mmarctl automl" in str(raised.value)


def test_enum_only_spaces_have_a_grid():
    config = {"epochs": 1, "search": [
        {"type": "enum", "args": ["epochs"], "targets": [[1], [2], [3]]}],
        "train": {"model": {"name": "Unet", "args": {"num_classes": 2},
                            "search": [{"type": "enum", "args": ["nf_enc"],
                                        "targets": [["8,16"], ["16,32"]]}]}}}
    space = read_valid_space(config, "trn.json")
    assert space.enum_only and space.combinations() == 6
    grid = list(space.grid())
    assert len(grid) == 6 and len({json.dumps(p, sort_keys=True) for p in grid}) == 6
    # check resolves a few points that between them write every target
    seen = {tuple(sorted(space.describe(p).items())) for p in space.spanning_points()}
    assert {dict(p)["epochs"] for p in seen} == {1, 2, 3}


def _problems(config):
    return [str(p) for p in read_space(config, "trn.json").problems]


def _edited(edit):
    config = copy.deepcopy(SEARCHED)
    edit(config)
    return config


BAD = [
    (lambda c: c["search"][0].update(targets=[3e-3, 1e-4]),
     "trn.json: search[0].targets: low must be below high; Received: [0.003, 0.0001] (reversed)"),
    (lambda c: c["search"][0].update(targets=[1e-4, math.inf]),
     "trn.json: search[0].targets: bounds must be finite numbers"),
    (lambda c: c["search"][0].update(targets=[1e-4]),
     "trn.json: search[0].targets: expected [low, high] (two numbers)"),
    (lambda c: c["search"][0].update(type="choice"),
     "trn.json: search[0].type: expected \"enum\" or \"float\"; Received: 'choice'"),
    (lambda c: c["search"][0].update(type="flaot"),
     "(did you mean float?)"),
    (lambda c: c["search"][0].update(domain="learning"),
     "trn.json: search[0].domain: expected one of lr, net, transform"),
    (lambda c: c["search"][0].update(args=["learning_rat"]),
     "trn.json: search[0].args: unknown global or tag 'learning_rat': no global of the config "
     "and no \"apply\" uses it (did you mean learning_rate?)"),
    (lambda c: c["search"][1].update(targets=[[True], [False, True]]),
     "trn.json: search[1].targets[0]: expected a list of 2 value(s), one per arg"),
    (lambda c: c["search"][1].update(targets=[[0, 1], [1, 0]]),
     "trn.json: search[1].targets[0]: a switch takes true or false"),
    (lambda c: c["search"][1].update(targets=[[True, True], [False, True]]),
     "trn.json: train.loss: the search can enable none of these alternatives (lossDice=True, "
     "lossFocal=True); every choice must enable exactly one"),
    (lambda c: c["search"][1].update(targets=[[False, False]]),
     "trn.json: train.loss: the search can enable 2 of these alternatives"),
    (lambda c: c["train"]["loss"][1]["apply"].update({"@disabled": "lossFocl"}),
     "trn.json: train.loss[1].apply.@disabled: no search gives a value to 'lossFocl'"),
    (lambda c: c["train"]["loss"][1].update(apply={"@disable": "lossFocal"}),
     "trn.json: train.loss[1].apply.@disable: unknown switch '@disable'"),
    (lambda c: c["train"].update(optimizer=[{"name": "Adam"}, {"name": "Adam"}]),
     "trn.json: train.optimizer: a list of alternatives that no search chooses from"),
    (lambda c: c["train"]["pre_transforms"][0]["search"][0].update(args=["@disable"]),
     "trn.json: train.pre_transforms[0].search[0].args: unknown switch '@disable'"),
    (lambda c: c["train"]["pre_transforms"][0]["search"][0].update(type="float",
                                                                    targets=[0, 1]),
     "a float cannot switch a component on or off"),
    (lambda c: c["train"]["pre_transforms"][2].update(apply={"prob": "oscc"}),
     "trn.json: train.pre_transforms[2].apply.prob: no search gives a value to 'oscc' "
     "(did you mean osc?)"),
    (lambda c: c["train"]["pre_transforms"][2].update(
        search=[{"type": "float", "args": ["prob#osc"], "targets": [0, 1]}]),
     "alias 'osc' is already defined at train.pre_transforms[1].search[0].args"),
    (lambda c: c.update(search={"type": "enum"}),
     "trn.json: search: expected a list of search entries; Received: dict"),
    (lambda c: c["search"].append("lr"),
     "trn.json: search[2]: expected a search entry"),
    (lambda c: c["search"][0].update(arg=["x"]),
     "trn.json: search[0].arg: unknown key (did you mean args"),
    (lambda c: c["search"][0].update(args=[]),
     "trn.json: search[0].args: expected a non-empty list of names"),
    # A float search on an integer global: every drawn value (1.37) fails the trial.
    (lambda c: c["search"][0].update(args=["epochs"], targets=[1, 2]),
     "trn.json: search[0]: epochs expects an integer, but a float search draws fractional "
     "values; search it as an enum (\"targets\": [[1], [2]])"),
    # Two entries on one place: the later value would replace the earlier, silently.
    (lambda c: c["search"].append({"type": "float", "args": ["learning_rate"],
                                   "targets": [1e-5, 1e-4]}),
     "trn.json: search[2]: learning_rate is searched twice (search[0], search[2]); search "
     "each value in one entry"),
    (lambda c: c["train"]["model"].update(search=[
        {"type": "enum", "args": ["num_classes"], "targets": [[2], [3]]},
        {"type": "enum", "args": ["num_classes"], "targets": [[4], [5]]}]),
     "trn.json: train.model.search[1]: train.model.args.num_classes is searched twice "
     "(train.model.search[0], train.model.search[1])"),
    (lambda c: c["train"]["pre_transforms"][0]["search"].append(
        {"type": "enum", "args": ["@disabled"], "targets": [[False], [True]]}),
     "train.pre_transforms[0].disabled is searched twice"),
    (lambda c: c["search"].append({"type": "enum", "args": ["osc"],
                                   "targets": [[0.1], [0.2]]}),
     "trn.json: train.pre_transforms[1].search[0]: train.pre_transforms[2].args.prob is "
     "searched twice (search[2], train.pre_transforms[1].search[0])"),
]


@pytest.mark.parametrize("edit,expected", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_annotations_are_named_with_their_json_path(edit, expected):
    problems = _problems(_edited(edit))
    assert any(expected in p for p in problems), problems


def test_a_config_without_annotations_is_left_alone():
    plain = written_values(SEARCHED, "trn.json")
    assert not has_annotations(plain)
    assert read_space(plain, "trn.json").is_empty


def test_deeply_nested_configs_do_not_overflow():
    deep: dict = {"name": "Unet"}
    for _ in range(5000):
        deep = {"x": [deep]}
    config = {"train": {"model": {"name": "Unet", "args": {}}, "deep": deep}}
    assert read_space(config, "trn.json").is_empty


@pytest.mark.skipif(not AUTOML_FILES.is_dir(), reason="../shared/compat is not present")
@pytest.mark.parametrize("name,combinations", [
    ("trn_autoML_Enum.json", 8),  # the notebook: 8 MMARs for 8 combinations
    ("trn_autoML_Loss_Optimizer.json", 4),
    ("trn_autoML_Transform.json", 4),
    ("trn_autoML_LR_LP.json", None),
    ("trn_autoML_TransformProb.json", None),
])
def test_clara_automl_files_read_cleanly(name, combinations):
    config = json.loads((AUTOML_FILES / name).read_text())
    space = read_valid_space(config, name)
    assert space.enum_only == (combinations is not None)
    if combinations:
        assert space.combinations() == combinations
    for point in space.spanning_points():
        concrete = concrete_config(config, space, point, name)
        assert not any("search" in d or "apply" in d for d in _walk(concrete))
