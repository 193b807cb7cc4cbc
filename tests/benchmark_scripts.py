"""Load a script of benchmarks/ as a module, for the tests that run or read one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module, with ``sys.path`` as it was before.

    The scripts put their own folders first on ``sys.path``; left there, a later
    ``import monai`` in the test session would find ``benchmarks/monai``.
    """
    saved = list(sys.path)
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module
