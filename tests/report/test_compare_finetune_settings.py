"""After a finetune, compare's config rows say whose settings they are: the base training's
(``training_summary.json`` ``base_settings``) beside the finetune's, or that they are the
finetune's only (two runs trained at other learning rates no longer compare equal silently)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from history_records import train_run, write_history  # noqa: E402
from test_compare import clone, rows_of  # noqa: E402

from mmarctl.report.compare import compare  # noqa: E402


def finetuned(root: Path, settings: dict, base: dict | None) -> Path:
    write_history(root / "models", train_run(2, [0.81, 0.85], phase="finetune"), append=True)
    summary = {"status": "finished", "settings": settings}
    if base is not None:
        summary["base_settings"] = base
    (root / "models" / "training_summary.json").write_text(json.dumps(summary))
    return root


def test_the_base_trainings_settings_are_shown_beside_the_finetunes(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    b = finetuned(clone(tmp_path / "b", 1e-3, [0.5, 0.7]), {"epochs": 2},
                  {"epochs": 3, "learning_rate": 0.005})
    rows = rows_of(compare([a, b]))
    assert rows[("globals", "learning_rate")] == ["0.001", "0.005 -> 0.001 (finetune)"]
    assert rows[("globals", "epochs")][1] == "3 -> 2 (finetune)"
    assert rows[("results", "config shown")] == [
        "-", "base training -> finetune where they differ"]


def test_without_the_base_settings_the_config_says_it_is_the_finetunes(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    b = finetuned(clone(tmp_path / "b", 1e-3, [0.5, 0.7]), {"epochs": 2}, None)
    rows = rows_of(compare([a, b]))
    assert rows[("results", "config shown")] == [
        "-", "the finetune's (the base training's --set values not recorded)"]
    assert ("results", "config shown") not in rows_of(compare([a]))
