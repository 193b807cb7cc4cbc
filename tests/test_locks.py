"""One writer per MMAR folder (mmarctl.locks): the lock itself, then real runs through the CLI.

The unit tests hold a lock from a second Python process (flock is per open file, so a
holder in this process would not show what another run sees). The slow test trains the
shrunken spleen scaffold and tries a second train, validate and export against it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmarctl import launcher
from mmarctl.errors import WorkspaceBusy
from mmarctl.locks import HELD_ENV, LOCK_NAME, FolderLock, lock_folder, scoped
from tests.tagged_processes import tagged_pids

HERE = Path(__file__).parent
REPO = HERE.parent

#: Holds the lock on argv[1] as "mmarctl train <folder>", says so, then sleeps.
_HOLDER = """
import sys, time
from mmarctl.locks import FolderLock
FolderLock(sys.argv[1], argv=["mmarctl", "train", sys.argv[1]]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _hold(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], env=env,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def holder(tmp_path):
    process = _hold(tmp_path / "models")
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_second_writer_is_refused_with_pid_and_command(tmp_path, holder):
    started = time.monotonic()
    with pytest.raises(WorkspaceBusy) as info:
        FolderLock(tmp_path / "models", display="models").acquire()
    assert time.monotonic() - started < 2          # at once, no waiting on the holder
    message = str(info.value)
    assert f"models/ is in use by pid {holder.pid} (mmarctl train {tmp_path / 'models'})" \
        in message
    assert "\n" not in message


def test_kill_9_of_the_holder_releases_the_lock(tmp_path, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with FolderLock(tmp_path / "models") as lock:   # no stale pid file to clean up
        assert lock.held
        assert f'"pid": {os.getpid()}' in (tmp_path / "models" / LOCK_NAME).read_text()
    assert not (tmp_path / "models" / LOCK_NAME).exists()   # removed on release


def test_other_folders_are_independent(tmp_path, holder):
    with FolderLock(tmp_path / "eval") as lock:      # validate while training: allowed
        assert lock.held


def test_scoped_releases_on_return_and_on_error(tmp_path):
    @scoped
    def write(folder: Path, fail: bool) -> None:
        assert lock_folder(folder, environ={}) is not None
        if fail:
            raise RuntimeError("boom")

    write(tmp_path / "m", False)
    with pytest.raises(RuntimeError):
        write(tmp_path / "m", True)
    with FolderLock(tmp_path / "m") as lock:
        assert lock.held


def test_workers_of_a_job_take_no_lock(tmp_path, holder):
    """The launcher parent holds it (HELD_ENV); ranks other than 0 write nothing."""
    path = tmp_path / "models" / LOCK_NAME
    assert lock_folder(tmp_path / "models", environ={HELD_ENV: str(path)}) is None
    assert lock_folder(tmp_path / "models", environ={"OMPI_COMM_WORLD_RANK": "1"}) is None
    with pytest.raises(WorkspaceBusy):   # rank 0 of an outside mpirun job does lock
        lock_folder(tmp_path / "models", environ={"OMPI_COMM_WORLD_RANK": "0"})


def test_cli_train_on_a_locked_mmar_exits_1_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from mmarctl.cli import app

    root = tmp_path / "exp"
    result = CliRunner().invoke(app, ["clone", "spleen", str(root)])
    assert result.exit_code == 0, result.output
    held = _hold(root / "models")
    try:
        for argv in (["train", str(root)], ["finetune", str(root)],
                     ["train", str(root), "--gpus", "2", "--cpu"]):
            result = CliRunner().invoke(app, argv)
            assert result.exit_code == 1, result.output
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert len(lines) == 1, result.output
            assert f"models/ is in use by pid {held.pid} (mmarctl train" in lines[0]
    finally:
        held.kill()
        held.wait()


def test_launcher_hands_the_lock_to_the_job(monkeypatch, tmp_path):
    """The launching process's lock is inherited by the launcher and named to the workers."""
    monkeypatch.delenv(launcher.WORKER_ENV, raising=False)
    monkeypatch.setattr(launcher, "horovod_status", lambda: {
        "installed": True, "version": "0.28.1", "tensorflow": True, "runner": True,
        "location": "/x", "mpi": False})
    report = tmp_path / "seen.txt"
    lock = FolderLock(tmp_path / "models").acquire()
    # The stand-in launcher reports what it was told and what its descriptor LOCK_FD is.
    script = ("import os\n"
              f"inherited = os.readlink('/proc/self/fd/{lock.fd}')\n"
              f"open({str(report)!r}, 'w').write(' '.join([os.environ[{HELD_ENV!r}], "
              f"inherited, os.environ[{launcher.EXPECTED_SIZE_ENV!r}]]))\n")
    monkeypatch.setattr(launcher, "build_command",
                        lambda argv, **kw: [sys.executable, "-c", script])
    try:
        assert launcher.launch(["train"], gpus=2, cpu=True, locks=[lock]) == 0
    finally:
        lock.release()
    # The launcher holds the lock too (one shared open file): the job keeps it even if the
    # mmarctl that started it is killed.
    held, inherited, size = report.read_text().split()
    assert held == inherited == str(lock.path)
    assert size == "2"


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.timeout(600)
def test_one_writer_while_a_two_worker_job_trains(tmp_path):
    """A `--gpus 2 --cpu` job holds models/: a second train is refused at once naming the
    job's mmarctl, validating into eval/ works, into models/ is refused; the job keeps the
    lock after its mmarctl is killed with SIGKILL, and the kernel frees it with the job."""
    status = launcher.horovod_status()
    if not status["tensorflow"]:
        pytest.skip("Horovod's TensorFlow extension is not installed")
    sys.path.insert(0, str(HERE / "distributed"))
    from tiny_spleen import make_spleen

    # Far more epochs than the test lasts: the job must still hold models/ when the
    # validate runs and the kill come, however slow the machine; it is killed below.
    root = make_spleen(tmp_path / "exp", epochs=100_000)
    tag = str(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMARCTL_")}
    env.update(PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", MMARCTL_TEST_TAG=tag)
    mmarctl = [sys.executable, "-m", "mmarctl"]
    job = subprocess.Popen(mmarctl + ["train", str(root), "--gpus", "2", "--cpu", "--seed", "3"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        index = root / "models" / "model.ckpt.index"
        deadline = time.monotonic() + 300
        while not index.is_file():
            assert job.poll() is None, job.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.5)

        started = time.monotonic()
        second = subprocess.run(mmarctl + ["train", str(root)], env=env, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 1
        assert time.monotonic() - started < 30          # refused before TensorFlow loads
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"models/ is in use by pid {job.pid} (mmarctl train {root} --gpus 2 --cpu" \
            in lines[0]

        into_models = subprocess.run(mmarctl + ["validate", str(root), "--set",
                                                "MMAR_EVAL_OUTPUT_PATH=models"],
                                     env=env, capture_output=True, text=True, timeout=300)
        assert into_models.returncode == 1, into_models.stderr[-2000:]
        assert f"models/ is in use by pid {job.pid}" in into_models.stderr
        assert "Traceback" not in into_models.stderr
        validate = subprocess.run(mmarctl + ["validate", str(root)], env=env,
                                  capture_output=True, text=True, timeout=300)
        assert validate.returncode == 0, validate.stderr[-3000:]
        assert (root / "eval" / "metrics.json").is_file()

        job.kill()                                       # SIGKILL to the job's mmarctl
        job.wait()
        with pytest.raises(WorkspaceBusy):               # its launcher holds the lock still
            FolderLock(root / "models").acquire()
    finally:
        if job.poll() is None:
            job.kill()
        # Everything of the job's (tagged, or holding the lock file open) is killed until
        # nothing is left: a process its launcher was starting as the first kills went out
        # would otherwise live on with the lock (the busy machine of a parallel test run).
        lock_file = FolderLock(root / "models").path
        deadline = time.monotonic() + 60
        while (left := set(tagged_pids(tag)) | _holders(lock_file)) \
                and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
    assert not left, [_command(pid) for pid in left]
    with FolderLock(root / "models") as lock:            # gone with the job, nothing stale
        assert lock.held


def _holders(path: Path) -> set[int]:
    """Pids of the processes (not this one) that have ``path`` open."""
    holders = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        if pid == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                holders.add(pid)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return holders


def _command(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") \
            .decode(errors="replace")
    except OSError:
        return f"{pid}: (gone)"


def test_a_lock_file_removed_meanwhile_is_not_trusted(tmp_path, monkeypatch):
    """The race a removing release opens: a run that opened the old file (now unlinked) and
    then got its lock must start over on the file at the path, or two runs would both write."""
    from mmarctl import locks

    stale = tmp_path / "stale"
    stale.write_text("")
    fds = [os.open(stale, os.O_RDWR)]
    stale.unlink()
    opened = []
    real_open = FolderLock._open

    def open_stale_first(self):
        opened.append(1)
        return fds.pop() if fds else real_open(self)

    monkeypatch.setattr(FolderLock, "_open", open_stale_first)
    with FolderLock(tmp_path / "m") as lock:
        assert len(opened) == 2
        assert locks._same_file(lock.fd, lock.path)


def test_a_full_disk_while_writing_the_details_leaves_no_lock_file(tmp_path, monkeypatch):
    from mmarctl.errors import disk_full

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")  # os.pwrite names no file

    folder = tmp_path / "eval"
    folder.mkdir()
    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError) as info:
        FolderLock(folder).acquire()
    assert list(folder.iterdir()) == []  # released and removed, not left empty
    assert str(disk_full(info.value)).startswith(
        f"no space left on the device writing {folder / LOCK_NAME} (")
    monkeypatch.undo()
    with FolderLock(folder):  # and the folder is free for the next run
        pass


#: Locks argv[1] as "mmarctl train <folder>", hands the lock to a child (as the launcher
#: hands it to Horovod's) and exits: the child prints its pid and holds it.
_HANDED_DOWN = """
import os, sys, time
from mmarctl.locks import FolderLock
FolderLock(sys.argv[1], argv=["mmarctl", "train", sys.argv[1]]).acquire()
if os.fork() == 0:
    print(os.getpid(), flush=True)
    time.sleep(120)
os._exit(0)
"""


def test_a_lock_whose_recorded_holder_has_exited_says_who_holds_it_now(tmp_path):
    # kill -9 of a launching mmarctl: its workers stop within seconds, holding the lock
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", _HANDED_DOWN, str(tmp_path / "models")],
                              env=env, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.wait()  # reaped: no longer a process
    try:
        with pytest.raises(WorkspaceBusy) as info:
            FolderLock(tmp_path / "models", display="models").acquire()
        message = str(info.value)
        assert f"in use by pid {parent.pid} " in message
        assert "which has exited: processes it started (its Horovod workers) still hold it" \
            in message
        assert "pgrep -af mmarctl" in info.value.hint
    finally:
        os.kill(child, signal.SIGKILL)


def test_release_removes_every_folder_the_lock_made_while_empty(tmp_path):
    """A nested MMAR_CKPT_DIR (runs/ck): a run refused before compute left runs/ behind,
    since only the leaf the lock made was removed."""
    with FolderLock(tmp_path / "runs" / "ck"):
        assert (tmp_path / "runs" / "ck" / LOCK_NAME).is_file()
    assert list(tmp_path.iterdir()) == []
    with FolderLock(tmp_path / "runs" / "ck"):
        (tmp_path / "runs" / "kept.txt").write_text("written meanwhile")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["kept.txt"]
