"""`mmarctl clara-shim`: the nvmidl package is written only where no real one exists, runs
mmarctl with a first line saying so, and `mmarctl check` notes Clara's scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl import scripts
from mmarctl.cli import app
from mmarctl.errors import MissingDependency
from mmarctl.launcher import WORKER_ENV
from mmarctl.nvmidl_shim import SHIM_MARKER, mpi
from mmarctl.nvmidl_shim.installer import is_shim
from tests.conftest import write_json
from tests.nvmidl_shim.clara_commands import write_clara_commands

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def real_nvmidl(folder: Path) -> Path:
    """A stand-in for Clara's own package (no marker)."""
    package = folder / "nvmidl"
    (package / "apps").mkdir(parents=True)
    (package / "__init__.py").write_text("# NVIDIA Clara Train\n")
    (package / "apps" / "__init__.py").write_text("")
    (package / "apps" / "train.py").write_text("print('real clara')\n")
    return package


def run_module(module: str, *args: str, pythonpath: list[Path], cwd: Path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    env.pop("MMAR_ROOT", None)
    return subprocess.run([sys.executable, "-u", "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_install_writes_a_marked_package_pip_can_see_and_uninstall_removes_it(tmp_path):
    target = tmp_path / "site"
    result = invoke("clara-shim", "install", "--target", target)
    assert result.exit_code == 0, result.output
    assert f"installed mmarctl's nvmidl shim in {target / 'nvmidl'}" in result.output
    for module in ("__init__.py", "apps/__init__.py", "apps/train.py", "apps/evaluate.py",
                   "apps/export.py"):
        assert SHIM_MARKER in (target / "nvmidl" / module).read_text()
    dist = next(target.glob("mmarctl_nvmidl_shim-*.dist-info"))
    assert "Name: mmarctl-nvmidl-shim" in (dist / "METADATA").read_text()
    assert "nvmidl/apps/train.py,," in (dist / "RECORD").read_text()
    # Installing again replaces the shim (an upgrade), and status sees it.
    assert invoke("clara-shim", "install", "--target", target).exit_code == 0
    assert "shim: installed in" in invoke("clara-shim", "status", "--target", target).output
    result = invoke("clara-shim", "uninstall", "--target", target)
    assert result.exit_code == 0 and not (target / "nvmidl").exists()
    assert not list(target.glob("mmarctl_nvmidl_shim-*"))


def test_status_and_uninstall_find_a_shim_on_pythonpath(tmp_path, monkeypatch):
    """install --target DIR with DIR on PYTHONPATH (how Clara's scripts then find it):
    status without --target reports it there; uninstall says how to remove it."""
    from mmarctl.nvmidl_shim.installer import default_target

    if is_shim(default_target() / "nvmidl"):
        pytest.skip("this environment has the shim installed")
    target = tmp_path / "site"
    assert invoke("clara-shim", "install", "--target", target).exit_code == 0
    monkeypatch.setenv("PYTHONPATH", str(target))
    assert f"shim: installed in {target / 'nvmidl'}" in invoke("clara-shim", "status").output
    result = invoke("clara-shim", "uninstall")
    assert result.exit_code == 0
    assert (f"`mmarctl clara-shim uninstall --target {target}` removes it"
            in result.output.replace("\n", " "))
    assert (target / "nvmidl").is_dir()  # only --target removes it


def test_install_target_off_pythonpath_says_how_scripts_find_it(tmp_path, monkeypatch):
    """`install --target DIR` said only "installed"; Clara's scripts then failed with
    Python's bare ModuleNotFoundError."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
    target = tmp_path / "shim"
    result = invoke("clara-shim", "install", "--target", target)
    assert result.exit_code == 0
    line = (f"note: {target} is not on PYTHONPATH: Clara's scripts find the shim only after "
            f"export PYTHONPATH={target}:$PYTHONPATH")
    assert line in result.output.replace("\n", " ")
    assert line in invoke("clara-shim", "status", "--target", target).output.replace("\n", " ")
    monkeypatch.setenv("PYTHONPATH", str(target))
    assert "PYTHONPATH=" not in invoke("clara-shim", "status", "--target", target).output


def test_a_real_nvmidl_refuses_install_and_is_never_removed(tmp_path):
    target = tmp_path / "site"
    package = real_nvmidl(target)
    result = invoke("clara-shim", "install", "--target", target)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: a real nvmidl is installed at {package}: mmarctl's shim is not installed over "
        "it (Clara's scripts keep running Clara's nvmidl; `mmarctl commands MMAR --force` "
        "rewrites them to call mmarctl instead)"]
    result = invoke("clara-shim", "uninstall", "--target", target)
    assert result.exit_code == 1 and "is not mmarctl's shim: left as it is" in result.output
    assert (package / "apps" / "train.py").is_file() and not is_shim(package)


def test_a_real_nvmidl_elsewhere_on_sys_path_refuses_install(tmp_path, monkeypatch):
    elsewhere = tmp_path / "opt_nvidia"
    real_nvmidl(elsewhere)
    monkeypatch.syspath_prepend(str(elsewhere))
    result = invoke("clara-shim", "install", "--target", tmp_path / "site")
    assert result.exit_code == 1 and "a real nvmidl is installed at" in result.output
    assert not (tmp_path / "site" / "nvmidl").exists()


def test_shim_run_says_mmarctl_first_then_one_line_for_unknown_flags(tmp_path):
    target = tmp_path / "site"
    assert invoke("clara-shim", "install", "--target", target).exit_code == 0
    done = run_module("nvmidl.apps.train", "-m", str(tmp_path), "--gpus", "2",
                      pythonpath=[target], cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert lines[0].startswith("mmarctl ") and "running in place of Clara's nvmidl.apps.train" \
        in lines[0]
    assert lines[1:] == ["error: nvmidl.apps.train: unknown flag(s) --gpus 2 (mmarctl's shim "
                         "reads -m, --mmar, -c, --config, -e, --env, --environment, "
                         "--write_train_stats, --set)"]


def test_shim_run_refuses_when_it_would_hide_a_real_nvmidl(tmp_path):
    target = tmp_path / "site"
    assert invoke("clara-shim", "install", "--target", target).exit_code == 0
    real_nvmidl(tmp_path / "opt_nvidia")
    done = run_module("nvmidl.apps.evaluate", pythonpath=[target, tmp_path / "opt_nvidia"],
                      cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 2
    assert lines[1].startswith(f"error: a real nvmidl is installed at {tmp_path / 'opt_nvidia'}")


def test_fed_learn_and_automl_modules_answer_in_one_line(tmp_path):
    target = tmp_path / "site"
    assert invoke("clara-shim", "install", "--target", target).exit_code == 0
    done = run_module("nvmidl.apps.fed_learn.client.fed_local_train", "-m", ".",
                      pythonpath=[target], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: nvmidl.apps.fed_learn: not run by mmarctl's shim; federated learning (Clara FL "
        "client/server) is not supported by mmarctl")


def test_mpirun_needs_horovod_with_mpi_else_one_line():
    env = {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"}
    with pytest.raises(MissingDependency) as caught:
        mpi.prepare_worker(env, mpi_built=lambda: False)
    assert str(caught.value).startswith("mpirun -np 2 needs Horovod built with MPI, and this "
                                        "environment's Horovod has no MPI")
    assert WORKER_ENV not in env
    assert mpi.prepare_worker(env, mpi_built=lambda: True) and env[WORKER_ENV] == "1"
    assert not mpi.prepare_worker({}, mpi_built=lambda: False)  # no mpirun: nothing to check


def test_check_notes_clara_scripts_and_commands_rewrites_them(tmp_path, monkeypatch):
    root = tmp_path / "mmar"
    write_json(root / "config" / "config_validation.json", {"batch_size": 1})
    write_json(root / "config" / "environment.json", {"DATASET_JSON": "d.json"})
    write_json(root / "d.json", {"validation": []})
    write_clara_commands(root)
    monkeypatch.setattr("mmarctl.nvmidl_shim.detect.nvmidl_here", lambda: (None, False))
    result = invoke("check", root)
    notes = [line for line in result.output.splitlines() if line.startswith("commands: note:")]
    assert notes == ["commands: note: export.sh, infer.sh, train.sh, train_2gpu.sh, "
                     "train_finetune.sh, validate.sh: Clara's scripts (nvmidl.apps.*); to run "
                     "them as they are, `mmarctl clara-shim install` once in this environment "
                     "(or `mmarctl commands MMAR --force` rewrites them to call mmarctl "
                     "directly)"]
    # --strict: scripts that cannot run are a problem; runnable ones stay a note.
    strict = invoke("check", root, "--strict").output.splitlines()
    assert any(line.startswith("commands: export.sh, infer.sh") for line in strict)
    shim = tmp_path / "site" / "nvmidl"
    monkeypatch.setattr("mmarctl.nvmidl_shim.detect.nvmidl_here", lambda: (shim, True))
    strict = invoke("check", root, "--strict").output.splitlines()
    assert [line for line in strict if line.startswith("commands:")] == [
        "commands: note: export.sh, infer.sh, train.sh, train_2gpu.sh, train_finetune.sh, "
        "validate.sh: Clara's scripts (nvmidl.apps.*); they run as they are through mmarctl's "
        "nvmidl shim (`mmarctl commands MMAR --force` rewrites them to call mmarctl directly)"]

    assert invoke("commands", root).exit_code == 1  # hand-written: kept unless --force
    assert invoke("commands", root, "--force").exit_code == 0
    assert scripts.is_generated(root / "commands" / "train.sh")
    assert "commands: note:" not in invoke("check", root).output
