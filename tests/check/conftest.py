"""Fixtures the check tests share: the spleen scaffold on tiny synthetic data."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from broken_mmars import make_spleen  # noqa: E402


@pytest.fixture(scope="module")
def spleen(tmp_path_factory) -> Path:
    """The spleen scaffold with 4 tiny synthetic cases (made once per test module; tests
    that change it work on :func:`mmar`, a copy)."""
    return make_spleen(tmp_path_factory.mktemp("spleen") / "spleen")


@pytest.fixture
def mmar(spleen: Path, tmp_path: Path) -> Path:
    """A copy of :func:`spleen` of the test's own."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    return root
