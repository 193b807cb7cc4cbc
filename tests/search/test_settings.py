"""config_automl.json: Clara's controller, handlers and executor, and their mistakes."""

from __future__ import annotations

import json

import pytest

from mmarctl.errors import ConfigError
from mmarctl.search.settings import AutomlSettings, load_settings, read_settings
from tests.conftest import SHARED

AUTOML_FILES = SHARED / "compat" / "clara4-automl" / "config"

CLARA = {
    "handlers": [
        {"name": "MMARHandler", "args": {"num_mmars_to_keep": 3, "stop_threshold": 0.95,
                                         "train_config_file": "{trainconf}",
                                         "key_mmar_content_only": True}},
        {"name": "StatsHandler"}, {"name": "MMARStatsHandler"},
        {"name": "MMARTensorboardHandler"}],
    "executor": {"name": "MMARExecutor", "args": {"msg_destination": "file",
                                                  "remove_search_augs": True}},
    "controller": {"name": "ReinforcementController", "args": {"max_rounds": 5}},
}


def test_clara_settings_are_read():
    settings, problems = read_settings(CLARA, "config_automl.json")
    assert problems == []
    assert settings.sampler == "tpe" and settings.max_rounds == 5
    assert settings.num_mmars_to_keep == 3 and settings.stop_threshold == 0.95
    assert settings.key_mmar_content_only and settings.tensorboard


def test_defaults_when_absent(tmp_path):
    assert load_settings(tmp_path / "config_automl.json") == AutomlSettings()
    random = read_settings({"controller": {"name": "RandomController"}}, "a.json")[0]
    assert random.sampler == "random"


@pytest.mark.parametrize("edit,expected", [
    (lambda c: c["controller"].update(name="ReinforcmentController"),
     "config_automl.json: controller.name: unknown controller 'ReinforcmentController' "
     "(did you mean ReinforcementController"),
    (lambda c: c["controller"].update(path="my.Controller"),
     "config_automl.json: controller.path: a BYOC controller is not supported"),
    (lambda c: c["controller"]["args"].update(max_rounds=0),
     "config_automl.json: controller.args.max_rounds: expected at least 1; Received: 0"),
    (lambda c: c["controller"]["args"].update(max_round=3),
     "config_automl.json: controller.args.max_round: unknown argument (did you mean "
     "max_rounds?)"),
    (lambda c: c["handlers"][0]["args"].update(num_mmars_to_keep="3"),
     "config_automl.json: handlers[0].args.num_mmars_to_keep: expected an integer; "
     "Received: '3'"),
    (lambda c: c["handlers"][0]["args"].update(stop_threshold=float("nan")),
     "config_automl.json: handlers[0].args.stop_threshold: expected a finite number"),
    (lambda c: c["handlers"].append({"name": "MMARStatHandler"}),
     "config_automl.json: handlers[4].name: unknown handler 'MMARStatHandler' (did you mean "
     "MMARStatsHandler"),
    (lambda c: c["executor"].update(name="Executor"),
     "config_automl.json: executor.name: unknown executor 'Executor'"),
    (lambda c: c.update(controler={}),
     "config_automl.json: controler: unknown key (did you mean controller?)"),
    (lambda c: c.update(handlers={}),
     "config_automl.json: handlers: expected a list of handlers"),
])
def test_bad_settings_are_one_line_each(edit, expected):
    config = json.loads(json.dumps(CLARA))
    edit(config)
    _, problems = read_settings(config, "config_automl.json")
    assert any(str(p).startswith(expected) for p in problems), [str(p) for p in problems]


def test_load_raises_the_first_error(tmp_path):
    path = tmp_path / "config_automl.json"
    path.write_text(json.dumps({"controller": {"name": "Nope"}}))
    with pytest.raises(ConfigError, match="controller.name: unknown controller 'Nope'"):
        load_settings(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="config_automl.json:1:2: invalid JSON"):
        load_settings(path)


@pytest.mark.skipif(not AUTOML_FILES.is_dir(), reason="../shared/compat is not present")
def test_clara_files_from_the_notebook():
    settings, problems = read_settings(
        json.loads((AUTOML_FILES / "config_automl.json").read_text()), "config_automl.json")
    assert problems == [] and settings.max_rounds == 8 and settings.num_mmars_to_keep == 30
    # The BYOC handler example: its own handler is a note, the rest is read; its Clara 4
    # work_dir (/claraDevDay/...) is refused rather than made at the filesystem root.
    _, problems = read_settings(
        json.loads((AUTOML_FILES / "config_automl_BYO_handler.json").read_text()), "b.json")
    assert sorted(p.severity for p in problems) == ["error", "note"]
    assert any(p.json_path.endswith("args.work_dir") and p.severity == "error"
               for p in problems), [str(p) for p in problems]
    _, problems = read_settings(
        json.loads((AUTOML_FILES / "config_automl_BYO_RandomController.json").read_text()),
        "r.json")
    assert any("BYOC controller is not supported" in str(p) for p in problems)
