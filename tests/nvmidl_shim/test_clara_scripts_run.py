"""Clara's own commands/*.sh, as Clara printed them (with user edits), run through the nvmidl
shim and leave what mmarctl's own scripts leave.

The shim goes into a temporary folder on PYTHONPATH (never into the shared venv); the venv's
bin/ comes first on PATH, so the scripts' `python3` is the venv's, as after `activate`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import pytest

from mmarctl.nvmidl_shim.installer import install
from tests.distributed.tiny_spleen import shrink_spleen
from tests.nvmidl_shim.clara_commands import VALIDATE_2GPU, write_clara_commands

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")]
VENV_BIN = Path(sys.executable).parent


def mmarctl(*args) -> None:
    done = subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def shim_env(tmp_path_factory) -> dict[str, str]:
    pytest.importorskip("tensorflow")
    target = tmp_path_factory.mktemp("shim_site")
    install(target)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(target)}
    env.pop("MMAR_ROOT", None)
    return env


@pytest.fixture(scope="module")
def clara_mmar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clara") / "spleen"
    mmarctl("clone", "spleen", root)
    mmarctl("data", "synth", root / "data", "--cases", 4, "--size", 24, "--seed", 0)
    shrink_spleen(root)  # the scripts are under test, not the training: 16^3 crops
    write_clara_commands(root)
    return root


def run_script(root: Path, name: str, *args: str, env: dict[str, str]) -> list[str]:
    """Run commands/NAME from commands/ as Clara users did; returns the shim's stderr lines."""
    done = subprocess.run(["bash", f"./{name}", *args], cwd=root / "commands", env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert "is running in place of Clara's nvmidl.apps." in lines[0], lines[:3]
    assert "Traceback" not in done.stderr
    return lines


def test_train_finetune_validate_infer_export_as_clara_wrote_them(clara_mmar, shim_env,
                                                                   tmp_path):
    root = clara_mmar
    lines = run_script(root, "train.sh", env=shim_env)
    assert lines[1].startswith(f"as: mmarctl train {root} --config-train config/config_train.json")
    assert (root / "models" / "model.ckpt.index").is_file()
    assert json.loads((root / "models" / "training_summary.json").read_text())

    # Clara's fine-tune form: MMAR_CKPT and an empty PRETRAIN_WEIGHTS_FILE in --set.
    lines = run_script(root, "train_finetune.sh", env=shim_env)
    assert lines[1].startswith(f"as: mmarctl finetune {root}")
    assert "--set PRETRAIN_WEIGHTS_FILE= " in lines[1] and "--set multi_gpu=false" in lines[1]

    run_script(root, "validate.sh", env=shim_env)
    clara_metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert clara_metrics["summary"]["mean_dice"]["count"] == 1

    # A user's extra word joins Clara's --set list (${additional_options}).
    lines = run_script(root, "infer.sh", "DATA_LIST_KEY=validation", env=shim_env)
    assert "--set DATA_LIST_KEY=validation" in lines[1]
    mask = next((root / "eval_infer").rglob("*.nii.gz"))
    image = next((root / "data" / "imagesTr").glob(f"{mask.parent.name}.nii*"))
    assert (nib.load(mask).affine == nib.load(image).affine).all()

    lines = run_script(root, "export.sh", env=shim_env)
    assert any(line.startswith("note: --trt_min_seg_size ignored") for line in lines)
    assert (root / "models" / "model.fzn.pb").stat().st_size > 0
    manifest = json.loads((root / "models" / "export.json").read_text())
    assert "NV_MODEL_INPUT" in json.dumps(manifest) and "NV_MODEL_OUTPUT" in json.dumps(manifest)

    # mmarctl's own validate.sh on a copy gives the same metrics from the same checkpoint.
    own = tmp_path / "own"
    shutil.copytree(root, own, symlinks=True, ignore=shutil.ignore_patterns("eval"))
    mmarctl("commands", own, "--force")
    done = subprocess.run(["bash", str(own / "commands" / "validate.sh")], env=shim_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    own_metrics = json.loads((own / "eval" / "metrics.json").read_text())
    assert own_metrics["summary"] == clara_metrics["summary"]


@pytest.mark.distributed
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun is not installed")
def test_train_2gpu_sh_under_mpirun(clara_mmar, shim_env):
    """Clara's mpirun form: two Horovod ranks over MPI, or one line when Horovod lacks MPI."""
    from mmarctl.nvmidl_shim.mpi import horovod_mpi_built

    done = subprocess.run(["bash", "./train_2gpu.sh"], cwd=clara_mmar / "commands",
                          env={**shim_env, "CUDA_VISIBLE_DEVICES": "-1"},
                          capture_output=True, text=True, timeout=900)
    if not horovod_mpi_built():
        assert done.returncode != 0
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert errors == [errors[0]] and "needs Horovod built with MPI" in errors[0]
        return
    assert done.returncode == 0, done.stderr
    assert "trained 1 epoch" in done.stdout
    assert "[rank 1]" in done.stderr

    # Clara's evaluation under mpirun: each rank validates its share; rank 0 writes what
    # one process writes (3 cases of the training list on 2 ranks).
    script = clara_mmar / "commands" / "validate_2gpu.sh"
    script.write_text(VALIDATE_2GPU)
    done = subprocess.run(["bash", "./validate_2gpu.sh", "DATA_LIST_KEY=training",
                           f"MMAR_EVAL_OUTPUT_PATH={clara_mmar / 'eval_2gpu'}"],
                          cwd=clara_mmar / "commands",
                          env={**shim_env, "CUDA_VISIBLE_DEVICES": "-1"},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "[rank 1]" in done.stderr and "validated 3 cases" in done.stdout
    mmarctl("validate", clara_mmar, "--set", "DATA_LIST_KEY=training", "-o",
            clara_mmar / "eval_1")
    one, two = (json.loads((clara_mmar / name / "metrics.json").read_text())
                for name in ("eval_1", "eval_2gpu"))
    assert two["summary"] == one["summary"] and two["per_case"] == one["per_case"]
