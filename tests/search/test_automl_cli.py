"""``mmarctl automl`` from the command line: refusals that write nothing, then real studies.

The slow tests run real trials (the spleen scaffold, 1 epoch on small synthetic volumes) in
their own processes, as a user would; the PostgreSQL test starts a real server on loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.distributed.tiny_spleen import shrink_config
from tests.search.test_space import SEARCHED  # noqa: F401  (the unit tests' search, for reference)

pytest.importorskip("optuna")


def mmarctl(*args, check=True, timeout=900, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)],
                            capture_output=True, text=True, timeout=timeout, **kwargs)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


#: The issue's search on the spleen scaffold: learning_rate (float), the loss as Dice or
#: Focal alternatives, and RandomSpatialFlip's own @disabled.
def annotate_spleen(config: dict) -> dict:
    config["search"] = [
        {"domain": "lr", "type": "float", "args": ["learning_rate"], "targets": [1e-4, 3e-3]},
        {"domain": "transform", "type": "enum", "args": ["lossDice", "lossFocal"],
         "targets": [[False, True], [True, False]]}]
    dice = dict(config["train"]["loss"], apply={"@disabled": "lossDice"})
    focal = {"name": "Focal", "disabled": True, "apply": {"@disabled": "lossFocal"}}
    config["train"]["loss"] = [dice, focal]
    flip = next(t for t in config["train"]["pre_transforms"]
                if t["name"] == "RandomSpatialFlip")
    flip["search"] = [{"domain": "transform", "type": "enum", "args": ["@disabled"],
                       "targets": [[True], [False]]}]
    return config


@pytest.fixture(scope="module")
def spleen_source(tmp_path_factory) -> Path:
    """The annotated spleen scaffold on 4 synthetic cases, its crops and window shrunk to
    16^3 (the search, transforms, network and pipelines stay the scaffold's): a trial is
    then mostly its process's start-up, which is what these tests are about."""
    root = tmp_path_factory.mktemp("automl") / "spleen"
    mmarctl("clone", "spleen", root)
    mmarctl("data", "synth", root / "data", "--cases", 4, "--size", 32, "--seed", 0)
    path = root / "config" / "config_train.json"
    config = shrink_config(json.loads(path.read_text()), crop=16, patches=2, batch=2,
                           epochs=1, deterministic=False)
    path.write_text(json.dumps(annotate_spleen(config), indent=2))
    return root


@pytest.fixture
def spleen(spleen_source, tmp_path) -> Path:
    root = tmp_path / "spleen"
    shutil.copytree(spleen_source, root, symlinks=True)
    return root


def _one_line_error(result, *fragments):
    output = (result.stdout + result.stderr).strip()
    assert result.returncode in (1, 2), output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, output


@pytest.mark.parametrize("args,fragments", [
    (["--worker-gpus", "0:x"], ["--worker-gpus: expected GPU numbers", "'0:x'"]),
    (["--worker-gpus", "0:1"], ["--worker-gpus names GPU 0 but this machine has 0 GPU(s)"]),
    (["--workers", "2", "--worker-gpus", "0"], ["give --workers or --worker-gpus, not both"]),
    (["--resume"], ["--resume: no study to resume in automl/config_train"]),
    (["--storage", "postgresql://mmarctl@127.0.0.1:9/none", "--rounds", "1"],
     ["--storage postgresql://mmarctl@127.0.0.1:9/none: cannot open the study storage"]),
    (["--storage", "nosuchdb://x"], ["--storage 'nosuchdb://x': not a database URL"]),
    (["--run-id", "a/b"], ["--run-id must be a plain folder name"]),
    (["--config-train", "config/missing.json"], ["config/missing.json: file not found"]),
])
def test_bad_options_are_one_line_and_write_nothing(spleen, args, fragments):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    _one_line_error(mmarctl("automl", spleen, *args, check=False, env=env), *fragments)
    assert not (spleen / "automl").exists()


def test_bad_annotations_and_settings_stop_before_the_study(spleen):
    path = spleen / "config" / "config_train.json"
    config = json.loads(path.read_text())
    config["search"][0]["targets"] = [3e-3, 1e-4]
    path.write_text(json.dumps(config))
    _one_line_error(mmarctl("automl", spleen, check=False),
                    "config/config_train.json: search[0].targets: low must be below high")
    assert "search[0].targets: low must be below high" in mmarctl("check", spleen,
                                                                 check=False).stdout
    config["search"][0]["targets"] = [1e-4, 3e-3]
    path.write_text(json.dumps(config))
    (spleen / "config" / "config_automl.json").write_text(json.dumps(
        {"controller": {"name": "ReinforcementControler", "args": {"max_rounds": 2}}}))
    _one_line_error(mmarctl("automl", spleen, check=False),
                    "config/config_automl.json: controller.name: unknown controller",
                    "did you mean ReinforcementController")
    assert "controller.name: unknown controller" in mmarctl("check", spleen, check=False).stdout
    assert not (spleen / "automl").exists()


def test_a_missing_train_config_file_is_named_where_config_automl_names_it(spleen):
    """No --config-train was given: the missing file comes from config_automl.json, and both
    check and automl say so at its JSON path."""
    (spleen / "config" / "config_automl.json").write_text(json.dumps({"handlers": [
        {"name": "StatsHandler"},
        {"name": "MMARHandler", "args": {"train_config_file": "config/nope.json"}}]}))
    expected = ("config/config_automl.json: handlers[1].args.train_config_file: names "
                "config/nope.json, which is not found")
    _one_line_error(mmarctl("automl", spleen, check=False), expected)
    assert "--config-train names" not in mmarctl("automl", spleen, check=False).stderr
    checked = mmarctl("check", spleen, check=False)
    assert checked.returncode == 1 and expected in checked.stdout, checked.stdout
    assert not (spleen / "automl").exists()


def test_no_annotations_is_refused(spleen):
    plain = spleen / "config" / "plain.json"
    config = json.loads((spleen / "config" / "config_train.json").read_text())
    config.pop("search")
    config["train"]["loss"] = config["train"]["loss"][0]
    config["train"]["loss"].pop("apply")
    for transform in config["train"]["pre_transforms"]:
        transform.pop("search", None)
    plain.write_text(json.dumps(config))
    _one_line_error(mmarctl("automl", spleen, "-c", "plain.json", check=False),
                    "config/plain.json: no search annotations: nothing to search")


def test_train_runs_the_written_values_and_refuses_undecided_lists(spleen):
    result = mmarctl("train", spleen, "--epochs", 1, "--set", "num_training_epoch_per_valid=1")
    assert "has AutoML search annotations: training the values written in it" in result.stderr
    path = spleen / "config" / "config_train.json"
    config = json.loads(path.read_text())
    del config["train"]["loss"][1]["disabled"]
    path.write_text(json.dumps(config))
    _one_line_error(mmarctl("train", spleen, "--epochs", 1, check=False),
                    "config/config_train.json: train.loss: a list of 2 alternatives with 2 "
                    "enabled", "mmarctl automl")
    assert "mmarctl train` needs exactly one" in mmarctl("check", spleen).stdout  # a note


def _results(root: Path, run_id: str = "config_train") -> dict:
    return json.loads((root / "automl" / run_id / "results.json").read_text())


EPOCH = ["--set", "epochs=1", "--set", "num_training_epoch_per_valid=1"]


@pytest.mark.slow
def test_a_study_of_four_trials_on_two_workers(spleen):
    result = mmarctl("automl", spleen, "--rounds", 4, "--workers", 2, "--seed", 0, *EPOCH)
    results = _results(spleen)
    trials = results["trials"]
    assert sorted(t["number"] for t in trials) == [0, 1, 2, 3]
    assert {t["status"] for t in trials} <= {"complete", "pruned", "failed"}
    assert all(set(t["params"]) == {"learning_rate", "lossDice", "lossFocal",
                                    "RandomSpatialFlip.disabled"} for t in trials)
    assert all(1e-4 <= t["params"]["learning_rate"] <= 3e-3 for t in trials)
    assert all(t["params"]["lossDice"] != t["params"]["lossFocal"] for t in trials)
    # both workers ran trials: "trial N started (worker W: CPU, T thread(s))" on stderr
    workers = set(re.findall(r"trial \d+ started \(worker (\d+):", result.stderr))
    assert workers == {"0", "1"}, result.stderr[-2000:]
    for trial in trials:
        mmar = Path(trial["mmar"])
        provenance = json.loads((mmar / ".mmarctl" / "provenance.json").read_text())
        assert provenance["study"] == "config_train" and provenance["trial"] == trial["number"]
        concrete = json.loads((mmar / "config" / "config_train.json").read_text())
        assert "search" not in json.dumps(concrete) and "apply" not in json.dumps(concrete)
        loss = "Focal" if trial["params"]["lossDice"] else "Dice"
        assert concrete["train"]["loss"]["name"] == loss
        assert (mmar / "commands" / "train.sh").is_file()
    best = trials[0]
    assert best["status"] == "complete" and results["best_trial"] == best["number"]
    assert (Path(best["mmar"]) / "models" / "model.ckpt.index").is_file()  # kept whole
    # The best MMAR's own validate gives what the study recorded for it.
    recorded = results["best_validation"]["metric"]
    mmarctl("validate", best["mmar"])
    summary = json.loads((Path(best["mmar"]) / "eval" / "metrics.json").read_text())["summary"]
    assert summary["mean_dice"]["value"] == pytest.approx(recorded, abs=1e-6)
    csv_lines = (spleen / "automl" / "config_train" / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("number,status,")
    assert f"MMAR {best['mmar']}" in result.stdout.strip().splitlines()[-1]
    assert "learning_rate" in result.stdout  # the leaderboard
    # Study scalars, read back with TensorBoard's own loader: one point per trial.
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator").EventAccumulator(
        str(spleen / "automl" / "config_train" / "study"))
    accumulator.Reload()
    assert {"automl/metric", "automl/best_metric", "params/learning_rate"} <= set(
        accumulator.Tags()["scalars"])
    points = accumulator.Scalars("params/learning_rate")
    assert sorted(p.step for p in points) == [0, 1, 2, 3]
    by_trial = {t["number"]: t["params"]["learning_rate"] for t in trials}
    assert all(p.value == pytest.approx(by_trial[p.step], rel=1e-6) for p in points)


@pytest.mark.slow
def test_enum_only_search_runs_every_combination_once(spleen):
    path = spleen / "config" / "config_train.json"
    config = json.loads(path.read_text())
    config["search"] = config["search"][1:]  # the loss alternatives only: 2 x flip 2 = 4
    config["train"]["pre_transforms"] = [{k: v for k, v in t.items() if k != "search"}
                                         for t in config["train"]["pre_transforms"]]
    path.write_text(json.dumps(config))
    (spleen / "config" / "config_automl.json").write_text(json.dumps({
        "controller": {"name": "ReinforcementController", "args": {"max_rounds": 9}},
        "handlers": [{"name": "MMARHandler", "args": {"num_mmars_to_keep": 1}}]}))
    mmarctl("automl", spleen, "--workers", 2, *EPOCH)
    trials = _results(spleen)["trials"]
    assert len(trials) == 2  # K combinations, whatever max_rounds says
    assert sorted(t["params"]["lossDice"] for t in trials) == [False, True]
    kept = [t for t in trials if (Path(t["mmar"]) / "models" / "model.ckpt.index").exists()]
    assert len(kept) == 1  # num_mmars_to_keep; the others keep config and metrics
    for trial in trials:
        assert (Path(trial["mmar"]) / "config" / "config_train.json").is_file()
        assert (Path(trial["mmar"]) / "models" / "training_summary.json").is_file()


@pytest.mark.slow
def test_ctrl_c_then_resume_runs_only_what_is_left(spleen):
    args = [sys.executable, "-m", "mmarctl", "automl", str(spleen), "--rounds", 2,
            "--workers", 1, *EPOCH]
    # Ctrl-C as a terminal delivers it: the study starts with SIGINT's default action even
    # when the test runner itself was started in the background (SIGINT ignored, inherited).
    study = subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    history = spleen / "automl" / "config_train" / "trial_001" / "train.log"
    deadline = time.monotonic() + 300
    while not history.exists() and time.monotonic() < deadline:  # trial 0 done, 1 started
        time.sleep(0.5)
    assert history.exists(), "trial 1 never started"
    time.sleep(2)
    study.send_signal(signal.SIGINT)
    output, _ = study.communicate(timeout=120)
    assert study.returncode == 130, output
    assert "--resume" in output and "Traceback" not in output
    first = _results(spleen)["trials"]
    done = {t["number"] for t in first if t["status"] in ("complete", "pruned")}
    assert 0 in done and 1 not in done
    before = {n: (spleen / "automl" / "config_train" / f"trial_{n:03d}" / "models" /
                  "training_summary.json").stat().st_mtime_ns for n in done}

    mmarctl("automl", spleen, "--resume", *EPOCH)
    trials = _results(spleen)["trials"]
    assert len([t for t in trials if t["status"] in ("complete", "pruned")]) == 2
    assert len(trials) == 2  # the interrupted attempt was replaced by its re-run
    for number, mtime in before.items():  # finished trials were not run again
        assert (spleen / "automl" / "config_train" / f"trial_{number:03d}" / "models" /
                "training_summary.json").stat().st_mtime_ns == mtime
    _one_line_error(mmarctl("automl", spleen, check=False), "already holds a study",
                    "--resume")
    # --resume with more --rounds grows the study by the difference.
    mmarctl("automl", spleen, "--resume", "--rounds", 3, *EPOCH)
    assert len(_results(spleen)["trials"]) == 3


def _start_interruptible(args: list, **kwargs) -> subprocess.Popen:
    """`mmarctl ARGS` started as a terminal would: SIGINT's default action restored, since a
    test runner started in the background ignores SIGINT and its children inherit that."""
    return subprocess.Popen([sys.executable, "-m", "mmarctl", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            **kwargs)


@pytest.mark.slow
def test_ctrl_c_stops_the_running_trial_process_and_queues_it_again(spleen):
    """The trial's `mmarctl train` runs in its own session, so only the study can stop it.
    A Ctrl-C while the study waits on its workers must stop it, record it as interrupted and
    queue it again: no trial process outlives the study, none is left running."""
    import optuna

    from tests.tagged_processes import TAG_ENV, tagged_pids

    tag = f"automl-ctrl-c-{os.getpid()}-{time.monotonic_ns()}"
    study = _start_interruptible(
        ["automl", spleen, "--rounds", 2, "--seed", 7, "--set", "epochs=1000",
         "--set", "num_training_epoch_per_valid=1"], env={**os.environ, TAG_ENV: tag})
    try:
        deadline = time.monotonic() + 120
        trials: list[int] = []
        while not trials and time.monotonic() < deadline:
            time.sleep(0.5)
            trials = [pid for pid in tagged_pids(tag) if pid != study.pid]
        assert trials, "the first trial never started"
        time.sleep(3)  # well into training (1000 epochs: still running when interrupted)
        study.send_signal(signal.SIGINT)
        output, _ = study.communicate(timeout=120)
        assert study.returncode == 130, output
        assert "trial 0 interrupted" in output and "Traceback" not in output, output
        assert tagged_pids(tag) == [], "a trial process outlived the study"
    finally:
        for pid in tagged_pids(tag):  # only what this test started (its tag)
            os.kill(pid, signal.SIGKILL)
        study.kill()
        study.wait()
    stored = optuna.load_study(study_name="config_train", storage=(
        f"sqlite:///{spleen / 'automl' / 'config_train' / 'study.db'}"))
    first = stored.trials[:2]
    assert [t.state.name for t in stored.trials if t.state.name != "WAITING"] == ["FAIL"]
    assert first[0].user_attrs.get("mmarctl_interrupted") is True
    waiting = [t for t in stored.trials if t.state.name == "WAITING"]
    # queued again with the same values (a queued trial holds them as Optuna's fixed_params)
    assert first[0].params in [t.system_attrs.get("fixed_params") for t in waiting]
    assert all(t["status"] != "running" for t in _results(spleen)["trials"])
    _resume_reuses_the_study_options(spleen, output)


def _resume_reuses_the_study_options(spleen: Path, output: str) -> None:
    """After the Ctrl-C above (a study of --rounds 2 --seed 7 --set epochs=1000 ...): the
    printed command resumes it with those options; a different one is refused."""
    from mmarctl.search.automl import AutomlRequest, prepare

    assert f"continue with `mmarctl automl {spleen} --run-id config_train --resume`" in output
    prepared = prepare(AutomlRequest(mmar=str(spleen), set_items=[], run_id="config_train",
                                     resume=True))
    assert prepared.options.set_items == ["epochs=1000", "num_training_epoch_per_valid=1"]
    assert prepared.options.seed == 7 and prepared.total == 2
    for args, fragment in [
            (["--set", "epochs=1"], "--resume: --set epochs=1 differs from the study's --set "
                                    "epochs=1000 --set num_training_epoch_per_valid=1"),
            (["--seed", 3], "--resume: --seed 3 differs from the study's --seed 7"),
            (["--rounds", 1], "--resume --rounds 1: the study plans 2 trials")]:
        _one_line_error(mmarctl("automl", spleen, "--resume", *args, check=False), fragment)


def _two_processes_share(spleen: Path, url: str) -> list[dict]:
    """Two `mmarctl automl` on one storage at once; returns the study's trials."""
    import optuna

    args = ["automl", str(spleen), "--storage", url, "--rounds", 3, "--workers", 1,
            "--run-id", "shared", *EPOCH]
    processes = [subprocess.Popen([sys.executable, "-m", "mmarctl", *map(str, args)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert any("created study" in o for o in outputs) and any("joined study" in o
                                                               for o in outputs)
    trials = optuna.load_study(study_name="shared", storage=url).get_trials()
    real = [t for t in trials if not t.user_attrs.get("mmarctl_surplus")]
    assert len([t for t in real if t.state.name in ("COMPLETE", "PRUNED")]) == 3
    assert len(real) == 3  # no trial ran twice, none beyond --rounds
    slots = {(t.user_attrs["mmar"]) for t in real}
    assert len(slots) == 3
    # Both processes ran trials: each prints the trials it started.
    assert all("trial " in o and " started " in o for o in outputs), outputs
    return [t for t in real]


@pytest.mark.slow
def test_two_processes_split_a_sqlite_study(spleen, tmp_path):
    _two_processes_share(spleen, f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.fixture
def postgresql():
    """A PostgreSQL server of the OS packages on a free loopback port (skips without one)."""
    import glob
    import socket

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server installed (scripts/test.sh installs it as root)")
    pytest.importorskip("psycopg")
    import tempfile

    bin_dir = Path(found[-1]).parent
    # Outside pytest's private (0700) tmp folders: the server may run as another user.
    home = Path(tempfile.mkdtemp(prefix="mmarctl-pg-"))
    os.chmod(home, 0o755)
    data = home / "data"
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the package's user
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(data / "log"), "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_two_processes_split_a_postgresql_study(spleen, postgresql):
    _two_processes_share(spleen, postgresql)
