"""Each trial MMAR writes into folders of its own, whatever the source's environment says."""

from __future__ import annotations

import json

from mmarctl.search.trials import (create_trial_mmar, moved_own_folders, trial_environment,
                                   trial_set_value)
from mmarctl.workspace import Workspace


def _source(tmp_path, environment):
    source = tmp_path / "source"
    (source / "config").mkdir(parents=True)
    (source / "config" / "environment.json").write_text(json.dumps(environment))
    return Workspace(source)


def test_an_absolute_checkpoint_folder_becomes_each_trials_own(tmp_path):
    shared = tmp_path / "ck"
    source = _source(tmp_path, {"MMAR_CKPT_DIR": str(shared),
                                "MMAR_EVAL_OUTPUT_PATH": str(tmp_path / "ev"),
                                "DATA_ROOT": "data"})
    environment = trial_environment(source)
    # Shared, every trial would overwrite the others' checkpoints (and be validated on them).
    assert environment["MMAR_CKPT_DIR"] == "models"
    assert environment["MMAR_EVAL_OUTPUT_PATH"] == "eval"
    trials = [create_trial_mmar(source, tmp_path / "automl" / f"trial_00{n}",
                                "config_train.json", {}, {}) for n in range(2)]
    folders = {trial.checkpoint_dir() for trial in trials}
    assert folders == {trial.root / "models" for trial in trials}
    assert len(moved_own_folders(source, {})) == 2


def test_an_absolute_checkpoint_folder_from_set_becomes_each_trials_own(tmp_path):
    source = _source(tmp_path, {"DATA_ROOT": "data"})
    assert trial_set_value(source, "MMAR_CKPT_DIR", str(tmp_path / "ck")) == "models"
    # A folder inside the source MMAR is the same folder of the trial's own.
    inside = str(source.root / "ckpts" / "a")
    assert trial_set_value(source, "MMAR_CKPT_DIR", inside) == "ckpts/a"
    trial = create_trial_mmar(source, tmp_path / "trial_000", "config_train.json", {}, {},
                              overrides={"MMAR_CKPT_DIR": str(tmp_path / "ck")})
    assert trial.checkpoint_dir() == trial.root / "models"
    notes = moved_own_folders(source, {"MMAR_CKPT_DIR": str(tmp_path / "ck")})
    assert len(notes) == 1 and "MMAR_CKPT_DIR" in notes[0]


def test_relative_folders_are_left_alone(tmp_path):
    source = _source(tmp_path, {"MMAR_CKPT_DIR": "models", "MMAR_EVAL_OUTPUT_PATH": "eval"})
    assert moved_own_folders(source, {}) == []
    assert trial_environment(source)["MMAR_CKPT_DIR"] == "models"


def test_a_trial_of_a_config_not_named_config_train_is_an_ordinary_mmar(tmp_path):
    """Clara's trn_autoML.json layout: the concrete config is the trial's config_train.json
    (what its commands/, a plain validate and the final validation read), with no annotated
    copy and no AutoML settings naming a file the trial does not have."""
    source = _source(tmp_path, {"DATA_ROOT": "data"})
    config = source.root / "config"
    (config / "trn_autoML.json").write_text(json.dumps({"epochs": 1, "search": []}))
    (config / "config_validation.json").write_text("{}")
    (config / "config_automl.json").write_text(json.dumps(
        {"handlers": [{"name": "MMARHandler", "args": {"train_config_file": "trn_autoML.json"}}]}))
    trial = create_trial_mmar(source, tmp_path / "trial_000", "config/trn_autoML.json",
                              {"epochs": 1}, {"study": "s"})
    names = sorted(p.name for p in (trial.root / "config").iterdir())
    assert names == ["config_train.json", "config_validation.json", "environment.json"]
    assert json.loads((trial.root / "config" / "config_train.json").read_text()) == {"epochs": 1}
    provenance = json.loads((trial.root / ".mmarctl" / "provenance.json").read_text())
    assert provenance["config"] == "config/trn_autoML.json"
