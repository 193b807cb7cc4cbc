"""The multi-process launcher: option parsing, command lines, and the failures a user meets.

Runs without Horovod: the Horovod check is monkeypatched where a test goes past it, and
real multi-process runs live in tests/test_multiprocess_train.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mmarctl import launcher
from mmarctl.errors import MissingDependency, RuntimeFailure, UsageError
from mmarctl.launcher import (Hosts, build_command, count_gpus, launch, parse_hosts,
                              processes_for, read_hostfile, strip_launch_options)


@pytest.fixture(autouse=True)
def _not_a_worker(monkeypatch):
    monkeypatch.delenv(launcher.WORKER_ENV, raising=False)


@pytest.mark.parametrize("text, entries", [
    ("localhost:2", (("localhost", 2),)),
    ("node1:4,node2:4", (("node1", 4), ("node2", 4))),
    (" 10.0.0.1:1 , 10.0.0.2:3 ", (("10.0.0.1", 1), ("10.0.0.2", 3))),
])
def test_parse_hosts(text, entries):
    hosts = parse_hosts(text)
    assert hosts.entries == entries
    assert hosts.slots == sum(n for _, n in entries)
    assert hosts.spec == ",".join(f"{h}:{n}" for h, n in entries)


@pytest.mark.parametrize("text, message", [
    ("node1", "HOST:SLOTS"),
    ("node1:0", "SLOTS >= 1"),
    ("node1:x", "HOST:SLOTS"),
    ("node1:2,,node2:2", "Received: ''"),
    ("node1:2,node1:2", "twice"),
])
def test_parse_hosts_rejects(text, message):
    with pytest.raises(UsageError, match=message):
        parse_hosts(text)


def test_read_hostfile(tmp_path):
    file = tmp_path / "hosts"
    file.write_text("# cluster\nnode1 slots=4\n\nnode2 slots=2 max_slots=8  # fast one\nnode3\n")
    hosts = read_hostfile(file)
    assert hosts.entries == (("node1", 4), ("node2", 2), ("node3", 1))
    assert hosts.file == str(file) and hosts.source == "--hostfile"


@pytest.mark.parametrize("text, message", [
    ("node1 slots=four\n", "line 1: expected `HOST slots=N`"),
    ("node1 cores=4\n", "line 1"),
    ("# nothing\n", "names no host"),
    ("a slots=1\na slots=2\n", "twice"),
    ("localhost:2\n", "line 1: HOST:SLOTS is the --hosts form"),
])
def test_read_hostfile_rejects(tmp_path, text, message):
    file = tmp_path / "hosts"
    file.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        read_hostfile(file)
    assert info.value.file == str(file)


def test_read_hostfile_missing(tmp_path):
    with pytest.raises(UsageError, match="cannot read the hostfile"):
        read_hostfile(tmp_path / "nope")


@pytest.mark.parametrize("env, expected", [
    ({"CUDA_VISIBLE_DEVICES": ""}, 0),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, 0),
    ({"CUDA_VISIBLE_DEVICES": "0,1"}, 2),
    ({"CUDA_VISIBLE_DEVICES": "3"}, 1),
])
def test_count_gpus_honours_cuda_visible_devices(env, expected):
    assert count_gpus(env) == expected


def test_count_gpus_without_driver(monkeypatch):
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    assert count_gpus({}) == 0


@pytest.mark.parametrize("argv, expected", [
    (["train", "x", "--gpus", "2", "--epochs", "3"], ["train", "x", "--epochs", "3"]),
    (["train", "--cpu", "x", "--hosts=a:1", "--launcher", "gloo"], ["train", "x"]),
    (["train", "x", "--hostfile", "f", "--set", "a=1"], ["train", "x", "--set", "a=1"]),
])
def test_strip_launch_options(argv, expected):
    assert strip_launch_options(argv) == expected


@pytest.mark.parametrize("gpus, multi_gpu, env, expected", [
    (2, False, {"CUDA_VISIBLE_DEVICES": ""}, 2),
    (1, False, {"CUDA_VISIBLE_DEVICES": "0,1"}, 1),
    (1, True, {"CUDA_VISIBLE_DEVICES": "0,1,2"}, 3),     # multi_gpu: one worker per GPU
    (1, True, {"CUDA_VISIBLE_DEVICES": ""}, 1),          # multi_gpu without GPUs: one process
    (4, True, {"CUDA_VISIBLE_DEVICES": "0,1", launcher.WORKER_ENV: "1"}, 1),  # workers never launch
])
def test_processes_for(gpus, multi_gpu, env, expected):
    assert processes_for(gpus, multi_gpu, env) == expected


def test_build_command_gloo_local():
    cmd = build_command(["train", "m"], nprocs=2)
    runner = cmd.index("mmarctl.launcher")
    assert cmd[runner + 1:runner + 6] == ["--gloo", "-np", "2", "-H", "localhost:2"]
    assert cmd[-5:] == [sys.executable, "-m", "mmarctl", "train", "m"]


def test_build_command_gloo_hosts_and_hostfile():
    cmd = build_command(["train"], nprocs=8, hosts=parse_hosts("n1:4,n2:4"))
    assert "-H" in cmd and cmd[cmd.index("-H") + 1] == "n1:4,n2:4"
    # horovodrun's hostfile reader stops at a bare host or max_slots=: it gets the -H spec
    hosts = Hosts((("n1", 4), ("n2", 1)), source="--hostfile", file="/etc/hosts.txt")
    cmd = build_command(["train"], nprocs=5, hosts=hosts)
    assert cmd[cmd.index("-H") + 1] == "n1:4,n2:1" and "--hostfile" not in cmd


def test_build_command_mpirun_exports_worker_flag():
    cmd = build_command(["train"], nprocs=2, launcher="mpirun")
    assert cmd[:5] == ["mpirun", "-np", "2", "-H", "localhost:2"]
    assert ["-x", launcher.WORKER_ENV] == cmd[cmd.index(launcher.WORKER_ENV) - 1:
                                              cmd.index(launcher.WORKER_ENV) + 1]
    assert "-bind-to" in cmd and "none" in cmd


def test_build_command_rejects_unknown_launcher():
    with pytest.raises(UsageError, match="Received: 'slurm'"):
        build_command(["train"], nprocs=2, launcher="slurm")


def test_worker_environment_cpu_shares_cores(monkeypatch):
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 8)
    env = launcher.worker_environment(4, cpu=True, local_procs=4, base={})
    assert env[launcher.WORKER_ENV] == "1"
    assert env["CUDA_VISIBLE_DEVICES"] == "-1"
    assert env["TF_NUM_INTRAOP_THREADS"] == "2"


def test_gpus_beyond_machine_fails_clearly(monkeypatch):
    monkeypatch.setattr(launcher, "count_gpus", lambda environ=None: 0)
    with pytest.raises(UsageError) as info:
        launch(["train", "m"], gpus=2)
    assert "needs 2 GPUs; this machine has 0" in str(info.value)
    assert "--cpu" in str(info.value)


def test_hosts_beyond_machines_gpus_name_the_hosts_not_gpus(monkeypatch):
    monkeypatch.setattr(launcher, "count_gpus", lambda environ=None: 0)
    with pytest.raises(UsageError) as info:
        launch(["train", "m"], hosts="localhost:2")
    assert str(info.value).startswith("--hosts (2 worker(s) on this machine) needs 2 GPUs; "
                                      "this machine has 0")


def _no_horovod(monkeypatch):
    monkeypatch.setattr(launcher, "horovod_status", lambda: {
        "installed": False, "version": None, "tensorflow": False, "runner": False,
        "location": None})


def test_horovod_missing_says_the_install_command(monkeypatch):
    _no_horovod(monkeypatch)
    with pytest.raises(MissingDependency) as info:
        launch(["train", "m"], gpus=2, cpu=True)
    assert "python -m mmarctl.install_horovod" in str(info.value)


def test_cli_gpus_2_without_horovod_is_one_line(monkeypatch, tmp_path):
    """Through the front door: `mmarctl train MMAR --gpus 2 --cpu` without Horovod."""
    from mmarctl.cli import app

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "distributed"))
    from tiny_spleen import make_spleen

    # A complete MMAR: train's pre-flight (config, data) passes in the launching process,
    # and the launch is what stops.
    root = make_spleen(tmp_path / "exp", cases=3, size=16, epochs=1)  # 2 training items
    _no_horovod(monkeypatch)
    result = CliRunner().invoke(app, ["train", str(root), "--gpus", "2", "--cpu"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "Horovod" in lines[0] and "python -m mmarctl.install_horovod" in lines[0]


def test_mpirun_missing(monkeypatch):
    monkeypatch.setattr(launcher, "horovod_status", lambda: {
        "installed": True, "version": "0.28.1", "tensorflow": True, "runner": True,
        "location": "/x"})
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    with pytest.raises(MissingDependency, match="mpirun not found"):
        launch(["train"], gpus=2, cpu=True, launcher="mpirun")


@pytest.mark.parametrize("kwargs, message", [
    ({"gpus": 2, "cpu": True, "hosts": "a:1", "hostfile": "f"}, "not both"),
    ({"gpus": 3, "cpu": True, "hosts": "a:1,b:1"}, "more workers than the 2 slot"),
    ({"gpus": 0}, "at least 1"),
    ({"gpus": 2, "cpu": True, "launcher": "pbs"}, "Received: 'pbs'"),
])
def test_launch_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        launch(["train"], **kwargs)


def test_worker_cannot_launch(monkeypatch):
    monkeypatch.setenv(launcher.WORKER_ENV, "1")
    with pytest.raises(UsageError, match="worker cannot launch"):
        launch(["train"], gpus=2, cpu=True)


def _fake_runner(monkeypatch, script: str):
    """Replace Horovod's launcher by a tiny Python script; record the env it got."""
    monkeypatch.setattr(launcher, "horovod_status", lambda: {
        "installed": True, "version": "0.28.1", "tensorflow": True, "runner": True,
        "location": "/x"})
    monkeypatch.setattr(launcher, "build_command",
                        lambda argv, **kw: [sys.executable, "-c", script])


