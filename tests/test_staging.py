"""staged_directory: a folder appears whole, with normal permissions, or not at all."""

from __future__ import annotations

import os
import stat

import pytest

from mmarctl.errors import WorkspaceError
from mmarctl.staging import check_destination, staged_directory


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
