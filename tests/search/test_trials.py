"""A trial process followed through models/metrics_history.jsonl: pruning, failure, records."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mmarctl.run_records import read_history, read_summary
from mmarctl.runtime.training.contract import TrainState
from mmarctl.runtime.training.history import HistoryWriter
from mmarctl.search.trials import TrialProcess, trim_trial
from mmarctl.workspace import Workspace

#: Stands in for `mmarctl train`: writes one history record per "epoch", as HistoryWriter does.
FAKE_TRAIN = textwrap.dedent("""
    import json, signal, sys, time
    models, epochs, fail = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "fail"
    signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
    for epoch in range(1, epochs + 1):
        with open(models + "/metrics_history.jsonl", "a") as f:
            f.write(json.dumps({"epoch": epoch, "epochs": epochs, "key_metric": "dice",
                                "metrics": {"dice": epoch / 10}}) + "\\n")
        time.sleep(0.3)
    if fail:
        print("error: images/case_3.nii.gz: truncated file")
        sys.exit(1)
    with open(models + "/training_summary.json", "w") as f:
        json.dump({"status": "finished", "best_metric": epochs / 10, "best_epoch": epochs,
                   "key_metric": "dice"}, f)
""")


def _process(tmp_path: Path, epochs: int, fail: bool = False,
             checkpoints: str = "models") -> TrialProcess:
    (tmp_path / checkpoints).mkdir()
    if checkpoints != "models":
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "environment.json").write_text(
            json.dumps({"MMAR_CKPT_DIR": checkpoints}))
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    process = TrialProcess(Workspace(tmp_path), "config_train.json", [], gpus=None,
                           threads=1, seed=None)
    process.argv = [sys.executable, str(script), str(tmp_path / checkpoints), str(epochs),
                    "fail" if fail else "ok"]
    return process


def test_a_trial_reads_its_metrics_from_its_own_mmar_ckpt_dir(tmp_path):
    outcome = _process(tmp_path, epochs=2, checkpoints="ckpts").run(
        lambda epoch, value, final: False, lambda: False, "dice", poll_s=0.05)
    assert (outcome.status, outcome.metric, outcome.epoch) == ("complete", 0.2, 2)


def test_a_trial_keeps_its_checkpoint_and_eval_folders_relative(tmp_path):
    from mmarctl.search.trials import trial_environment

    source = tmp_path / "source"
    (source / "config").mkdir(parents=True)
    (source / "config" / "environment.json").write_text(json.dumps({
        "MMAR_CKPT_DIR": "ckpts", "MMAR_EVAL_OUTPUT_PATH": "results", "DATA_ROOT": "data"}))
    environment = trial_environment(Workspace(source))
    assert environment["MMAR_CKPT_DIR"] == "ckpts"
    assert environment["MMAR_EVAL_OUTPUT_PATH"] == "results"
    assert environment["DATA_ROOT"] == str((source / "data").resolve())  # the source's data


def test_trim_keeps_the_metrics_in_mmar_ckpt_dir(tmp_path):
    for name in ("config/config_train.json", "ckpts/model.ckpt.index",
                 "ckpts/metrics_history.jsonl", "ckpts/training_summary.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps({}))
    (tmp_path / "config" / "environment.json").write_text(json.dumps({"MMAR_CKPT_DIR": "ckpts"}))
    trim_trial(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["ckpts/metrics_history.jsonl", "ckpts/training_summary.json",
                    "config/config_train.json", "config/environment.json"]


def test_a_trial_behind_is_pruned_and_stopped(tmp_path):
    seen = []

    def on_validation(epoch, value, final):
        seen.append((epoch, value, final))
        return epoch == 2

    outcome = _process(tmp_path, epochs=20).run(on_validation, lambda: False, "dice",
                                                poll_s=0.05)
    assert outcome.status == "pruned"
    assert seen[:2] == [(1, 0.1, False), (2, 0.2, False)]
    assert len(read_history(tmp_path / "models")) < 20  # stopped, not run to the end
    assert outcome.metric == max(v for _, v, _ in seen)


def test_the_last_epoch_is_marked_final(tmp_path):
    # The study reports the final point but never prunes on it (the run is done by then).
    finals = []
    outcome = _process(tmp_path, epochs=2).run(
        lambda epoch, value, final: finals.append(final) or False, lambda: False, "dice",
        poll_s=0.05)
    assert finals == [False, True] and outcome.status == "complete"
    assert outcome.metric == 0.2 and outcome.epoch == 2


def test_a_stop_that_comes_after_the_run_ended_keeps_it_complete(tmp_path):
    """A Ctrl-C just after a trial's last epoch: the run has finished by itself, so the
    trial is complete (told to the study), not interrupted and run again."""
    process = _process(tmp_path, epochs=2)
    summary = tmp_path / "models" / "training_summary.json"

    def stop_once_ended() -> bool:
        if not summary.exists():
            return False
        process.process.wait()  # the stop reaches the study only after the run's exit
        return True

    outcome = process.run(lambda *a: False, stop_once_ended, "dice", poll_s=0.05)
    assert outcome.status == "complete" and outcome.metric == 0.2


def test_a_trial_killed_by_a_signal_says_so_not_its_last_progress_line(tmp_path):
    process = _process(tmp_path, epochs=50)
    process.argv[1:1] = ["-c", "import os, signal, sys, threading; threading.Timer(0.5, "
                         "lambda: os.kill(os.getpid(), signal.SIGKILL)).start(); "
                         "print('train: 1/50 epoch=1/50 loss=0.5', flush=True); "
                         "sys.argv = sys.argv[1:]; exec(open(sys.argv[0]).read())"]
    outcome = process.run(lambda *a: False, lambda: False, "dice", poll_s=0.05)
    assert outcome.status == "failed"
    assert outcome.error.startswith("the trial's train process was killed by SIGKILL (the "
                                    "out-of-memory killer does this"), outcome.error


def test_a_failed_trial_keeps_its_last_error_line(tmp_path):
    outcome = _process(tmp_path, epochs=1, fail=True).run(lambda *a: False, lambda: False,
                                                          "dice", poll_s=0.05)
    assert outcome.status == "failed"
    assert outcome.error == "error: images/case_3.nii.gz: truncated file"


def test_interrupt_from_another_thread_kills_a_run_that_ignores_sigint(tmp_path):
    """The study's Ctrl-C path stops trials from the main thread, whatever the worker thread
    is doing; a run that does not end within the grace time is killed (its whole group)."""
    import os
    import signal
    import threading

    process = _process(tmp_path, epochs=1000)
    # A run that ignores SIGINT (stuck in a native call, say): only SIGKILL ends it.
    process.argv[1:1] = ["-c", "import signal, runpy, sys; signal.signal(signal.SIGINT, "
                         "signal.SIG_IGN); signal.signal = lambda *a: None; "
                         "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0])"]
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(
        process.run(lambda *a: False, lambda: False, "dice", poll_s=0.05)))
    worker.start()
    while not read_history(tmp_path / "models"):
        time.sleep(0.05)
    started = time.monotonic()
    process.interrupt()
    process.wait_stopped(grace_s=1.0)
    assert 1.0 <= time.monotonic() - started < 10
    worker.join(timeout=10)
    assert outcomes and outcomes[0].status == "interrupted"
    with pytest.raises(ProcessLookupError):
        os.killpg(process.process.pid, 0)  # no process of its group is left


def test_an_interrupted_trial_that_has_not_started_never_starts(tmp_path):
    process = _process(tmp_path, epochs=1)
    process.interrupt()
    outcome = process.run(lambda *a: False, lambda: False, "dice", poll_s=0.05)
    assert outcome.status == "interrupted" and process.process is None


def test_history_writer_records_each_epoch_and_the_summary(tmp_path):
    writer = HistoryWriter(tmp_path, phase="finetune")
    state = TrainState(epochs=2, key_metric="dice")
    writer.on_train_begin(state)
    for epoch, dice in ((0, 0.5), (1, 0.7)):
        state.epoch, state.last_finished_epoch = epoch, epoch
        state.best_metric, state.best_epoch = dice, epoch
        writer.on_step_end(state, {"loss": 0.3, "learning_rate": 1e-3})
        writer.on_epoch_end(state, {"loss": 0.3, "dice": dice, "time_s": 1.0})
    writer.on_train_end(state)
    records = read_history(tmp_path)
    assert [r["epoch"] for r in records] == [1, 2] and records[0]["epochs"] == 2
    assert records[1]["metrics"] == {"dice": 0.7} and records[1]["phase"] == "finetune"
    assert records[1]["learning_rate"] == 1e-3 and records[1]["best_epoch"] == 2
    summary = read_summary(tmp_path)
    assert summary["best_metric"] == 0.7 and summary["status"] == "finished"
    (tmp_path / "metrics_history.jsonl").open("a").write('{"epoch": 3, "trunc')
    assert len(read_history(tmp_path)) == 2  # a line still being written is skipped


def test_trim_keeps_config_and_metrics_only(tmp_path):
    for name in ("config/config_train.json", "commands/train.sh", ".mmarctl/provenance.json",
                 "train.log", "models/model.ckpt.index", "models/metrics_history.jsonl",
                 "models/training_summary.json", "eval/metrics.json", "docs/Readme.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps({}))
    trim_trial(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [".mmarctl/provenance.json", "commands/train.sh",
                    "config/config_train.json", "models/metrics_history.jsonl",
                    "models/training_summary.json", "train.log"]


def test_study_scalars_are_written_without_tensorflow(tmp_path):
    import subprocess

    pytest_tensorboard = __import__("pytest").importorskip("tensorboard")
    code = ("import sys; from mmarctl.search.scalars import StudyScalars\n"
            f"s = StudyScalars({str(tmp_path)!r}); s.trial(0, 0.5, 3.0, {{'lr': 0.1}}); "
            "s.close()\nprint('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr
    assert pytest_tensorboard and list(tmp_path.glob("events.out.tfevents.*"))


def test_results_csv_keeps_text_parameters_unquoted(tmp_path):
    import csv

    from mmarctl.search.results import TrialRecord, write_results

    records = [TrialRecord(0, "complete", {"nf_enc": "8,16,16,32", "learning_rate": 0.001,
                                           "flip": True}, 0.8, 3, 12.5, "/s/trial_000"),
               TrialRecord(1, "failed", {"nf_enc": "16,32,32,64"}, None, None, 1.0, None,
                           error="error: bad")]
    write_results(tmp_path, "study", records, {})
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert rows[0]["nf_enc"] == "8,16,16,32" and rows[0]["learning_rate"] == "0.001"
    assert rows[0]["flip"] == "true" and rows[1]["learning_rate"] == ""
    assert rows[1]["error"] == "error: bad"
