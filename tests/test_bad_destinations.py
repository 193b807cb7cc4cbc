"""Destinations that cannot be written: clone, init, data synth and commands answer in one
line naming the path and what is wrong (never NotADirectoryError or PermissionError), and
leave nothing half-written behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app

runner = CliRunner()

WRITERS = [["clone", "spleen"], ["init"], ["data", "synth"]]
SYNTH_ARGS = ["--cases", "2", "--size", "16"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def create(writer: list[str], dest: Path):
    return invoke(*writer, dest, *(SYNTH_ARGS if writer[0] == "data" else []))


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def locked_folder(tmp_path: Path):
    """A function that makes a folder unwritable (chmod for a normal user, the immutable
    flag for root, whom permissions do not stop); skips when neither works here."""
    locked: list[Path] = []

    def lock(folder: Path) -> Path:
        if os.geteuid() != 0:
            folder.chmod(0o500)
            locked.append(folder)
            return folder
        if shutil.which("chattr") is None:
            pytest.skip("chattr is not available")
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i failed here: {done.stderr.decode().strip()}")
        locked.append(folder)
        return folder

    yield lock
    for folder in locked:
        if os.geteuid() != 0:
            folder.chmod(0o755)
        else:
            subprocess.run(["chattr", "-i", str(folder)], check=False)


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: " ".join(w))
@pytest.mark.parametrize("below", ["x", "a/b"])
def test_parent_that_is_a_file(tmp_path: Path, writer, below):
    blocker = tmp_path / "f"
    blocker.write_text("")
    dest = blocker / below
    result = create(writer, dest)
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (f"error: {blocker}: not a folder, so {dest} cannot be "
                                     "created in it (choose a destination under a folder)")
    assert listing(tmp_path) == ["f"] and blocker.read_text() == ""


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: " ".join(w))
def test_parent_that_cannot_be_written(tmp_path: Path, locked_folder, writer):
    parent = tmp_path / "locked"
    parent.mkdir()
    locked_folder(parent)
    result = create(writer, parent / "x")
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith(f"error: {parent}: ")
    assert str(parent / "x") in result.output and "\n" not in result.output.strip()
    assert listing(tmp_path) == ["locked"]


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: " ".join(w))
def test_os_refusal_to_stage_is_one_line_and_removes_made_parents(tmp_path: Path,
                                                                   monkeypatch, writer):
    # What an unwritable folder does when permissions do not show it in advance (root on a
    # read-only mount, say): the staging folder cannot be made.
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    dest = tmp_path / "new" / "deeper" / "x"
    result = create(writer, dest)
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        f"error: {dest.parent}: cannot create {dest} in this folder: Operation not permitted "
        "(choose a destination in a folder you can write to)")
    assert listing(tmp_path) == []  # the parents it had made are gone again


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    assert invoke("clone", "spleen", root).exit_code == 0
    return root


def test_commands_in_an_unwritable_folder(tmp_path: Path, locked_folder):
    root = _workspace(tmp_path)
    folder = root / "commands"
    before = {p.name: p.read_text() for p in folder.iterdir()}
    locked_folder(folder)
    result = invoke("commands", root)
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith(f"error: {folder}: cannot write the scripts: ")
    assert "\n" not in result.output.strip()
    assert {p.name: p.read_text() for p in folder.iterdir()} == before


def test_commands_failing_midway_changes_no_script(tmp_path: Path, monkeypatch):
    root = _workspace(tmp_path)
    folder = root / "commands"
    (folder / "train.sh").write_text("# mmarctl: generated\nold\n")
    before = {p.name: p.read_text() for p in folder.iterdir()}
    written = []
    real_write_text = Path.write_text

    def disk_full_at_the_third(self, *args, **kwargs):
        written.append(self)
        if len(written) == 3:
            raise OSError(28, "No space left on device", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full_at_the_third)
    result = invoke("commands", root, "--force")
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (f"error: {folder}: cannot write the scripts: No space "
                                     "left on device")
    assert {p.name: p.read_text() for p in folder.iterdir()} == before  # no .tmp left either