def test_launch_success_returns_zero(monkeypatch, tmp_path):
    marker = tmp_path / "env.txt"
    _fake_runner(monkeypatch, "import os; open(%r, 'w').write(os.environ['MMARCTL_WORKER'])"
                 % str(marker))
    assert launch(["train"], gpus=2, cpu=True) == 0
    assert marker.read_text() == "1"


def test_launch_failure_is_runtime_failure_with_code(monkeypatch):
    _fake_runner(monkeypatch, "import sys; sys.exit(3)")
    with pytest.raises(RuntimeFailure, match="exited with code 3"):
        launch(["train"], gpus=2, cpu=True)


def test_launch_kills_leftover_workers(monkeypatch, tmp_path):
    """A child the launcher leaves behind (its own process group) does not outlive the job."""
    pid_file = tmp_path / "pid"
    script = ("import subprocess, sys; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); sys.exit(1)")
    _fake_runner(monkeypatch, script)
    with pytest.raises(RuntimeFailure):
        launch(["train"], gpus=2, cpu=True)
    pid = int(pid_file.read_text())
    # Reaped by init or gone: either way it must no longer run.
    for _ in range(50):
        state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                               text=True).stdout.strip()
        if not state or state.startswith("Z"):
            break
        import time
        time.sleep(0.1)
    assert not state or state.startswith("Z")


