"""`automl --amp`: the best trial is re-validated in the precision its trials trained in, and
results.json says which precision each of those runs computed in."""

from __future__ import annotations

import json
import subprocess
import types
from pathlib import Path

from mmarctl.search import automl, trials
from mmarctl.search.trials import create_trial_mmar, logged_precision, validate_trial
from mmarctl.workspace import Workspace

TRAIN_LINE = ("2026-12-07 02:04:57 INFO mmarctl.train: precision bfloat16: --amp and the CPU "
              "has avx512_bf16\n")
VALIDATE_LINE = ("2026-12-07 02:06:10 INFO mmarctl.validate: precision bfloat16: --amp and the "
                 "CPU has avx512_bf16\n")


def _fake_validate(calls: list[list[str]]):
    """subprocess.run standing in for `mmarctl validate ROOT ...`: logs its precision line
    and writes eval/metrics.json."""

    def run(argv, stdout, **kwargs):
        calls.append(list(argv))
        root = Path(argv[4])
        stdout.write(VALIDATE_LINE if "--amp" in argv else VALIDATE_LINE.replace(
            "bfloat16: --amp and the CPU has avx512_bf16", "float32: use_amp is false"))
        (root / "eval").mkdir(parents=True, exist_ok=True)
        (root / "eval" / "metrics.json").write_text(json.dumps(
            {"summary": {"mean_dice": {"value": 0.5}}}))
        return subprocess.CompletedProcess(argv, 0)

    return run


def test_validate_trial_passes_the_study_amp_flag(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(trials.subprocess, "run", _fake_validate(calls))
    assert validate_trial(tmp_path, "mean_dice", flags=["--amp"]) == (0.5, None)
    assert calls[0][3:] == ["validate", str(tmp_path), "--amp"]
    assert logged_precision(tmp_path / "validate.log") == \
        "bfloat16: --amp and the CPU has avx512_bf16"
    assert logged_precision(tmp_path / "absent.log") is None


def test_finish_validates_the_best_trial_with_amp_and_records_the_precisions(tmp_path,
                                                                              monkeypatch):
    best = tmp_path / "trial_001"
    best.mkdir()
    (best / "train.log").write_text(TRAIN_LINE + "train: 1 epoch x 3 steps\n")
    top = types.SimpleNamespace(number=1, mmar=str(best), key_metric="mean_dice")
    written: dict = {}
    calls: list[list[str]] = []
    monkeypatch.setattr(trials.subprocess, "run", _fake_validate(calls))
    monkeypatch.setattr(automl.results_module, "collect", lambda study: [top])
    monkeypatch.setattr(automl.results_module, "keep_best", lambda *a: [1])
    monkeypatch.setattr(automl.results_module, "best", lambda records: top)
    monkeypatch.setattr(automl.results_module, "write_results",
                        lambda study_dir, run_id, records, extra: written.update(extra))
    options = types.SimpleNamespace(train_flags=["--amp", "--tracking", "mlflow"],
                                    run_id="config_train", config_name="config_train.json")
    prepared = types.SimpleNamespace(
        options=options, study_dir=tmp_path, total=2, space=types.SimpleNamespace(enum_only=True),
        settings=types.SimpleNamespace(num_mmars_to_keep=1, key_mmar_content_only=False,
                                       controller="grid", sampler="grid"))
    study = types.SimpleNamespace(study=None, threshold_reached=types.SimpleNamespace(
        is_set=lambda: False))
    _, _, validation = automl.finish(study, prepared)
    assert calls[0][-1] == "--amp"  # as the trials trained, not the config's use_amp
    assert written["amp"] == "--amp"
    assert validation["precision"] == validation["trained_precision"] == \
        "bfloat16: --amp and the CPU has avx512_bf16"
    assert written["best_validation"] is validation


def test_a_trial_mmar_keeps_the_study_amp_as_use_amp(tmp_path):
    source = tmp_path / "source"
    (source / "config").mkdir(parents=True)
    (source / "config" / "environment.json").write_text("{}")
    trial = create_trial_mmar(Workspace(source), tmp_path / "trial_000", "config_train.json",
                              {"use_amp": False}, {}, amp=True)
    assert json.loads((trial.root / "config" / "config_train.json").read_text())["use_amp"]
    provenance = json.loads((trial.root / ".mmarctl" / "provenance.json").read_text())
    assert provenance["amp"] is True
    plain = create_trial_mmar(Workspace(source), tmp_path / "trial_001", "config_train.json",
                              {"use_amp": False}, {})
    assert json.loads((plain.root / "config" / "config_train.json").read_text())["use_amp"] \
        is False


def test_the_study_flag_is_the_trials_use_amp():
    from mmarctl.search.study import study_amp

    assert study_amp(["--tracking", "mlflow", "--amp"]) is True
    assert study_amp(["--no-amp"]) is False
    assert study_amp(["--tracking", "none"]) is None  # the config's own use_amp stands


def test_a_validation_config_that_writes_use_amp_takes_the_study_amp(tmp_path):
    source = tmp_path / "source"
    (source / "config").mkdir(parents=True)
    (source / "config" / "environment.json").write_text("{}")
    (source / "config" / "config_validation.json").write_text(json.dumps({"use_amp": False}))
    (source / "config" / "config_validation_ckpt.json").write_text(json.dumps({"x": 1}))
    trial = create_trial_mmar(Workspace(source), tmp_path / "trial_000", "config_train.json",
                              {"use_amp": False}, {}, amp=True)
    config = trial.root / "config"
    assert json.loads((config / "config_validation.json").read_text())["use_amp"] is True
    # One that does not write use_amp takes the training config's: left as it is.
    assert json.loads((config / "config_validation_ckpt.json").read_text()) == {"x": 1}
