"""What the launcher refuses before any worker starts: more CPU workers than cores, more
workers than training items, a remote host that does not answer ssh (said in seconds, not
after Horovod's five 10 s tries). No Horovod needed: its check and the runner are faked."""

from __future__ import annotations

import os
import sys
import time

import pytest
from typer.testing import CliRunner

from mmarctl import launcher
from mmarctl.errors import RuntimeFailure, UsageError
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


def _fake_ssh(monkeypatch, tmp_path, script: str):
    folder = tmp_path / "bin"
    folder.mkdir()
    ssh = folder / "ssh"
    ssh.write_text("#!/bin/sh\necho \"$@\" > " + str(tmp_path / "ssh_args") + "\n" + script)
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_a_host_that_does_not_answer_ssh_is_said_in_seconds(monkeypatch, tmp_path):
    marker = _fake_runner(monkeypatch, tmp_path)
    _fake_ssh(monkeypatch, tmp_path, "echo 'Connection to 10.255.255.1 port 22 timed out' >&2\n"
                                     "exit 255\n")
    started = time.monotonic()
    with pytest.raises(RuntimeFailure) as info:
        launch(["train", "m"], cpu=True, hosts="10.255.255.1:1,localhost:1")
    assert time.monotonic() - started < 5
    assert str(info.value).startswith(
        "--hosts: host '10.255.255.1' did not accept ssh (Connection to 10.255.255.1 port 22 "
        "timed out; waited 5 s at most); no worker was started")
    assert info.value.exit_code == 1 and not marker.exists()
    args = (tmp_path / "ssh_args").read_text().split()
    assert "ConnectTimeout=5" in args and "BatchMode=yes" in args
    assert args[-2:] == ["10.255.255.1", "true"]


def test_hosts_that_answer_ssh_and_local_ones_go_on(monkeypatch, tmp_path):
    marker = _fake_runner(monkeypatch, tmp_path)
    _fake_ssh(monkeypatch, tmp_path, "exit 0\n")
    assert launch(["train", "m"], cpu=True, hosts="10.255.255.1:1,localhost:1") == 0
    assert marker.exists() and (tmp_path / "ssh_args").exists()
    (tmp_path / "ssh_args").unlink()
    marker.unlink()
    assert launch(["train", "m"], cpu=True, hosts="localhost:1,127.0.0.1:1") == 0
    assert marker.exists() and not (tmp_path / "ssh_args").exists()  # no ssh to this machine