def _fake_horovodrun(monkeypatch, behaviour):
    import types

    module = types.ModuleType("horovod.runner.launch")
    module.run_commandline = behaviour
    monkeypatch.setitem(sys.modules, "horovod.runner.launch", module)


def test_horovodrun_main_turns_the_failure_into_one_line(monkeypatch, capsys):
    def fail():
        assert sys.argv[:3] == ["horovodrun", "-np", "2"]
        raise RuntimeError("Horovod detected that one or more processes exited with non-zero "
                           "status, thus causing the job to be terminated. The first process "
                           "to do so was:\nProcess name: 1\nExit code: 137\n")

    _fake_horovodrun(monkeypatch, fail)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert launcher.horovodrun_main(["-np", "2", "python", "x.py"]) == 1
    err = capsys.readouterr().err
    assert err == "horovodrun: worker 1 was the first to fail (exit code 137)\n"


def test_horovodrun_main_other_errors_and_success(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))

    def ssh_fail():
        raise RuntimeError("could not connect to some hosts via ssh\nmore detail")

    _fake_horovodrun(monkeypatch, ssh_fail)
    assert launcher.horovodrun_main([]) == 1
    assert capsys.readouterr().err == "horovodrun: could not connect to some hosts via ssh\n"
    _fake_horovodrun(monkeypatch, lambda: None)
    assert launcher.horovodrun_main([]) == 0


