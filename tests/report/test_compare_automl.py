"""compare next to AutoML: the annotated source beside its trials, a file given for a
folder, a Clara 4.x MMAR, and a hint said once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
from test_compare import clone, invoke, rows_of  # noqa: E402

from mmarctl.report.compare import AUTOML_SOURCE, compare  # noqa: E402


def _annotate(root: Path) -> None:
    """Two enabled loss alternatives, as an AutoML source has (train refuses them)."""
    path = root / "config" / "config_train.json"
    config = json.loads(path.read_text())
    loss = config["train"]["loss"]
    config["train"]["loss"] = [dict(loss, apply={"@disabled": "a"}),
                               dict(loss, apply={"@disabled": "b"})]
    config["search"] = [{"type": "enum", "args": ["a", "b"],
                         "targets": [[True, False], [False, True]]}]
    path.write_text(json.dumps(config))


def test_an_automl_source_compares_beside_its_trial(tmp_path):
    source = clone(tmp_path / "source", 1e-3, None)
    _annotate(source)
    trial = clone(tmp_path / "trial_000", 1e-3, [0.5, 0.7])
    rows = rows_of(compare([source, trial]))
    assert rows[("results", "status")] == ["not trained", "finished"]
    assert rows[("results", "config read")] == [AUTOML_SOURCE, "-"]
    assert ("components", "train.loss[1].path") in rows


def test_a_file_a_clara4_mmar_and_a_hint_said_once(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5])
    (a / "notes.json").write_text("{}")
    result = invoke(a / "notes.json", a)
    assert result.exit_code == 1 and "notes.json: not an MMAR folder: a file" in result.output
    c4 = clone(tmp_path / "c4", 1e-3, None)
    environment = json.loads((c4 / "config" / "environment.json").read_text())
    (c4 / "config" / "environment.json").write_text(json.dumps(
        {**environment, "CLARA_TRAIN_VERSION": "4.1"}))
    result = invoke(c4, a)
    assert result.exit_code == 1 and "Clara 4.x (PyTorch/MONAI) MMAR: not supported" \
        in result.output, result.output


def test_an_error_among_several_mmars_gives_its_hint_once(tmp_path, monkeypatch):
    import pytest

    from mmarctl.errors import ConfigError
    from mmarctl.workspace import Workspace

    a = clone(tmp_path / "a", 1e-3, [0.5])
    b = clone(tmp_path / "b", 1e-3, [0.6])

    def refused(self, name, overrides=None):
        raise ConfigError("cannot be read", file="config/config_train.json",
                          json_path="train.loss", hint="do this")

    monkeypatch.setattr(Workspace, "resolve", refused)
    with pytest.raises(ConfigError) as error:
        compare([a, b])
    assert str(error.value) == (f"{a}: config/config_train.json: train.loss: cannot be read "
                                "(do this)")


def _study(tmp_path: Path) -> Path:
    source = clone(tmp_path / "w2", 1e-3, [0.5, 0.6])
    study = source / "automl" / "config_train"
    clone(study / "trial_000", 1e-3, [0.5, 0.7])
    clone(study / "trial_001", 1e-2, None)  # failed before its first epoch
    (study / "results.json").write_text(json.dumps({"study": "config_train", "trials": [
        {"number": 0, "status": "complete", "metric": 0.7},
        {"number": 1, "status": "failed",
         "error": "Traceback...\nerror: train.loss: unknown loss 'Dice2'"}]}))
    return study


def test_a_study_folder_compares_its_trials(tmp_path):
    study = _study(tmp_path)
    comparison = compare([study])
    assert [run.label for run in comparison.runs] == ["trial_000", "trial_001"]
    rows = rows_of(comparison)
    assert rows[("results", "status")] == [
        "finished", "failed: error: train.loss: unknown loss 'Dice2'"]


def test_a_failed_trial_named_alone_says_failed_not_untrained(tmp_path):
    study = _study(tmp_path)
    rows = rows_of(compare([study / "trial_000", study / "trial_001"]))
    assert rows[("results", "status")][1].startswith("failed: ")
