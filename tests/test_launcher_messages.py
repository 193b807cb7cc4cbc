"""The lines a multi-process run prints: a bad ``--set multi_gpu`` names ``--set``, only rank
0 prints train's header, and a worker stopped as its collective failed says so without
pybind11's internal wording."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar  # noqa: E402

from mmarctl.cli import app  # noqa: E402


@pytest.fixture
def not_a_worker(monkeypatch):
    monkeypatch.delenv("MMARCTL_WORKER", raising=False)


def test_a_bad_set_multi_gpu_names_set_not_the_config_file(tmp_path, not_a_worker):
    root = make_mmar(tmp_path / "m")
    result = CliRunner().invoke(app, ["train", str(root), "--set", "multi_gpu=maybe"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == ("error: --set: multi_gpu: multi_gpu must be true or "
                                     "false; Received: multi_gpu='maybe'")


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank_0_prints_the_training_header(tmp_path, monkeypatch, not_a_worker, rank):
    from mmarctl.runtime import plan

    state = SimpleNamespace(epochs=1, steps_per_epoch=2, start_epoch=0, key_metric=None,
                            best_epoch=-1, best_metric=None)
    fake = SimpleNamespace(backend=SimpleNamespace(rank=rank, size=1, is_chief=rank == 0),
                           state=state, run=lambda: state, checkpoint_dir=tmp_path / "models")
    monkeypatch.setattr(plan.TrainingPlan, "build", classmethod(lambda cls, *a, **k: fake))
    root = make_mmar(tmp_path / "m")
    result = CliRunner().invoke(app, ["train", str(root)])
    assert result.exit_code == 0, result.output
    header = "train: 1 epoch x 2 steps, starting at epoch 1"
    assert (header in result.output) == (rank == 0), result.output


def test_a_stop_during_a_failed_collective_reports_no_pybind11_text(monkeypatch, capsys):
    from mmarctl.runtime import distributed

    monkeypatch.setattr(sys, "excepthook", lambda *a: None)
    distributed.install_worker_excepthook(0, argv=["mmarctl", "train"])
    error = RuntimeError("pybind11::error_already_set: MISMATCH of original and normalized "
                         "active exception types: ORIGINAL UnknownError REPLACED BY "
                         "KeyboardInterrupt: <EMPTY MESSAGE>")
    sys.excepthook(RuntimeError, error, None)
    line = capsys.readouterr().err
    assert line == ("error: rank 0: another worker stopped, so this one cannot go on (its "
                    "collective failed with UnknownError as the launcher stopped it; the cause "
                    "is in Horovod's error line above; --debug shows the traceback)\n")