def _interrupt_soon(delay: float = 1.0):
    import os
    import signal
    import threading

    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def _interrupt_when_ready(ready, timeout: float = 30.0) -> list[float]:
    """SIGINT to this process once the worker has created ``ready`` (it is in its try);
    returns a list that receives the monotonic time the signal was sent."""
    import signal
    import threading
    import time

    sent: list[float] = []

    def wait_then_interrupt() -> None:
        deadline = time.monotonic() + timeout
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=wait_then_interrupt, daemon=True).start()
    return sent


@pytest.mark.parametrize("started_ignoring_sigint", [False, True])
def test_ctrl_c_is_forwarded_to_the_workers(tmp_path, started_ignoring_sigint):
    """SIGINT reaches the launcher's process group; the job stops and Ctrl-C propagates.

    Also when mmarctl itself started with SIGINT ignored, as a job in the background of a
    non-interactive shell does: its workers must not inherit the ignored disposition.
    """
    import signal
    import time

    if started_ignoring_sigint:
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            test_ctrl_c_is_forwarded_to_the_workers(tmp_path, False)
        finally:
            signal.signal(signal.SIGINT, before)
        return

    # The interrupt waits for the worker to be inside its try: a SIGINT during a loaded
    # machine's interpreter start-up would test Python's start-up, not the forwarding.
    ready = tmp_path / "ready"
    script = ("import pathlib, signal, time\ntry:\n"
              f"    pathlib.Path({str(ready)!r}).write_text(repr((signal.getsignal("
              "signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, []))))\n"
              "    time.sleep(60)\nexcept KeyboardInterrupt:\n    raise SystemExit(130)\n")
    sent = _interrupt_when_ready(ready)
    with pytest.raises(KeyboardInterrupt):
        launcher._supervise([sys.executable, "-c", script], dict(os.environ), grace=30)
    assert ready.exists()
    # stopped by the forwarded SIGINT, not the grace kill; else say how the worker saw SIGINT
    assert time.monotonic() - sent[0] < 20, f"worker's SIGINT handler, mask: {ready.read_text()}"


