"""The lines a multi-process run prints: a bad ``--set multi_gpu`` names ``--set``, only rank
0 prints train's header, and a worker stopped as its collective failed says so without
pybind11's internal wording."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402


@pytest.fixture
def not_a_worker(monkeypatch):
    monkeypatch.delenv("MMARCTL_WORKER", raising=False)


def test_a_bad_set_multi_gpu_names_set_not_the_config_file(tmp_path, not_a_worker):
    root = make_mmar(tmp_path / "m")
    result = CliRunner().invoke(app, ["train", str(root), "--set", "multi_gpu=maybe"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == ("error: --set: multi_gpu: multi_gpu must be true or "
                                     "false; Received: multi_gpu='maybe'")
