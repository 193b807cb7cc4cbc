"""`mmarctl doctor`: every probe reports instead of raising, and the command exits 0."""

from __future__ import annotations

import types

import pytest
from typer.testing import CliRunner

from mmarctl import doctor
from mmarctl.doctor import MISSING, OK, diagnose, probe_horovod, probe_tensorflow


def _fail(name):
    raise ImportError(f"No module named {name!r}")


def test_tensorflow_missing_is_a_finding_with_the_install_command():
    findings = probe_tensorflow(importer=_fail)
    assert [f.name for f in findings] == ["tensorflow"]
    assert findings[0].state == MISSING
    assert "pip install -e '.[cpu]' in the mmarctl checkout" in findings[0].hint


def _fake_tf(gpus, capability=(8, 0)):
    config = types.SimpleNamespace(
        list_physical_devices=lambda kind: gpus,
        experimental=types.SimpleNamespace(get_device_details=lambda gpu: {
            "device_name": "NVIDIA A100", "compute_capability": capability}))
    return types.SimpleNamespace(__version__="2.21.0", config=config)


def test_tensorflow_on_cpu_without_bf16_reports_no_gpu_and_float32():
    rows = {f.name: f for f in probe_tensorflow(importer=lambda n: _fake_tf([]),
                                                flags=frozenset({"avx2", "avx512f"}))}
    assert rows["tensorflow"].detail.startswith("2.21.0")
    assert "no GPU" in rows["gpus"].detail
    assert rows["mixed precision"].state == "info"
    assert rows["mixed precision"].detail.startswith("use_amp -> float32: use_amp but there "
                                                     "is no GPU")


@pytest.mark.parametrize("capability, state", [((8, 0), OK), ((6, 1), "info")])
def test_mixed_precision_follows_compute_capability(capability, state):
    gpu = types.SimpleNamespace(name="/physical_device:GPU:0")
    rows = {f.name: f for f in probe_tensorflow(importer=lambda n: _fake_tf([gpu], capability))}
    assert rows["gpus"].state == OK and "A100" in rows["gpus"].detail
    assert rows["mixed precision"].state == state


def test_horovod_not_installed(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda dist: None)
    (finding,) = probe_horovod()
    assert finding.state == MISSING and finding.hint == "python -m mmarctl.install_horovod"


def test_horovod_broken_build_suggests_rebuild(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda dist: "0.28.1")
    (finding,) = probe_horovod(importer=_fail)
    assert finding.state == MISSING and "--rebuild" in finding.hint


def test_horovod_controllers_and_ops(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda dist: "0.28.1")
    hvd = types.SimpleNamespace(gloo_built=lambda: True, mpi_built=lambda: False,
                                nccl_built=lambda: 2, ddl_built=lambda: False,
                                ccl_built=lambda: False)
    rows = {f.name: f for f in probe_horovod(importer=lambda n: hvd)}
    assert rows["horovod"].detail == "0.28.1"
    assert rows["horovod controllers"].detail == "gloo"
    assert rows["horovod ops"].detail == "nccl, gloo"


def test_horovod_cpu_only_ops_say_so(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda dist: "0.28.1")
    hvd = types.SimpleNamespace(gloo_built=lambda: True, mpi_built=lambda: False,
                                nccl_built=lambda: False)
    rows = {f.name: f for f in probe_horovod(importer=lambda n: hvd)}
    assert rows["horovod ops"].detail.startswith("gloo (CPU collectives only")


def test_export_tools_missing(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda dist: None)
    rows = {f.name: f for f in doctor.probe_export_tools()}
    assert rows["tf2onnx"].state == MISSING
    assert "pip install -e '.[export]' in the mmarctl checkout" in rows["tf2onnx"].hint
    assert rows["tensorrt"].state == "info"   # optional everywhere but on NVIDIA GPUs


def test_tensorrt_hint_follows_the_driver(monkeypatch):
    """pip install tensorrt is advice only where an NVIDIA driver is."""
    monkeypatch.setattr(doctor, "_version", lambda dist: None)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    assert "nothing to install here" in {f.name: f for f in
                                         doctor.probe_export_tools()}["tensorrt"].hint
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/" + name)
    assert {f.name: f for f in doctor.probe_export_tools()}["tensorrt"].hint == \
        "pip install tensorrt"


def test_quick_diagnose_skips_tensorflow():
    names = [f.name for f in diagnose(tensorflow=False)]
    assert "tensorflow" not in names and "horovod" not in names
    assert names[:2] == ["python", "mmarctl"] and "onnxruntime" in names