@pytest.mark.parametrize("sent", ["SIGHUP", "SIGTERM"])
def test_a_hangup_or_sigterm_reaches_the_workers_as_sigterm(tmp_path, sent):
    """The terminal or ssh session gone (SIGHUP), or a scheduler's stop (SIGTERM): the
    workers get SIGTERM, on which they save a resumable state (mmarctl.runtime.plan), instead
    of dying with the launcher; and the job ends as interrupted (one line, 130), not as a
    failure of the workers that exited 143."""
    import signal
    import threading
    import time

    ready, got = tmp_path / "ready", tmp_path / "got"
    script = ("import pathlib, signal, sys, time\n"
              "def stop(signum, frame):\n"
              f"    pathlib.Path({str(got)!r}).write_text(signal.Signals(signum).name)\n"
              "    sys.exit(143)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              f"pathlib.Path({str(ready)!r}).touch()\ntime.sleep(60)\n")

    def hang_up_when_ready() -> None:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), getattr(signal, sent))

    threading.Thread(target=hang_up_when_ready, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        launcher._supervise([sys.executable, "-c", script], dict(os.environ), grace=30)
    assert got.read_text() == "SIGTERM"
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # put back as it was


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_launcher_stops_when_mmarctl_is_killed(tmp_path):
    """kill -9 of the mmarctl that launched (OOM killer, a scheduler): its launcher gets
    SIGTERM (and stops its workers, which save a resumable state) instead of training on
    detached under a dead pid."""
    import signal
    import time

    ready, got = tmp_path / "ready", tmp_path / "got"
    job = ("import pathlib, signal, sys, time\n"
           "def stop(signum, frame):\n"
           f"    pathlib.Path({str(got)!r}).write_text(signal.Signals(signum).name)\n"
           "    sys.exit(143)\n"
           "signal.signal(signal.SIGTERM, stop)\n"
           f"pathlib.Path({str(ready)!r}).touch()\ntime.sleep(60)\n")
    mmarctl = ("import os, sys\nfrom mmarctl import launcher\n"
               f"launcher._supervise([sys.executable, '-c', {job!r}], dict(os.environ), 30)\n")
    parent = subprocess.Popen([sys.executable, "-c", mmarctl])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        # the file's name can be seen before its text is written: wait for the text
        while not (got.exists() and got.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got.exists() and got.read_text() == "SIGTERM"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_horovods_stop_grace_comes_from_launch(monkeypatch):
    """Horovod's middleman gives a worker told to stop the seconds launch() passes down
    (its own 5 s killed rank 0 while it saved, and the stop read as 'first to fail, 137')."""
    safe_shell_exec = pytest.importorskip("horovod.runner.common.util.safe_shell_exec")
    monkeypatch.setattr(safe_shell_exec, "GRACEFUL_TERMINATION_TIME_S", 5)
    monkeypatch.setenv(launcher.STOP_GRACE_ENV, "25.0")
    launcher._lengthen_horovod_grace()
    assert safe_shell_exec.GRACEFUL_TERMINATION_TIME_S == 25.0
    monkeypatch.setenv(launcher.STOP_GRACE_ENV, "")
    launcher._lengthen_horovod_grace()  # unset or unreadable: Horovod's own value stays
    assert safe_shell_exec.GRACEFUL_TERMINATION_TIME_S == 25.0
    # and the middleman runs it: horovodrun spawns it from `python -m mmarctl.launcher`
    text = open(launcher.__file__).read()
    assert 'if __name__ == "__mp_main__":\n' in text


def _signal_logging_launcher(log, ready, stops_on: str) -> str:
    """A stand-in launcher that appends every SIGUSR2/SIGINT/SIGTERM it gets to ``log`` and
    exits on the first of ``stops_on`` (names, space-separated)."""
    return ("import pathlib, signal, sys, time\n"
            f"log, stops = pathlib.Path({str(log)!r}), {stops_on.split()!r}\n"
            "def got(signum, frame):\n"
            "    name = signal.Signals(signum).name\n"
            "    with log.open('a') as out:\n"
            "        out.write(name + ' ')\n"
            "    if name in stops:\n"
            "        sys.exit(0)\n"
            "for s in (signal.SIGUSR2, signal.SIGINT, signal.SIGTERM):\n"
            "    signal.signal(s, got)\n"
            f"pathlib.Path({str(ready)!r}).touch()\n"
            "while True:\n    time.sleep(0.05)\n")


def _interrupt_twice_when_ready(ready, gap: float):
    """SIGINT to this process once ``ready`` exists, and again ``gap`` seconds later unless
    the returned event is set by then (the supervised job is over: a late SIGINT would
    interrupt whatever test runs next)."""
    import signal
    import threading
    import time

    over = threading.Event()

    def interrupt() -> None:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)
        if not over.wait(gap):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    return over


@pytest.mark.parametrize("stops_on, gap, grace, told", [
    ("SIGUSR2", 30, 30, "SIGUSR2 "),           # mpirun passes it on; the workers stop at once
    ("SIGINT", 0.5, 30, "SIGUSR2 SIGINT "),    # a second Ctrl-C: mpirun's own (abort) stop
    ("SIGTERM", 30, 6, "SIGUSR2 SIGTERM "),    # still running half-way through the grace
])
def test_mpirun_hears_of_a_ctrl_c_as_the_signal_it_forwards(tmp_path, stops_on, gap, grace,
                                                            told):
    """With ``first_stop`` (mpirun's SIGUSR2, mmarctl.worker_stop) the first Ctrl-C reaches
    the launcher as that signal alone; a second one, or the grace half gone, as its own stop.
    """
    import signal

    ready, log = tmp_path / "ready", tmp_path / "log"
    script = _signal_logging_launcher(log, ready, stops_on)
    over = _interrupt_twice_when_ready(ready, gap)
    try:
        with pytest.raises(KeyboardInterrupt):
            launcher._supervise([sys.executable, "-c", script], dict(os.environ), grace=grace,
                                first_stop=signal.SIGUSR2)
    finally:
        over.set()
    assert log.read_text() == told


def test_workers_that_ignore_ctrl_c_are_killed_after_grace(tmp_path):
    import time

    script = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n")
    started = time.monotonic()
    timer = _interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        launcher._supervise([sys.executable, "-c", script], dict(os.environ), grace=1.0)
    timer.cancel()
    assert time.monotonic() - started < 15


# -- mpirun command line, the expected job size, and the alone-worker guard -------------------

def test_build_command_mpirun_exports_only_what_is_set(monkeypatch):
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 1)
    env = {"PATH": "/bin", launcher.EXPECTED_SIZE_ENV: "2", launcher.LAUNCHER_ENV: "mpirun"}
    cmd = build_command(["train"], nprocs=2, launcher="mpirun", environ=env)
    exported = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-x"]
    assert exported == [launcher.WORKER_ENV, "PATH", launcher.EXPECTED_SIZE_ENV,
                        launcher.LAUNCHER_ENV]            # no -x for unset variables
    assert "--oversubscribe" in cmd                       # 2 processes, 1 core
    assert ("--allow-run-as-root" in cmd) == (os.geteuid() == 0)
    hosts = parse_hosts("node1:2,node2:2")
    assert "--oversubscribe" not in build_command(["train"], nprocs=4, launcher="mpirun",
                                                  hosts=hosts, environ=env)


