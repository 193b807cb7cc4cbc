"""A trial stopped by Ctrl-C/SIGTERM is continued from its resumable state on --resume (in
its folder, renamed for the re-run's number), not started over from its first epoch."""

from __future__ import annotations

import json
import sys

from mmarctl.search.trials import TrialProcess, resumable_trial, reuse_trial_mmar
from mmarctl.workspace import Workspace


def _stopped_trial(study_dir, name="trial_001", state=True, checkpoint=True):
    root = study_dir / name
    (root / "models" / "resume").mkdir(parents=True)
    (root / ".mmarctl").mkdir()
    (root / ".mmarctl" / "provenance.json").write_text(json.dumps({"trial": 1, "seed": 3}))
    (root / "train.log").write_text("epoch 1\n")
    if state:
        (root / "models" / "resume" / "run.json").write_text("{}")
    if state and checkpoint:
        for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
            (root / "models" / "resume" / name).write_bytes(b"x")
    return root


def test_only_a_trial_of_this_study_with_a_saved_state_is_resumable(tmp_path):
    study = tmp_path / "automl" / "s"
    root = _stopped_trial(study)
    assert resumable_trial(root, study) == str(root)
    assert resumable_trial(root, tmp_path / "automl" / "other") is None
    assert resumable_trial(_stopped_trial(study, "trial_002", state=False), study) is None
    assert resumable_trial(study / "trial_009", study) is None  # gone
    # a hard kill left run.json without the checkpoint: train --resume would say "nothing
    # to resume", so the trial starts over
    assert resumable_trial(_stopped_trial(study, "trial_003", checkpoint=False), study) is None


def test_the_rerun_takes_over_the_stopped_folder_and_continues_its_log(tmp_path):
    study = tmp_path / "automl" / "s"
    stopped = _stopped_trial(study)
    trial = reuse_trial_mmar(stopped, study / "trial_003", {"trial": 3})
    assert not stopped.exists() and (trial.root / "models" / "resume" / "run.json").is_file()
    provenance = json.loads((trial.root / ".mmarctl" / "provenance.json").read_text())
    assert provenance == {"trial": 3, "seed": 3, "continues": "trial_001"}
    process = TrialProcess(trial, "config_train.json", [], gpus=None, threads=1, seed=3,
                           extra_flags=["--resume"])
    assert process.argv[-1] == "--resume"
    # A stand-in for the resumed `mmarctl train`: its log goes on after the stopped run's.
    process.argv = [sys.executable, "-c", "print('epoch 2')", "--resume"]
    process.run(lambda *a: False, lambda: False, None, poll_s=0.05)
    assert (trial.root / "train.log").read_text() == "epoch 1\nepoch 2\n"
