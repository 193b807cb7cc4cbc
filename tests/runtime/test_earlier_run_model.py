"""validate, infer and export say so when models/model.ckpt was saved before the training
run models/ holds began (a new train stopped, or still before its first best model): they
would otherwise use the earlier run's model without a word. ``compare`` marks the same."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

from mmarctl.run_records import earlier_run_warning
from mmarctl.runtime.evaluation import _warn_if_stale


def _models(tmp_path, saved: int, started: int | None):
    folder = tmp_path / "models"
    folder.mkdir(parents=True)
    index = folder / "model.ckpt.index"
    index.write_bytes(b"index")
    os.utime(index, (saved, saved))
    if started is not None:
        (folder / f"events.out.tfevents.{started}.host.1.v2").write_bytes(b"")
    return folder


def test_a_checkpoint_older_than_the_current_run_is_one_line(tmp_path):
    folder = _models(tmp_path, saved=1_700_000_000, started=1_700_000_600)
    warning = earlier_run_warning(folder / "model.ckpt", "models/model.ckpt")
    assert warning.startswith("models/model.ckpt was saved by an earlier training run (")
    assert "has saved no model yet (stopped, or still before its first validation)" in warning
    assert "\n" not in warning


def test_the_current_runs_checkpoint_or_no_run_says_nothing(tmp_path):
    assert earlier_run_warning(_models(tmp_path / "a", 1_700_000_600, 1_700_000_000)
                               / "model.ckpt", "m") is None
    assert earlier_run_warning(_models(tmp_path / "b", 1_700_000_000, None)
                               / "model.ckpt", "m") is None
    assert earlier_run_warning(tmp_path / "missing" / "model.ckpt", "m") is None


def test_validate_and_infer_log_it_for_a_checkpoint_loader(tmp_path, caplog):
    _models(tmp_path, saved=1_700_000_000, started=1_700_000_600)
    workspace = SimpleNamespace(root=tmp_path, display=lambda path: str(
        path.relative_to(tmp_path)))
    loader = SimpleNamespace(prefix=lambda ws: tmp_path / "models" / "model.ckpt")
    with caplog.at_level(logging.WARNING):
        _warn_if_stale(workspace, {"name": "CheckpointLoader"}, loader)
    assert any(record.getMessage().startswith("models/model.ckpt was saved by an earlier "
                                              "training run") for record in caplog.records)