def test_worker_environment_names_the_job_size_and_launcher():
    env = launcher.worker_environment(3, cpu=False, local_procs=3, base={}, launcher="mpirun")
    assert env[launcher.EXPECTED_SIZE_ENV] == "3" and env[launcher.LAUNCHER_ENV] == "mpirun"
    assert launcher.expected_size(env) == 3 and launcher.expected_size({}) is None


def test_launch_rank_from_each_launcher():
    assert launcher.launch_rank({}) == 0
    assert launcher.launch_rank({"HOROVOD_RANK": "3"}) == 3
    assert launcher.launch_rank({"OMPI_COMM_WORLD_RANK": "1"}) == 1
    assert launcher.launch_rank({"PMI_RANK": "2"}) == 2


def test_mpirun_with_gloo_only_horovod_is_refused_before_launch(monkeypatch):
    monkeypatch.setattr(launcher, "horovod_status", lambda: {
        "installed": True, "version": "0.28.1", "tensorflow": True, "runner": True,
        "location": "/x", "mpi": False})
    monkeypatch.setattr(launcher.shutil, "which", lambda name: "/usr/bin/" + name)
    with pytest.raises(MissingDependency) as info:
        launch(["train"], gpus=2, cpu=True, launcher="mpirun")
    assert "needs Horovod built with MPI; this one has only Gloo" in str(info.value)
    assert "install_horovod --mpi" in str(info.value)


