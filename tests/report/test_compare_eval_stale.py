"""`compare` marks an eval/metrics.json that is about an earlier model (the MMAR trained
again after validate ran): validate records the model it validated, by content."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from test_compare import clone, rows_of  # noqa: E402

from mmarctl.cli import app  # noqa: E402
from mmarctl.report.compare import compare  # noqa: E402
from mmarctl.run_records import model_fingerprint, model_replaced  # noqa: E402


def validated(root: Path, dice: float) -> None:
    """metrics.json as validate writes it now: with the model it validated."""
    index = root / "models" / "model.ckpt.index"
    if not index.exists():
        index.write_bytes(b"weights of the first model")
    (root / "eval").mkdir(exist_ok=True)
    (root / "eval" / "metrics.json").write_text(json.dumps(
        {"summary": {"mean_dice": {"value": dice, "mean": dice}},
         "model": {"loader": "CheckpointLoader (models)",
                   **model_fingerprint(root / "models" / "model.ckpt", root)},
         "validated_at": "2026-12-06T22:45:18+0000"}))


def test_fingerprint_is_relative_and_by_content(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.ckpt.index").write_bytes(b"one")
    record = model_fingerprint(tmp_path / "models" / "model.ckpt", tmp_path)
    assert record["file"] == "models/model.ckpt.index"
    assert not model_replaced(record, tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "models", copy / "models")
    os.utime(copy / "models" / "model.ckpt.index", (1, 1))  # a copy's own times
    assert not model_replaced(record, copy)  # same content: not stale
    (copy / "models" / "model.ckpt.index").write_bytes(b"two")
    assert model_replaced(record, copy)
    assert not model_replaced(None, tmp_path)  # a metrics.json of before: cannot tell


def test_an_eval_of_an_earlier_model_is_marked_stale(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    b = clone(tmp_path / "b", 1e-2, [0.5, 0.7])
    validated(a, 0.9)
    validated(b, 0.7)
    assert rows_of(compare([a, b]))[("eval", "mean_dice")] == ["0.9000", "0.7000"]
    (b / "models" / "model.ckpt.index").write_bytes(b"weights of a retrained model")
    comparison = compare([a, b])
    assert rows_of(comparison)[("eval", "mean_dice")] == [
        "0.9000", "0.7000 (stale: model retrained since)"]
    assert "eval_stale" in comparison.to_json()["runs"][1]
    assert "eval_stale" not in comparison.to_json()["runs"][0]
    result = CliRunner().invoke(app, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert (f"warning: {b}/eval/metrics.json is about an earlier model: "
            "models/model.ckpt.index was replaced after validate ran") in result.output


def test_validate_records_the_model_it_validated(tmp_path):
    from types import SimpleNamespace

    from mmarctl.runtime.evaluation import _validated_model, write_metric_reports

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.ckpt.index").write_bytes(b"weights")
    loader = SimpleNamespace(prefix=lambda workspace: tmp_path / "models" / "model.ckpt")
    model = _validated_model(SimpleNamespace(root=tmp_path), loader,
                             {"name": "CheckpointLoader", "args": {"checkpoint_dir": "models"}})
    write_metric_reports(tmp_path / "eval", [SimpleNamespace(name="mean_dice")],
                         [("case1", [0.5])], {"mean_dice": 0.5}, model=model)
    document = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert document["model"]["loader"] == "CheckpointLoader (models)"
    assert document["model"]["file"] == "models/model.ckpt.index"
    assert len(document["model"]["sha256"]) == 64 and document["validated_at"]


def test_an_eval_of_the_previous_runs_model_beside_a_stopped_new_run_is_marked(tmp_path):
    """A new train stopped before its first validation leaves the previous run's
    model.ckpt, which the eval is of: not the stopped run's quality."""
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    models = a / "models"
    saved = (models / "model.ckpt.index")
    saved.write_bytes(b"weights of run A")
    os.utime(saved, (1_000_000, 1_000_000))
    (models / "events.out.tfevents.999990.host.1.0.v2").write_bytes(b"")  # run A's start
    validated(a, 0.9)
    assert rows_of(compare([a]))[("eval", "mean_dice")] == ["0.9000"]
    # run B: its events replace A's (moved to previous_runs/), stopped with no model saved
    (models / "events.out.tfevents.999990.host.1.0.v2").unlink()
    (models / "events.out.tfevents.1000500.host.2.0.v2").write_bytes(b"")
    (models / "training_summary.json").write_text(json.dumps({"status": "interrupted"}))
    comparison = compare([a])
    assert rows_of(comparison)[("eval", "mean_dice")] == [
        "0.9000 (stale: an earlier run's model)"]
    assert "saved before the current run began" in comparison.to_json()["runs"][0]["eval_stale"]
