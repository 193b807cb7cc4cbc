"""Creating a workspace at the file system's limits: a long (legal) destination name, a
read-only file system, a disk that fills up while clone --with-models copies."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from mmarctl import staging
from mmarctl.clone import clone
from mmarctl.errors import WorkspaceError


def test_a_long_legal_destination_name_is_cloned(tmp_path):
    longest = staging.name_max(tmp_path)
    if longest > 1000:
        pytest.skip("a file system without a name limit")
    dest = tmp_path / ("a" * longest)  # the staging folder's own name must fit too
    clone("spleen", dest)
    assert (dest / "config" / "config_train.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]


def test_a_name_the_file_system_cannot_hold_is_refused_first(tmp_path):
    longest = staging.name_max(tmp_path)
    with pytest.raises(WorkspaceError) as refused:
        clone("spleen", tmp_path / "new" / ("a" * (longest + 1)))
    assert f"this file system takes at most {longest}" in str(refused.value)
    assert "choose a shorter name" in str(refused.value)
    assert list(tmp_path.iterdir()) == []  # not even the missing parent


def test_a_read_only_file_system_is_not_called_a_permission(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, *args, **kwargs: (
        False if os.fspath(path) == str(tmp_path) else real(path, mode, *args, **kwargs)))
    monkeypatch.setattr(staging, "_read_only", lambda folder: str(folder) == str(tmp_path))
    with pytest.raises(WorkspaceError) as refused:
        clone("spleen", tmp_path / "ws")
    text = str(refused.value)
    assert "read-only file system" in text and "permission" not in text, text
    assert "a folder you can write to" not in text


def test_a_full_disk_during_with_models_is_one_line_naming_the_file(tmp_path, monkeypatch):
    source = tmp_path / "src"
    clone("spleen", source)
    (source / "models").mkdir(exist_ok=True)
    for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001", "training_summary.json"):
        (source / "models" / name).write_bytes(b"x" * 100)
    real = shutil.copy2

    def full(src, dst, **kwargs):
        if os.fspath(src).endswith(".data-00000-of-00001"):
            # as shutil's sendfile copy raises it: the source first, the file written second
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(src), None,
                          os.fspath(dst))
        return real(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copy2", full)
    dest = tmp_path / "cw"
    with pytest.raises(WorkspaceError) as refused:
        clone(str(source), dest, with_models=True)
    text = str(refused.value)
    assert text.startswith(f"{dest / 'models' / 'model.ckpt.data-00000-of-00001'}: "
                           "no space left on the device"), text
    assert ".partial" not in text and "[(" not in text and len(text) < 300, text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
