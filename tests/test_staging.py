"""staged_directory: a folder appears whole, with normal permissions, or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mmarctl.errors import WorkspaceError
from mmarctl.staging import _host_tag, check_destination, staged_directory


def test_success_renames_into_place_with_umask_permissions(tmp_path):
    dest = tmp_path / "new"
    with staged_directory(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".new.")
        (tmp / "file.txt").write_text("x")
        assert not dest.exists()
    assert (dest / "file.txt").read_text() == "x"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o777 & ~mask  # not mkdtemp's 0700
    assert [p.name for p in tmp_path.iterdir()] == ["new"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_or_ctrl_c_removes_everything(tmp_path, error):
    dest = tmp_path / "a" / "b" / "new"
    with pytest.raises(type(error)):
        with staged_directory(dest) as tmp:
            (tmp / "half.txt").write_text("x")
            raise error
    assert list(tmp_path.iterdir()) == []  # created parents are gone too


def test_existing_empty_folder_is_replaced_only_when_allowed(tmp_path):
    dest = tmp_path / "new"
    dest.mkdir()
    with pytest.raises(WorkspaceError, match="already exists"):
        check_destination(dest, allow_empty=False)
    with staged_directory(dest, allow_empty=True) as tmp:
        (tmp / "f").write_text("x")
    assert (dest / "f").is_file()


def test_folder_appearing_meanwhile_is_not_overwritten(tmp_path):
    dest = tmp_path / "new"
    with pytest.raises(WorkspaceError, match="could not move"):
        with staged_directory(dest) as tmp:
            (tmp / "f").write_text("x")
            dest.mkdir()
            (dest / "theirs").write_text("keep")
    assert [p.name for p in dest.iterdir()] == ["theirs"]
    assert [p.name for p in tmp_path.iterdir()] == ["new"]


def test_symlink_destination_is_refused(tmp_path):
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(WorkspaceError, match="symbolic link"):
        check_destination(tmp_path / "link", allow_empty=True)


def test_a_staging_folder_a_killed_process_left_is_removed_by_the_next(tmp_path):
    # a killed export left models/.export-XXXX forever: nothing could tell it was dead
    import subprocess
    import sys

    from pathlib import Path

    from mmarctl.staging import staging_folder_in

    script = ("import sys; from pathlib import Path; from mmarctl.staging import "
              "staging_folder_in; print(staging_folder_in(Path(sys.argv[1]), 'export'))")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, check=True)
    left = Path(done.stdout.strip())  # its process has exited, as after kill -9
    assert left.is_dir() and left.name.startswith(".export.")
    mine = staging_folder_in(tmp_path, "export")
    assert not left.exists() and mine.is_dir()
    assert staging_folder_in(tmp_path, "export").is_dir() and mine.is_dir()  # a live one stays


def test_an_existing_empty_folder_is_filled_not_replaced(tmp_path):
    """`cd x && mmarctl init .`, or a mount point: the folder the files go into stays
    (same inode, mode and group bits), so a shell standing in it is not left in a deleted
    folder and a mount point works."""
    dest = tmp_path / "x"
    dest.mkdir()
    os.chmod(dest, 0o2750)  # a setgid project folder
    inode = dest.stat().st_ino
    with staged_directory(dest, allow_empty=True) as tmp:
        assert tmp.parent == dest and tmp.name.startswith(".x.")
        (tmp / "config").mkdir()
        (tmp / "config" / "f.json").write_text("{}")
        (tmp / "top.txt").write_text("x")
        assert sorted(p.name for p in dest.iterdir()) == [tmp.name]  # nothing shown early
    assert dest.stat().st_ino == inode
    assert stat.S_IMODE(dest.stat().st_mode) == 0o2750
    assert sorted(p.name for p in dest.iterdir()) == ["config", "top.txt"]
    assert (dest / "config" / "f.json").read_text() == "{}"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_filling_an_existing_folder_leaves_it_empty(tmp_path, error):
    dest = tmp_path / "x"
    dest.mkdir()
    with pytest.raises(type(error)):
        with staged_directory(dest, allow_empty=True) as tmp:
            (tmp / "half.txt").write_text("x")
            raise error
    assert dest.is_dir() and list(dest.iterdir()) == []


def test_a_file_appearing_in_the_existing_folder_meanwhile_is_kept(tmp_path):
    """rename() would replace it silently: refused, and what was moved goes back."""
    dest = tmp_path / "x"
    dest.mkdir()
    with pytest.raises(WorkspaceError, match="b.txt appeared in it meanwhile"):
        with staged_directory(dest, allow_empty=True) as tmp:
            (tmp / "a.txt").write_text("mine")
            (tmp / "b.txt").write_text("mine")
            (dest / "b.txt").write_text("theirs")
    assert [p.name for p in dest.iterdir()] == ["b.txt"]
    assert (dest / "b.txt").read_text() == "theirs"


def test_a_killed_runs_staging_inside_the_folder_does_not_make_it_not_empty(tmp_path):
    dest = tmp_path / "x"
    dest.mkdir()
    dead = dest / f".x.{_host_tag()}-999999999.abcdefgh.partial"  # no such process
    dead.mkdir()
    with staged_directory(dest, allow_empty=True) as tmp:
        (tmp / "f").write_text("x")
    assert [p.name for p in dest.iterdir()] == ["f"]


def test_init_dot_keeps_the_current_folder(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mmarctl.cli import app

    here = tmp_path / "x"
    here.mkdir()
    inode = here.stat().st_ino
    monkeypatch.chdir(here)
    result = CliRunner().invoke(app, ["init", "."])
    assert result.exit_code == 0, result.output
    assert os.getcwd() == str(here) and here.stat().st_ino == inode
    assert (here / "config" / "config_train.json").is_file()


def test_a_deleted_current_folder_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(WorkspaceError, match="the current folder no longer exists"):
        check_destination(Path("sub"), allow_empty=True)
    from typer.testing import CliRunner

    from mmarctl.cli import app

    for argv in (["init", "sub"], ["data", "synth", "sub", "--cases", "2", "--size", "16"]):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 1, result.output
        assert "error: the current folder no longer exists" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
