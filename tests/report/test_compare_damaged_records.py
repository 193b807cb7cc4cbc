"""compare reads around a damaged ``training_summary.json`` / ``metrics_history.jsonl`` with
a warning naming the file (and line), as it does for a damaged eval/metrics.json; a line the
writer is still appending is not damage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_compare import clone, invoke, rows_of  # noqa: E402

from mmarctl.report.compare import compare  # noqa: E402
from mmarctl.run_records import history_problem, summary_problem  # noqa: E402


def test_a_cut_summary_is_unreadable_not_a_run_without_one(tmp_path):
    g = clone(tmp_path / "g", 1e-3, [0.5, 0.8])
    x1 = clone(tmp_path / "x1", 1e-3, [0.5, 0.8])
    text = json.dumps({"status": "finished", "epochs_finished": 2,
                       "settings": {"learning_rate": 0.01}})
    (x1 / "models" / "training_summary.json").write_text(text[:30])
    rows = rows_of(compare([g, x1]))
    assert rows[("results", "status")] == ["finished",
                                           "unknown (training_summary.json unreadable)"]
    assert "unreadable" in rows[("results", "config shown")][1]
    result = invoke(g, x1)
    assert result.exit_code == 0, result.output
    assert f"warning: {x1}/models/training_summary.json:1:" in result.output


def test_a_garbage_history_line_is_named(tmp_path):
    x2 = clone(tmp_path / "x2", 1e-3, [0.5, 0.8, 0.6])
    history = x2 / "models" / "metrics_history.jsonl"
    lines = history.read_text().splitlines()
    history.write_text(lines[0] + "\n" + lines[1][:20] + "garbage{\n" + lines[2] + "\n")
    assert history_problem(x2 / "models") == f"{history}:2: not an epoch record; skipped"
    result = invoke(x2)
    assert result.exit_code == 0, result.output
    assert f"warning: {x2}/models/metrics_history.jsonl:2: not an epoch record" in \
        result.output


def test_a_line_being_appended_is_not_damage(tmp_path):
    x = clone(tmp_path / "x", 1e-3, [0.5, 0.8])
    history = x / "models" / "metrics_history.jsonl"
    history.write_text(history.read_text() + '{"epoch": 3, "lo')
    assert history_problem(x / "models") is None
    assert summary_problem(x / "models") is None
    assert summary_problem(tmp_path / "nothing") is None


def test_a_history_shorter_than_the_summary_says_is_flagged(tmp_path):
    x = clone(tmp_path / "x", 1e-3, [0.5, 0.8])
    (x / "models" / "training_summary.json").write_text(json.dumps(
        {"status": "finished", "epochs_finished": 6}))
    result = invoke(x)
    assert result.exit_code == 0, result.output
    assert "metrics_history.jsonl ends at epoch 2, but training_summary.json says 6 " \
           "finished" in result.output
