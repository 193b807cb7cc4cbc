"""``--set`` on a value the search draws is refused: every trial would train the --set value
while the leaderboard, results.json and provenance report the drawn one."""

from __future__ import annotations

import os

import pytest

from mmarctl.search.space import read_space, set_conflicts
from tests.search.test_automl_cli import _one_line_error, mmarctl, spleen, spleen_source  # noqa: F401

SEARCH = {"learning_rate": 1e-4, "epochs": 2,
          "search": [{"type": "float", "args": ["learning_rate"], "targets": [1e-4, 1e-3]}]}


def test_a_set_on_a_searched_global_names_the_search_entry():
    space = read_space(SEARCH, "config/config_train.json")
    (problem,) = set_conflicts(space, {"learning_rate": 0.5, "epochs": 3})
    assert str(problem) == ("config/config_train.json: search[0]: --set learning_rate=0.5: "
                            "learning_rate is searched here; leave it out of --set or remove "
                            "the search entry")
    assert set_conflicts(space, {"epochs": 3}) == []


def test_automl_refuses_a_set_on_a_searched_value_before_any_trial(spleen, tmp_path):
    pytest.importorskip("optuna")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = mmarctl("automl", spleen, "--set", "learning_rate=0.5", "--rounds", "1",
                     check=False, env=env, cwd=tmp_path)
    _one_line_error(result, "search[0]: --set learning_rate=0.5: learning_rate is searched")
    assert not (spleen / "automl").exists()
