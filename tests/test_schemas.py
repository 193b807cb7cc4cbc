"""The shipped JSON Schemas and the validator's messages."""

from __future__ import annotations

import json

import pytest

from mmarctl import schemas
from mmarctl.errors import UsageError
from mmarctl.problems import NOTE, Problem
from mmarctl.schemas.validator import validate

GOOD_TRAIN = {
    "epochs": 5, "learning_rate": 1e-4, "multi_gpu": False,
    "determinism": {"python_seed": "20191015", "random_seed": 1},
    "train": {
        "loss": {"name": "Dice", "args": {"skip_background": True}},
        "optimizer": {"name": "Adam"},
        "model": {"name": "MyNet", "path": "custom_models.net.MyNet", "args": {"n": 1},
                  "search": [{"type": "enum", "args": ["n"], "targets": [[1], [2]],
                              "domain": "net"}]},
        "pre_transforms": [
            {"name": "LoadNifti", "args": {"fields": "image"}},
            {"name": "ScaleByResolution#ScaleImg", "args": {"fields": ["image"]},
             "disabled": False},
            {"name": "RandomZoom", "disabled": "{NO_ZOOM}"},
        ],
        "image_pipeline": {"name": "SegmentationImagePipeline", "args": {}},
    },
    "validate": {"metrics": [], "pre_transforms": [{"ref": "LoadNifti"}, {"ref": "ScaleImg"}],
                 "image_pipeline": {"name": "SegmentationImagePipeline"},
                 "inferer": {"name": "TFSimpleInferer"}},
}


def messages(kind: str, data) -> list[str]:
    return [str(p) for p in validate(kind, data, "f.json")]


