"""memory: Keras' optional imports kept out, glibc malloc's arenas limited in training."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from mmarctl.runtime import memory


# -- optional imports ---------------------------------------------------------------------
@pytest.fixture()
def fake_package(tmp_path, monkeypatch):
    """An importable package ``mmarctl_optional_probe`` that nothing has imported yet."""
    package = tmp_path / "mmarctl_optional_probe"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "sub.py").write_text("VALUE = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mmarctl_optional_probe"
    for name in [n for n in sys.modules if n.startswith("mmarctl_optional_probe")]:
        del sys.modules[name]


def test_hidden_while_inside_and_importable_after(fake_package, monkeypatch):
    monkeypatch.delenv(memory.OPTIONAL_IMPORTS_ENV, raising=False)
    with memory.without_optional_imports([fake_package]) as hidden:
        assert hidden == [fake_package]
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(fake_package)
        with pytest.raises(ModuleNotFoundError):  # submodules too
            importlib.import_module(f"{fake_package}.sub")
    assert fake_package not in sys.modules
    assert importlib.import_module(f"{fake_package}.sub").VALUE == 2


def test_imported_modules_are_left_alone(monkeypatch):
    monkeypatch.delenv(memory.OPTIONAL_IMPORTS_ENV, raising=False)
    import json

    with memory.without_optional_imports(["json"]) as hidden:
        assert hidden == [] and sys.modules["json"] is json


def test_environment_lets_keras_import_them(fake_package, monkeypatch):
    monkeypatch.setenv(memory.OPTIONAL_IMPORTS_ENV, "1")
    with memory.without_optional_imports([fake_package]) as hidden:
        assert hidden == []
        assert importlib.import_module(fake_package).VALUE == 1


def test_names_are_restored_when_the_import_fails(fake_package, monkeypatch):
    monkeypatch.delenv(memory.OPTIONAL_IMPORTS_ENV, raising=False)
    with pytest.raises(RuntimeError):
        with memory.without_optional_imports([fake_package]):
            raise RuntimeError("tensorflow failed to load")
    assert fake_package not in sys.modules


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None
                    or importlib.util.find_spec("keras") is None, reason="needs TensorFlow")
def test_runtime_loads_tensorflow_without_kerass_optional_imports():
    """In a fresh process: the runtime's TensorFlow import leaves pandas, scikit-learn and
    matplotlib out (where installed), and they import normally afterwards."""
    code = (
        "import importlib.util, sys\n"
        "from mmarctl.runtime import logs\n"
        "logs.quiet_tensorflow()\n"
        "import keras, tensorflow\n"
        "assert keras.layers.Conv3D\n"
        "installed = [n for n in ('pandas', 'sklearn', 'matplotlib')\n"
        "             if importlib.util.find_spec(n) is not None]\n"
        "loaded = [n for n in installed if n in sys.modules]\n"
        "assert not loaded, loaded\n"
        "for name in installed:\n"
        "    __import__(name)\n"
        "print('ok', installed)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


# -- a training process ---------------------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs TensorFlow")
def test_a_training_plan_loads_tensorflow_the_runtimes_way(tmp_path, monkeypatch):
    """TrainingPlan.build (what `mmarctl train` runs) loads TensorFlow through
    quiet_tensorflow after its pre-flight and before pin_gpu would import it."""
    from standin_mmar import make_mmar

    from mmarctl.runtime import logs, plan
    from mmarctl.workspace import Workspace

    order = []
    monkeypatch.setattr(logs, "quiet_tensorflow", lambda: order.append("tensorflow"))

    class Backend(plan.SingleProcess):
        def pin_gpu(self):
            order.append("pin_gpu")

    plan.TrainingPlan.build(Workspace(make_mmar(tmp_path / "m")),
                            plan.TrainOptions(progress=False), backend=Backend())
    assert order[:2] == ["tensorflow", "pin_gpu"]
