"""`compare --json` is for scripts: numbers at full precision, epochs as integers, wall
time in seconds, null where the table says "-" or "not validated"; the table's text too."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_compare import clone, invoke  # noqa: E402


def test_json_values_are_data(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.639914], eval_dice=0.0696123456)
    b = clone(tmp_path / "b", 1e-4, [0.4, 0.639947])
    result = invoke(a, b, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {(row["section"], row["name"]): row for row in data["rows"]}
    best = rows[("results", "best metric")]
    assert best["values"] == [0.639914, 0.639947]  # tells trials 4 decimals cannot
    assert best["text"] == ["0.6399", "0.6399"]
    assert rows[("results", "best epoch")]["values"] == [2, 2]
    assert rows[("results", "epochs run")]["values"] == [2, 2]
    assert rows[("results", "wall time")]["values"] == [60.0, 60.0]
    assert rows[("results", "wall time")]["text"] == ["60 s", "60 s"]
    assert rows[("eval", "mean_dice")]["values"] == [0.0696123456, None]
    assert rows[("eval", "mean_dice")]["text"] == ["0.0696", "not validated"]
    assert [run["eval"] for run in data["runs"]] == ["validated", "not validated"]
    assert rows[("globals", "learning_rate")]["values"] == [0.001, 0.0001]
