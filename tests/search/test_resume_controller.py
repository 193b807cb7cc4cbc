"""--resume keeps the controller a study was made with: a changed config_automl.json would
mix two samplers in one study, and results.json would name the new one for every trial."""

from __future__ import annotations

import pytest

from mmarctl.errors import UsageError
from mmarctl.search.automl import AutomlRequest, _resumed_options
from mmarctl.search.settings import AutomlSettings
from mmarctl.search.space import read_space
from mmarctl.search.study import TRIAL_OPTIONS, default_storage, import_optuna, open_storage

pytest.importorskip("optuna")

FLOAT = {"learning_rate": 1e-4,
         "search": [{"type": "float", "args": ["learning_rate"], "targets": [1e-4, 1e-3]}]}
ENUM = {"learning_rate": 1e-4,
        "search": [{"type": "enum", "args": ["learning_rate"], "targets": [[1e-4], [1e-3]]}]}


def _study(tmp_path):
    study_dir = tmp_path / "automl" / "s"
    study_dir.mkdir(parents=True)
    optuna = import_optuna()
    study = optuna.create_study(study_name="s", storage=open_storage(default_storage(study_dir)))
    study.set_user_attr(TRIAL_OPTIONS, {"set_items": [], "seed": None, "train_flags": [],
                                        "controller": "ReinforcementController"})
    study.set_user_attr("total", 3)
    return study_dir


def _resume(study_dir, config, controller):
    request = AutomlRequest(mmar=None, set_items=[], resume=True)
    settings = AutomlSettings(controller=controller,
                              sampler="random" if controller == "RandomController" else "tpe")
    return _resumed_options(request, study_dir, "s", [], [], read_space(config, "f"), settings)


def test_a_changed_controller_is_refused_on_resume(tmp_path):
    study_dir = _study(tmp_path)
    with pytest.raises(UsageError, match="the study was made with the ReinforcementController; "
                                         "config_automl.json now names the RandomController"):
        _resume(study_dir, FLOAT, "RandomController")
    assert _resume(study_dir, FLOAT, "ReinforcementController")[3] == 3


def test_an_enum_only_study_runs_its_grid_whatever_the_controller(tmp_path):
    assert _resume(_study(tmp_path), ENUM, "RandomController")[3] == 3