def test_links_mpi_reads_the_library(tmp_path):
    mpi, gloo, empty = tmp_path / "a.so", tmp_path / "b.so", tmp_path / "c.so"
    mpi.write_bytes(b"\x7fELF..libtensorflow_framework.so.2\0libmpi.so.40\0")
    gloo.write_bytes(b"\x7fELF..libtensorflow_framework.so.2\0gloo::rendezvous\0")
    empty.write_bytes(b"")
    assert launcher._links_mpi(mpi) is True
    assert launcher._links_mpi(gloo) is False
    assert launcher._links_mpi(empty) is None
    assert launcher._links_mpi(tmp_path / "missing.so") is None


class _FakeHvd:
    def __init__(self, mpi: bool) -> None:
        self.mpi = mpi

    def mpi_built(self) -> bool:
        return self.mpi


def _backend(size: int, mpi: bool | None):
    import types

    backend = types.SimpleNamespace(size=size, name="horovod")
    if mpi is not None:
        backend._hvd = _FakeHvd(mpi)
    return backend


@pytest.mark.parametrize("size, mpi, env, message", [
    (1, False, {"OMPI_COMM_WORLD_RANK": "1"},
     "worker 1: Horovod sees 1 process(es) but mpirun started 2: this Horovod was built "
     "without MPI"),
    (1, True, {}, "worker 0: Horovod sees 1 process(es) but mpirun started 2: launcher "
                  "mismatch"),
    (3, None, {launcher.LAUNCHER_ENV: "gloo"}, "Horovod sees 3 process(es) but gloo started 2"),
])
def test_a_worker_alone_is_stopped(size, mpi, env, message):
    from mmarctl.runtime.distributed import check_world_size

    environ = {launcher.EXPECTED_SIZE_ENV: "2", launcher.LAUNCHER_ENV: "mpirun", **env}
    with pytest.raises(RuntimeFailure) as info:
        check_world_size(_backend(size, mpi), environ)
    assert message in str(info.value)
    assert "stopping before anything is written" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_worker_in_its_job_goes_on():
    from mmarctl.runtime.distributed import check_world_size

    check_world_size(_backend(2, True), {launcher.EXPECTED_SIZE_ENV: "2"})
    check_world_size(_backend(1, None), {})                 # not started by mmarctl


def test_mpirun_refuses_localhost_named_twice(tmp_path):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("localhost slots=1\n127.0.0.1 slots=1\n")
    with pytest.raises(UsageError, match="names this machine twice .*127.0.0.1 slots=2"):
        launch(["train"], gpus=2, cpu=True, hostfile=hostfile, launcher="mpirun")
    with pytest.raises(UsageError, match="Open MPI counts them as one node"):
        launch(["train"], cpu=True, hosts="localhost:1,127.0.0.1:1", launcher="mpirun")


def test_horovodrun_main_says_a_signalled_worker_was_stopped(monkeypatch, capsys):
    def stopped():
        raise RuntimeError("Horovod detected that one or more processes exited with non-zero "
                           "status, thus causing the job to be terminated. The first process "
                           "to do so was:\nProcess name: 1\nExit code: 130\n")

    _fake_horovodrun(monkeypatch, stopped)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert launcher.horovodrun_main(["-np", "2", "python", "x.py"]) == 1
    assert capsys.readouterr().err == ("horovodrun: worker 1 was stopped by a signal "
                                       "(exit code 130)\n")


