"""validate / infer over several processes (``--gpus N``, ``multi_gpu: true``).

The launching side (options handed to the launcher, refusals before any worker starts) runs
with a stand-in launch; a real Gloo job is held to a one-process run of the same cases: the
files rank 0 writes are the ones one process writes. (Clara's evaluate under mpirun:
tests/nvmidl_shim/test_clara_scripts_run.py; evaluate itself as two ranks, classification
CSVs included: tests/runtime/test_evaluation_two_ranks.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

HERE = Path(__file__).parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "check"))
from broken_mmars import edit_json, mmar, spleen, with_checkpoint  # noqa: E402,F401

from mmarctl import launcher  # noqa: E402
from mmarctl.cli import app  # noqa: E402

runner = CliRunner()


@pytest.fixture
def launches(monkeypatch):
    """The launches the command asked for: (argv, options), none started."""
    calls = []
    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: calls.append((argv, kw)) or 0)
    return calls


def _training_list_validated(root: Path) -> None:
    """Validate on the 3-case training list (the validation list has one case): 2 workers
    get 2 and 1."""
    edit_json(root / "config" / "environment.json",
              lambda env: env.update(DATA_LIST_KEY="training"))


def test_validate_hands_its_options_and_the_eval_lock_to_the_launcher(mmar, launches):
    _training_list_validated(with_checkpoint(mmar))
    result = runner.invoke(app, ["validate", str(mmar), "--gpus", "2", "--cpu", "--no-amp",
                                 "--model", "ckpt", "--launcher", "mpirun", "--set",
                                 "MMAR_EVAL_OUTPUT_PATH=eval-2"])
    assert result.exit_code == 0, result.output
    (argv, options), = launches
    assert argv == ["validate", str(mmar.resolve()), "--set", "MMAR_EVAL_OUTPUT_PATH=eval-2",
                    "--config", "config_validation.json", "--config-train",
                    "config_train.json", "--model", "ckpt", "--no-amp"]
    locks = options.pop("locks")  # held while the job ran, then released
    assert [lock.path for lock in locks] == [mmar.resolve() / "eval-2" / ".mmarctl.lock"]
    assert not locks[0].held
    assert options == {"gpus": 2, "cpu": True, "hosts": None, "hostfile": None,
                       "launcher": "mpirun"}
    assert result.output == ""  # the workers' rank 0 reports


def test_infer_passes_inputs_output_and_preview_to_every_worker(mmar, launches, tmp_path):
    with_checkpoint(mmar)
    images = sorted((mmar / "data" / "imagesTr").iterdir())[:3]
    out = tmp_path / "predictions"
    result = runner.invoke(app, ["infer", str(mmar), "--gpus", "3", "--cpu", "--preview",
                                 "-o", str(out), *sum((["-i", str(p)] for p in images), [])])
    assert result.exit_code == 0, result.output
    (argv, options), = launches
    assert argv[argv.index("--output") + 1] == str(out.resolve())
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--input"] == [str(p) for p in images]
    assert "--preview" in argv and options["gpus"] == 3
    assert [lock.path for lock in options["locks"]] == [out.resolve() / ".mmarctl.lock"]


@pytest.mark.parametrize("options, message", [
    (["--cpu"], "--cpu runs N CPU processes with --gpus N (N > 1)"),
    (["--launcher", "mpirun"], "--launcher mpirun starts the workers of --gpus N (N > 1)"),
    (["--gpus", "3", "--cpu"], "3 workers for 1 case (data/dataset_0.json's 'validation' "
                               "list): each worker needs a case of its own"),
])
@pytest.mark.parametrize("verb", ["validate", "infer"])
def test_launch_options_that_cannot_work_are_refused_before_any_worker(mmar, launches, verb,
                                                                       options, message):
    with_checkpoint(mmar)
    result = runner.invoke(app, [verb, str(mmar), *options])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert launches == []


def test_the_run_s_own_preflight_refuses_before_any_worker(mmar, launches):
    # A datalist image that is missing: check's line, once, and no job.
    _training_list_validated(with_checkpoint(mmar))
    (mmar / "data" / "imagesTr" / "spleen_2.nii.gz").unlink()
    result = runner.invoke(app, ["validate", str(mmar), "--gpus", "2", "--cpu"])
    assert result.exit_code == 1, result.output
    assert result.output.count("spleen_2.nii.gz") >= 1 and "Traceback" not in result.output
    assert launches == []


def test_multi_gpu_in_the_validation_config_without_gpus_validates_in_one_process(mmar,
                                                                                  launches):
    with_checkpoint(mmar)
    edit_json(mmar / "config" / "config_validation.json",
              lambda config: config.update(multi_gpu=True))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1"}
    result = runner.invoke(app, ["validate", str(mmar)], env=env)
    assert result.exit_code == 0, result.output
    assert ("warning: multi_gpu is true but this machine has 0 GPU(s): validating in one "
            "process") in " ".join(result.output.split())
    assert "validated 1 case" in result.output and launches == []


# -- real jobs -------------------------------------------------------------------------------

def _horovod_problem() -> str | None:
    if not launcher.horovod_status()["tensorflow"]:
        return "Horovod's TensorFlow extension is not installed (python -m mmarctl.install_horovod)"
    return None


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MMARCTL_", "OMPI_", "HOROVOD_"))}
    env.update(PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _mmarctl(*args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "mmarctl", *args], env=_env(), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:]
    return run.stdout


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".mmarctl.lock"}


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.timeout(600)
def test_two_workers_write_what_one_process_writes(mmar):
    problem = _horovod_problem()
    if problem:
        pytest.skip(problem)
    _training_list_validated(with_checkpoint(mmar))

    one = _mmarctl("validate", str(mmar), "-o", str(mmar / "eval-1"))
    two = _mmarctl("validate", str(mmar), "-o", str(mmar / "eval-2"), "--gpus", "2", "--cpu")
    assert "[1]<stderr>" in two  # two ranks ran
    ones, twos = _files(mmar / "eval-1"), _files(mmar / "eval-2")
    assert sorted(ones) == sorted(twos)
    for name in ("metrics_per_case.csv", "metrics_summary.txt"):
        assert twos[name] == ones[name], name
    metrics = [json.loads(files["metrics.json"]) for files in (ones, twos)]
    for entry in metrics:
        entry.pop("validated_at")
    assert metrics[1] == metrics[0]
    assert len(metrics[0]["per_case"]) == 3
    # rank 0 printed the job's result: every case, the same figure
    line = next(line for line in one.splitlines() if "mean_dice:" in line)
    assert line in two and "validated 3 cases" in two

    out = mmar / "predictions"
    two = _mmarctl("infer", str(mmar), "-o", str(out), "--gpus", "2", "--cpu", "--preview")
    cases = [f"spleen_{n}" for n in range(1, 4)]
    assert sorted(p.name for p in out.glob("*/*_model.nii.gz")) == \
        [f"{case}_model.nii.gz" for case in cases]
    shown = [line.split("preview: ", 1)[1] for line in two.splitlines() if "preview: " in line]
    assert [Path(p).name for p in shown] == [f"{case}_preview.png" for case in cases]
