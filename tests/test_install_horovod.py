"""The Horovod installer's pure parts: the CMake patch, the build plan and the wheel cache."""

from __future__ import annotations

import pytest

from mmarctl import install_horovod as ih
from mmarctl.errors import MissingDependency

CMAKE = """# TF SOURCES
list(APPEND TF_SOURCES "${PROJECT_SOURCE_DIR}/horovod/tensorflow/mpi_ops.cc")
list(APPEND TF_SOURCES "${PROJECT_SOURCE_DIR}/horovod/tensorflow/xla_mpi_ops.cc")
add_library(${TF_TARGET_LIB} SHARED ${SOURCES} ${TF_SOURCES})
"""


def test_patch_removes_only_the_xla_source(tmp_path):
    file = tmp_path / "CMakeLists.txt"
    file.write_text(CMAKE)
    assert ih.patch_cmakelists(file) is True
    text = file.read_text()
    assert "xla_mpi_ops.cc" not in text
    assert "mpi_ops.cc" in text and "add_library" in text
    assert ih.patch_cmakelists(file) is False     # idempotent
    assert file.read_text() == text


def test_plan_key_and_env(monkeypatch):
    monkeypatch.setattr(ih, "_tensorflow_version", lambda: "2.21.0")
    monkeypatch.setattr(ih, "find_nccl", lambda prefixes=None: None)
    plan = ih.plan_build()
    assert plan.key.startswith("horovod-0.28.1-tf2.21.0-cp3") and plan.key.endswith("-cpu")
    env = plan.env({"HOROVOD_GPU_OPERATIONS": "NCCL"})
    assert env["HOROVOD_WITH_TENSORFLOW"] == env["HOROVOD_WITH_GLOO"] == "1"
    assert env["HOROVOD_WITHOUT_MPI"] == "1" and "HOROVOD_GPU_OPERATIONS" not in env


def test_plan_with_nccl(monkeypatch):
    monkeypatch.setattr(ih, "_tensorflow_version", lambda: "2.21.0")
    plan = ih.BuildPlan("0.28.1", "2.21.0", "cp311", "/usr")
    assert plan.key == "horovod-0.28.1-tf2.21.0-cp311-nccl"
    env = plan.env({})
    assert env["HOROVOD_GPU_OPERATIONS"] == "NCCL" and env["HOROVOD_NCCL_HOME"] == "/usr"


def test_nccl_requested_but_absent(monkeypatch):
    monkeypatch.setattr(ih, "_tensorflow_version", lambda: "2.21.0")
    monkeypatch.setattr(ih, "find_nccl", lambda prefixes=None: None)
    with pytest.raises(MissingDependency, match="NCCL was requested"):
        ih.plan_build(nccl=True)


def test_find_nccl(tmp_path):
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "nccl.h").write_text("")
    assert ih.find_nccl((str(tmp_path),)) is None          # header without library
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libnccl.so.2").write_text("")
    assert ih.find_nccl((str(tmp_path),)) == str(tmp_path)


def test_cached_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path))
    plan = ih.BuildPlan("0.28.1", "2.21.0", "cp311", None)
    assert ih.cache_root() == tmp_path / "wheels"
    assert ih.cached_wheel(plan) is None
    folder = tmp_path / "wheels" / plan.key
    folder.mkdir(parents=True)
    wheel = folder / "horovod-0.28.1-cp311-cp311-linux_x86_64.whl"
    wheel.write_text("")
    assert ih.cached_wheel(plan) == wheel


def test_install_uses_cache_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path))
    monkeypatch.setattr(ih, "_tensorflow_version", lambda: "2.21.0")
    monkeypatch.setattr(ih, "find_nccl", lambda prefixes=None: None)
    plan = ih.plan_build()
    folder = tmp_path / "wheels" / plan.key
    folder.mkdir(parents=True)
    (folder / "horovod-0.28.1-x.whl").write_text("")
    commands = []
    monkeypatch.setattr(ih, "_run", lambda cmd, env=None, cwd=None: commands.append(cmd))
    monkeypatch.setattr(ih, "build_wheel", lambda *a: pytest.fail("must not build"))
    assert ih.install() == folder / "horovod-0.28.1-x.whl"
    assert str(folder / "horovod-0.28.1-x.whl") in commands[0]


def test_main_reports_missing_tensorflow(monkeypatch, capsys):
    def missing():
        raise MissingDependency("TensorFlow is not installed", hint="pip install -e '.[cpu]' in the mmarctl checkout")

    monkeypatch.setattr(ih, "_tensorflow_version", missing)
    assert ih.main(["--print-key"]) == 1
    assert "TensorFlow is not installed" in capsys.readouterr().err