def test_schema_files_are_valid_draft_2020_12_and_load_as_package_data():
    from jsonschema import Draft202012Validator

    for name in schemas.NAMES:
        schema = schemas.load_schema(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert json.loads(schemas.schema_text(name)) == schema


def test_both_config_schemas_share_one_component_definition():
    train = schemas.load_schema("config_train")["$defs"]
    validation = schemas.load_schema("config_validation")["$defs"]
    assert train == validation


def test_load_schema_returns_a_copy():
    schemas.load_schema("datalist")["title"] = "changed"
    assert schemas.load_schema("datalist")["title"] != "changed"


def test_unknown_schema_name():
    with pytest.raises(UsageError, match="unknown schema 'enviroment'") as info:
        schemas.schema_text("enviroment")
    assert info.value.hint == "did you mean environment?"


def test_good_train_config_with_every_reference_form_passes():
    assert messages("config_train", GOOD_TRAIN) == []


def test_automl_lists_and_comment_keys_pass():
    data = json.loads(json.dumps(GOOD_TRAIN))
    data["train"]["loss"] = [{"name": "Dice", "apply": {"@disabled": "a"}},
                             {"name": "Focal", "apply": {"@disabled": "b"}}]
    data["train"]["__model"] = {"name": "Unet"}
    data["___search"] = [{"anything": True}]
    data["search"] = [{"domain": "lr", "type": "float", "args": ["learning_rate"],
                       "targets": [1e-4, 1e-3]}]
    assert messages("config_train", data) == []


@pytest.mark.parametrize("edit,expected", [
    (lambda d: d.update(epochs="ten"), 'f.json: epochs: expected integer, got string "ten"'),
    (lambda d: d.update(epochs=0), "f.json: epochs: must be >= 1, got integer 0"),
    (lambda d: d.update(learning_rate=0), "f.json: learning_rate: must be > 0, got integer 0"),
    (lambda d: d.update(multi_gpu="no"), 'f.json: multi_gpu: expected boolean, got string "no"'),
    (lambda d: d.pop("train"), 'f.json: $: missing required key "train"'),
    (lambda d: d["train"].pop("loss"), 'f.json: train: missing required key "loss"'),
    (lambda d: d["train"].update(pre_transforms={"name": "LoadNifti"}),
     "f.json: train.pre_transforms: expected array, got object"),
    (lambda d: d["train"].update(loss="Dice"), 'f.json: train.loss: expected object, got string "Dice"'),
    (lambda d: d["train"].update(model=None), "f.json: train.model: expected object, got null"),
    (lambda d: d["train"]["loss"].update(args=[1]), "f.json: train.loss.args: expected object, got array"),
    (lambda d: d["train"].update(model={"args": {}}),
     'f.json: train.model: a component needs "name", "path" or "ref"'),
    (lambda d: d["train"]["model"].update(path="my net"),
     'f.json: train.model.path: "path" must be a dotted module.Class name'),
    (lambda d: d.update(epoch=3), 'f.json: epoch: unknown key "epoch" (did you mean "epochs"?)'),
    (lambda d: d["train"].update(pre_transform=[]),
     'f.json: train.pre_transform: unknown key "pre_transform" (did you mean "pre_transforms"?)'),
    (lambda d: d["train"]["loss"].update(arg={}),
     'f.json: train.loss.arg: unknown key "arg" (did you mean "args"?)'),
    (lambda d: d["determinism"].update(random_seed=1.5),
     "f.json: determinism.random_seed: expected integer or string, got number 1.5"),
])
def test_train_config_mistakes(edit, expected):
    data = json.loads(json.dumps(GOOD_TRAIN))
    edit(data)
    assert expected in messages("config_train", data)


def test_unknown_keys_far_from_known_ones_are_accepted():
    data = json.loads(json.dumps(GOOD_TRAIN))
    data["my_lab_note"] = "x"
    data["train"]["loss"]["comment"] = "x"
    assert messages("config_train", data) == []


def test_validation_config():
    good = {"model_loader": {"name": "CheckpointLoader"}, "inferer": {"name": "TFSimpleInferer"},
            "pre_transforms": [], "writers": [], "DATA_LIST_KEY": "test", "batch_size": 1}
    assert messages("config_validation", good) == []
    assert 'f.json: $: missing required key "model_loader"' in messages(
        "config_validation", {k: v for k, v in good.items() if k != "model_loader"})
    assert 'f.json: writers: expected array, got object' in messages(
        "config_validation", {**good, "writers": {"name": "WriteNifti"}})
    assert 'f.json: val_metric: unknown key "val_metric" (did you mean "val_metrics"?)' in messages(
        "config_validation", {**good, "val_metric": []})


def test_environment():
    assert messages("environment", {"DATA_ROOT": "/d", "MY_OWN": 3}) == []
    assert messages("environment", {"DATA_ROOT": ["/d"]}) == [
        "f.json: DATA_ROOT: expected string, got array"]
    assert messages("environment", {"DATASET_JSN": "x.json"}) == [
        'f.json: DATASET_JSN: unknown key "DATASET_JSN" (did you mean "DATASET_JSON"?)']
    assert messages("environment", []) == ["f.json: $: expected object, got array"]


@pytest.mark.parametrize("data", [
    {"training": [{"image": "a.nii", "label": "b.nii"}], "validation": [{"image": "c.nii"}]},
    {"training": [{"image": ["t1.nii", "t2.nii"], "label": "s.nii"}]},
    {"training": [{"image": "x.png", "label": [0, 1, 0]}], "label_format": [1, 1, 1]},
    {"training": [{"image": "x.png", "label": 2}]},
    {"validation": [], "test": ["a.nii", {"image": "b.nii"}], "name": "Spleen",
     "numTraining": 0, "labels": {"0": "background"}},
])
def test_datalist_forms(data):
    assert messages("datalist", data) == []


@pytest.mark.parametrize("data,expected", [
    ({"training": [{"label": "b.nii"}]}, 'f.json: training[0]: each item needs an "image"'),
    ({"training": [{"image": 3}]}, "f.json: training[0].image: expected string, got integer 3"),
    ({"training": [{"image": "a", "label": {"x": 1}}]},
     "f.json: training[0].label: expected string, got object"),
    ({"training": {"image": "a"}}, "f.json: training: expected array, got object"),
    ({"trainig": []}, 'f.json: trainig: unknown key "trainig" (did you mean "training"?)'),
    ({"name": "x"}, 'f.json: $: a datalist needs a "training", "validation", "test" or '
                    '"testing" list'),
])
def test_datalist_mistakes(data, expected):
    assert expected in messages("datalist", data)


def test_skip_drops_errors_on_values_the_caller_reports_itself():
    data = json.loads(json.dumps(GOOD_TRAIN))
    data["epochs"] = "{EPOCHS}"
    assert messages("config_train", data)
    assert validate("config_train", data, "f.json", skip=lambda v: v == "{EPOCHS}") == []


def test_problem_formatting():
    assert str(Problem("a.json", "train.loss", "bad")) == "a.json: train.loss: bad"
    assert str(Problem("a.json", "", "bad")) == "a.json: bad"
    assert str(Problem("", "", "a.json:1:2: invalid JSON")) == "a.json:1:2: invalid JSON"
    assert str(Problem("a.json", "x", "m", NOTE)) == "a.json: x: note: m"
    assert str(Problem("a.json", "x", "m").as_note()) == "a.json: x: note: m"