def test_doctor_command_prints_table_and_exits_0():
    from mmarctl.cli import app

    result = CliRunner().invoke(app, ["doctor", "--quick"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for row in ("python", "launcher gloo", "tf2onnx", "onnxruntime", "tensorrt"):
        assert row in result.output


@pytest.mark.slow
def test_doctor_full_reports_tensorflow():
    from mmarctl.cli import app

    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "tensorflow" in result.output and "mixed precision" in result.output
    assert "horovod" in result.output


def test_install_horovod_option_runs_the_installer_then_reports(monkeypatch, tmp_path):
    from mmarctl import install_horovod
    from mmarctl.cli import app

    wheel = tmp_path / "horovod-0.28.1-cp311-cp311-linux_x86_64.whl"
    calls = []
    monkeypatch.setattr(install_horovod, "install", lambda: calls.append(1) or wheel)
    result = CliRunner().invoke(app, ["doctor", "--install-horovod", "--quick"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert calls == [1]
    assert f"installed Horovod from {wheel}" in result.output.replace("\n", "")


def test_install_horovod_failure_is_one_line_exit_1(monkeypatch):
    from mmarctl import install_horovod
    from mmarctl.cli import app
    from mmarctl.errors import MissingDependency

    def fail():
        raise MissingDependency("cmake is needed to build Horovod", hint="pip install cmake")

    monkeypatch.setattr(install_horovod, "install", fail)
    result = CliRunner().invoke(app, ["doctor", "--install-horovod"])
    assert result.exit_code == 1
    assert "cmake is needed to build Horovod (pip install cmake)" in result.output
    assert "Traceback" not in result.output


def test_mpirun_row_says_when_horovod_lacks_mpi(monkeypatch):
    """mpirun on PATH with a Gloo-only Horovod: --launcher mpirun would be refused; say why."""
    from mmarctl import doctor, launcher

    monkeypatch.setattr(doctor.shutil, "which", lambda name: f"/usr/bin/{name}")
    for mpi, state in ((False, doctor.MISSING), (True, doctor.OK)):
        monkeypatch.setattr(launcher, "horovod_status", lambda mpi=mpi: {
            "installed": True, "version": "0.28.1", "tensorflow": True, "runner": True,
            "location": "/x", "mpi": mpi})
        rows = {f.name: f for f in doctor.probe_launchers()}
        assert rows["launcher mpirun"].state == state
        if not mpi:
            assert "built without MPI" in rows["launcher mpirun"].detail
            assert rows["launcher mpirun"].hint == "python -m mmarctl.install_horovod --mpi"


def test_kernel_row_without_a_compiler_says_how_to_get_one(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    [row] = doctor.probe_kernels()
    assert (row.name, row.state) == ("kernel prelu", doctor.INFO)
    assert "no C++ compiler" in row.detail and "g++" in row.hint


def test_kernel_row_switched_off(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("MMARCTL_CUSTOM_KERNELS", "0")
    [row] = doctor.probe_kernels()
    assert (row.state, row.detail) == (doctor.INFO, "off (MMARCTL_CUSTOM_KERNELS=0)")


def test_build_kernels_compiles_reports_and_then_needs_no_compiler(monkeypatch, tmp_path):
    """The kernel's row before and after `doctor --build-kernels` (one real compile), then
    the same option on a machine without a compiler, which finds the library built."""
    from mmarctl.cli import app
    from mmarctl.runtime.kernels import build

    if build.compiler() is None:
        pytest.skip("no C++ compiler")
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path))
    [row] = doctor.probe_kernels()
    assert row.state == OK and row.detail.startswith("compiled on first use with ")

    result = CliRunner().invoke(app, ["doctor", "--build-kernels"],
                                env={"COLUMNS": "400", "MMARCTL_CACHE": str(tmp_path)})
    assert result.exit_code == 0, result.output
    library = build.library_path("prelu")
    assert library.is_file()
    assert f"kernel prelu: {library}" in result.output
    assert f"built ({library})" in result.output  # the table's row, after the build
    [row] = doctor.probe_kernels()
    assert (row.state, row.detail) == (OK, f"built ({library})")

    result = CliRunner().invoke(app, ["doctor", "--build-kernels", "--quick"],
                                env={"CXX": str(tmp_path / "none"), "MMARCTL_CACHE": str(tmp_path),
                                     "COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert f"kernel prelu: {library}" in result.output


def test_build_kernels_without_a_compiler_is_one_line_exit_1(monkeypatch, tmp_path):
    from mmarctl.cli import app

    pytest.importorskip("tensorflow")
    missing = str(tmp_path / "no-such-compiler")
    result = CliRunner().invoke(app, ["doctor", "--build-kernels"],
                                env={"CXX": missing, "MMARCTL_CACHE": str(tmp_path)})
    assert result.exit_code == 1
    assert "no C++ compiler to build mmarctl's kernels (apt-get install g++, or set CXX)" \
        in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_build_kernels_failure_names_the_log(monkeypatch, tmp_path):
    from mmarctl.cli import app

    pytest.importorskip("tensorflow")
    broken = tmp_path / "cxx"
    broken.write_text("#!/bin/sh\ncase \" $* \" in *\" --version \"*) exit 0;; esac\n"
                      "echo 'error: broken on purpose' >&2; exit 1\n")
    broken.chmod(0o755)
    result = CliRunner().invoke(app, ["doctor", "--build-kernels"],
                                env={"CXX": str(broken), "MMARCTL_CACHE": str(tmp_path)})
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "kernel prelu did not build: cxx exited with 1; the log is" in text
    assert "FAILED" in text and "Traceback" not in result.output


def test_doctor_keeps_tensorflows_start_up_lines_off_the_terminal():
    """The absl/oneDNN lines TensorFlow's C++ side prints while it loads are not shown (a
    fresh process: only the first import prints them)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                              "MMARCTL_TF_LOGS")}
    done = subprocess.run([sys.executable, "-m", "mmarctl", "doctor"], capture_output=True,
                          text=True, timeout=300, env={**env, "COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    assert "tensorflow" in done.stdout
    assert "absl" not in done.stderr and "oneDNN" not in done.stderr, done.stderr
