"""What the launcher refuses before any worker starts: more CPU workers than cores, more
workers than training items. No Horovod needed: its check and the runner are faked."""

from __future__ import annotations

import os
import sys

import pytest
from typer.testing import CliRunner

from mmarctl import launcher
from mmarctl.errors import UsageError
from mmarctl.launcher import launch


@pytest.fixture(autouse=True)
def _not_a_worker(monkeypatch):
    monkeypatch.delenv(launcher.WORKER_ENV, raising=False)


def _fake_runner(monkeypatch, tmp_path):
    """Horovod present, its launcher a script that leaves a mark; returns the mark."""
    marker = tmp_path / "launched"
    monkeypatch.setattr(launcher, "horovod_status", lambda: {
        "installed": True, "version": "0.28.1", "tensorflow": True, "runner": True,
        "location": "/x"})
    monkeypatch.setattr(launcher, "build_command", lambda argv, **kw: [
        sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"])
    return marker


def test_more_cpu_workers_than_cores_is_refused_before_launching(monkeypatch, tmp_path):
    marker = _fake_runner(monkeypatch, tmp_path)
    monkeypatch.setattr(launcher, "usable_cores", lambda: 2)
    with pytest.raises(UsageError) as info:
        launch(["train", "m"], gpus=999, cpu=True)
    assert "999 CPU workers" in str(info.value) and "2 core(s)" in str(info.value)
    assert "at most --gpus 2 --cpu" in str(info.value)
    assert info.value.exit_code == 2 and not marker.exists()
    # Workers on this machine under two local names count together.
    with pytest.raises(UsageError, match="4 CPU workers"):
        launch(["train", "m"], cpu=True, hosts="localhost:2,127.0.0.1:2")


def test_two_cpu_workers_are_allowed_on_one_core(monkeypatch, tmp_path):
    """Two is the least a multi-process run needs: testing one stays possible anywhere."""
    marker = _fake_runner(monkeypatch, tmp_path)
    monkeypatch.setattr(launcher, "usable_cores", lambda: 1)
    assert launch(["train", "m"], gpus=2, cpu=True) == 0
    assert marker.exists()
    with pytest.raises(UsageError, match="at most --gpus 2 --cpu"):
        launch(["train", "m"], gpus=3, cpu=True)


def test_more_workers_than_training_items_is_refused():
    where = "data/dataset_0.json's 'training' list"
    with pytest.raises(UsageError) as info:
        launcher.require_items_per_worker((3, where), gpus=4)
    assert str(info.value).startswith(f"4 workers for 3 training items ({where})")
    assert "use at most --gpus 3" in str(info.value) and info.value.exit_code == 2
    with pytest.raises(UsageError, match=r"train in one process \(no --gpus\)"):
        launcher.require_items_per_worker((1, where), gpus=2)
    with pytest.raises(UsageError, match="^3 workers for 2"):  # every slot of --hosts
        launcher.require_items_per_worker((2, where), hosts="node1:2,node2:1")
    launcher.require_items_per_worker((3, where), gpus=3)
    launcher.require_items_per_worker((3, where), gpus=2, hosts="node1:4")


def test_cli_refuses_more_workers_than_training_cases_in_one_line(tmp_path):
    from mmarctl.cli import app

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "distributed"))
    from tiny_spleen import make_spleen

    root = make_spleen(tmp_path / "exp", cases=2, size=16, epochs=1)  # 1 training item
    result = CliRunner().invoke(app, ["train", str(root), "--gpus", "2", "--cpu"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: 2 workers for 1 training item (data/dataset_0.json's 'training' "
                     "list): each worker needs an item of its own, more only repeat others' "
                     "(train in one process (no --gpus), or add training cases)"], lines