def test_horovodrun_main_says_a_requested_stop_is_no_failure(monkeypatch, capsys):
    """Ctrl-C forwarded to horovodrun: however the workers ended (130, or 137 when Horovod
    killed a slow one), the line says they were stopped, and the code is 128 + SIGINT."""
    import signal

    gloo_run = pytest.importorskip("horovod.runner.gloo_run")
    monkeypatch.setattr(gloo_run, "register_shutdown_event", gloo_run.register_shutdown_event)
    monkeypatch.setattr(sys, "argv", list(sys.argv))

    def interrupted():
        event = gloo_run.register_shutdown_event()  # as launch_gloo does
        os.kill(os.getpid(), signal.SIGINT)
        assert event.wait(10)
        raise RuntimeError("Horovod detected that one or more processes exited with non-zero "
                           "status, thus causing the job to be terminated. The first process "
                           "to do so was:\nProcess name: 0\nExit code: 137\n")

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _fake_horovodrun(monkeypatch, interrupted)
    try:
        assert launcher.horovodrun_main(["-np", "2", "python", "x.py"]) == 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert capsys.readouterr().err == "horovodrun: workers stopped by Ctrl-C\n"


def test_a_host_that_cannot_be_resolved_stops_before_the_launcher(monkeypatch, tmp_path):
    """No ssh attempt and no 'first failing worker' text: the name, the resolver's reason,
    and a usage error (2) before Horovod is even looked for."""
    import socket

    def resolve(host, *args, **kwargs):
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 0))]

    def never(*args, **kwargs):
        raise AssertionError("the launcher must not be looked for or started")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(launcher, "_check_launcher_available", never)
    monkeypatch.setattr(launcher, "_supervise", never)
    with pytest.raises(UsageError) as info:
        launch(["train", "m"], cpu=True, hosts="localhost:1,nosuchhost.invalid:1")
    assert str(info.value).startswith("--hosts: host 'nosuchhost.invalid' cannot be resolved "
                                      "(Name or service not known); no worker was started")
    hostfile = tmp_path / "hosts"
    hostfile.write_text("node1 slots=1\nnosuchhost.invalid slots=1\n")
    with pytest.raises(UsageError, match="host 'nosuchhost.invalid' cannot be resolved") as info:
        launch(["train", "m"], cpu=True, hostfile=hostfile, launcher="mpirun")
    assert str(info.value.file) == str(hostfile)


def test_workers_told_to_stop_get_time_to_save_under_both_launchers(monkeypatch):
    """launch() passes its grace (less 5 s) down: Horovod's middleman reads it (see
    test_horovods_stop_grace_comes_from_launch) and mpirun gets a fifth of it as Open MPI's
    delay (1 s by default), which it waits twice: SIGCONT, SIGTERM after it, SIGKILL after
    it again. A Ctrl-C reaches mpirun as SIGUSR2, which it passes on at once; its own stop
    comes only half-way through the grace, and so ends in a SIGKILL at 15 + 2 x 5 of 30 s."""
    import signal

    seen = {}

    def supervise(command, env, grace, pass_fds=(), first_stop=None):
        seen.update(command=command, env=env, first_stop=first_stop)
        return 0

    monkeypatch.setattr(launcher, "_check_launcher_available", lambda name: None)
    monkeypatch.setattr(launcher, "_supervise", supervise)
    launch(["train", "m"], gpus=2, cpu=True, launcher="mpirun", grace=30.0)
    assert seen["env"][launcher.STOP_GRACE_ENV] == "25.0"
    command = seen["command"]
    at = command.index("odls_base_sigkill_timeout")
    assert command[at - 1:at + 2] == ["--mca", "odls_base_sigkill_timeout", "5"]
    assert seen["first_stop"] == signal.SIGUSR2
    launch(["train", "m"], gpus=2, cpu=True, grace=30.0)
    assert seen["env"][launcher.STOP_GRACE_ENV] == "25.0"
    assert "odls_base_sigkill_timeout" not in seen["command"]
    assert seen["first_stop"] is None  # horovodrun stops its workers at once itself
