"""A read-only models/ (MMAR_CKPT_DIR): train, finetune and export refuse it, validate and
infer work. check said OK with "export: every format"; it now says so in a note line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from broken_mmars import make_spleen, runner

from mmarctl.cli import app

NOTE = ("models: note: models/ is not writable: train, finetune and export will refuse to run "
        "(they write there); validate and infer read it as it is (make it writable, or set "
        "MMAR_CKPT_DIR to a writable folder)")


@pytest.fixture
def mmar(tmp_path) -> Path:
    root = make_spleen(tmp_path / "spleen")
    (root / "models").mkdir(exist_ok=True)
    return root


def test_a_read_only_models_folder_is_a_note_naming_the_verbs_that_refuse(mmar, monkeypatch):
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0 and "not writable" not in result.output, result.output
    real = os.access
    models = str(mmar / "models")
    monkeypatch.setattr(os, "access", lambda path, mode, *args, **kwargs: (
        False if os.fspath(path) == models else real(path, mode, *args, **kwargs)))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output  # a note: validate and infer work
    assert NOTE in result.output.splitlines(), result.output


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into a read-only folder")
def test_with_real_permissions(mmar):
    models = mmar / "models"
    models.chmod(0o555)
    try:
        assert NOTE in runner.invoke(app, ["check", str(mmar)]).output.splitlines()
    finally:
        models.chmod(0o755)
