"""`mmarctl compare`: config differences, results, --all, --json, --plot and bad input.

The MMARs are stand-in MMARs whose models/ and eval/ are written as runs leave them, so
nothing trains here (tests/runtime/test_tensorboard_events.py compares a trained one)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
from history_records import train_run, write_history  # noqa: E402
from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.cli import app  # noqa: E402
from mmarctl.report.compare import compare, format_seconds  # noqa: E402

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["compare", *[str(a) for a in args]])


def clone(root: Path, lr: float, dice: list[float] | None, *, loss_args=None,
          eval_dice: float | None = None) -> Path:
    config = train_config(epochs=len(dice or [1]))
    config["learning_rate"] = lr
    if loss_args:
        config["train"]["loss"]["args"] = loss_args
    make_mmar(root, config=config)
    if dice:
        write_history(root / "models", train_run(len(dice), dice, lr=lr,
                                                 seconds_per_epoch=30))
        (root / "models" / "training_summary.json").write_text(json.dumps(
            {"status": "finished", "best_metric": max(dice)}))
    if eval_dice is not None:
        (root / "eval").mkdir()
        (root / "eval" / "metrics.json").write_text(json.dumps(
            {"summary": {"mean_dice": {"value": eval_dice, "mean": eval_dice}}}))
    return root


def rows_of(comparison, show_all=False):
    return {(r.section, r.name): r.values for r in comparison.rows_shown(show_all)}


def test_differences_results_and_hidden_rows(tmp_path):
    a = clone(tmp_path / "exp-a", 1e-3, [0.5, 0.8, 0.7], eval_dice=0.79)
    b = clone(tmp_path / "exp-b", 1e-4, [0.4, 0.6, 0.65], loss_args={"nan": False})
    comparison = compare([a, b])
    rows = rows_of(comparison)
    assert rows[("globals", "learning_rate")] == ["0.001", "0.0001"]
    assert rows[("components", "train.loss.args.nan")] == ["-", "false"]
    assert rows[("results", "best metric")] == ["0.8000", "0.6500"]
    assert rows[("results", "best epoch")] == ["2", "3"]
    assert rows[("results", "epochs run")] == ["3", "3"]  # results are always shown
    assert rows[("results", "wall time")] == ["90 s", "90 s"]
    assert rows[("eval", "mean_dice")] == ["0.7900", "not validated"]
    # equal config values are hidden, and paths under each MMAR compare equal
    assert ("globals", "epochs") not in rows and ("globals", "DATA_ROOT") not in rows
    everything = rows_of(comparison, show_all=True)
    assert everything[("globals", "DATA_ROOT")] == ["<MMAR>/data", "<MMAR>/data"]
    assert everything[("components", "train.optimizer.path")] == ["standins.Opt"] * 2
    assert comparison.hidden_count() == len(everything) - len(rows) > 10


def test_cli_table_json_and_plot(tmp_path):
    a = clone(tmp_path / "lr-high", 1e-3, [0.5, 0.8, 0.7])
    b = clone(tmp_path / "lr-low", 1e-4, [0.4, 0.6, 0.65])
    plot = tmp_path / "curves.png"
    result = invoke(a, b, "--plot", plot)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("learning_rate" in l and "0.001" in l and "0.0001" in l for l in lines)
    assert any("best metric" in l and "0.8000" in l and "0.6500" in l for l in lines)
    assert "config values equal in every MMAR not shown (--all shows them)" in result.output
    assert "DATA_ROOT" not in result.output
    assert "DATA_ROOT" in invoke(a, b, "--all").output

    from matplotlib.image import imread

    image = imread(str(plot))[..., :3]
    blue, orange = np.array([31, 119, 180]) / 255, np.array([255, 127, 14]) / 255
    for colour in (blue, orange):  # one line per MMAR
        assert (np.abs(image - colour).max(axis=-1) < 0.06).sum() > 30

    result = invoke(a, b, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [run["label"] for run in data["runs"]] == ["lr-high", "lr-low"]
    row = next(r for r in data["rows"] if r["name"] == "learning_rate")
    assert row == {"section": "globals", "name": "learning_rate",
                   "values": [0.001, 0.0001], "text": ["0.001", "0.0001"], "differs": True}


def test_untrained_mmar_says_so_in_its_column(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    b = clone(tmp_path / "b", 1e-3, None)
    rows = rows_of(compare([a, b]))
    assert rows[("results", "status")] == ["finished", "not trained"]
    assert rows[("results", "best metric")] == ["0.8000", "-"]


def test_a_run_is_read_from_mmar_ckpt_dir(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    (a / "models").rename(a / "ckpts")
    environment = json.loads((a / "config" / "environment.json").read_text())
    environment["MMAR_CKPT_DIR"] = "ckpts"
    (a / "config" / "environment.json").write_text(json.dumps(environment))
    rows = rows_of(compare([a]), show_all=True)
    assert rows[("results", "status")] == ["finished"]
    assert rows[("results", "best metric")] == ["0.8000"]


def test_a_broken_config_among_several_names_its_mmar(tmp_path):
    a = clone(tmp_path / "exp-a", 1e-3, [0.5])
    b = clone(tmp_path / "exp-b", 1e-3, [0.6])
    (b / "config" / "config_train.json").write_text("{")
    result = invoke(a, b)
    assert result.exit_code == 1
    assert f"{b}: config/config_train.json:1:2: invalid JSON" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_run_stopped_in_its_first_epoch_says_so(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    b = clone(tmp_path / "b", 1e-3, None)
    (b / "models").mkdir()
    (b / "models" / "training_summary.json").write_text(json.dumps({"status": "interrupted"}))
    rows = rows_of(compare([a, b]))
    assert rows[("results", "status")] == ["finished", "interrupted in epoch 1"]


def test_a_run_whose_process_is_gone_reads_as_stopped_not_running(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(gone.stdout)  # a process that has exited: a run killed with kill -9
    runs = [clone(tmp_path / name, 1e-3, [0.5, 0.8]) for name in ("killed", "live", "remote")]
    for root, pid, host in ((runs[0], dead, socket.gethostname()),
                            (runs[1], os.getpid(), socket.gethostname()),
                            (runs[2], dead, "another-node")):
        (root / "models" / "training_summary.json").write_text(json.dumps(
            {"status": "running", "pid": pid, "host": host}))
    rows = rows_of(compare(runs))
    assert rows[("results", "status")] == ["stopped (killed?)", "running", "running"]


def test_one_mmar_shows_every_row(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5])
    result = invoke(a)
    assert result.exit_code == 0 and "DATA_ROOT" in result.output


def test_bad_input_is_one_line(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    untrained = clone(tmp_path / "u", 1e-3, None)
    (tmp_path / "empty").mkdir()
    cases = [
        ((a, tmp_path / "empty"), 1, "not an MMAR: no config/ folder"),
        ((a, tmp_path / "missing"), 1, "no such folder"),
        ((untrained, untrained), 1, "none of the MMARs has trained or been validated"),
        ((), 2, "give at least one MMAR to compare"),
        ((a, "--plot", tmp_path / "no" / "x.png"), 1, "cannot write the plot: no folder"),
        ((a, "--plot", tmp_path / "a"), 2, "the picture is a PNG"),
    ]
    for args, code, message in cases:
        result = invoke(*args)
        assert result.exit_code == code, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output

    (tmp_path / "dir.png").mkdir()  # a folder where the picture should go
    result = invoke(a, "--plot", tmp_path / "dir.png")
    assert result.exit_code == 1 and "cannot write the plot" in result.output


def test_finetune_epochs_follow_on_and_seconds_add_up(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8])
    write_history(a / "models", train_run(2, [0.81, 0.85], phase="finetune",
                                          seconds_per_epoch=60), append=True)
    rows = rows_of(compare([a]))
    assert rows[("results", "epochs run")] == ["4"]
    assert rows[("results", "finetune from epoch")] == ["3"]
    assert rows[("results", "best epoch")] == ["4"]
    assert rows[("results", "wall time")] == ["3 min 00 s"]


def test_format_seconds():
    assert [format_seconds(s) for s in (4.4, 119, 725, 7380)] == [
        "4 s", "119 s", "12 min 05 s", "2 h 03 min"]


def test_a_clone_reading_its_sources_data_compares_equal_on_data_paths(tmp_path):
    """`clone` points DATA_ROOT/DATASET_JSON at the source's data (absolute); the source
    names the same folder relatively: no config row differs but the one edited."""
    from mmarctl.clone import clone as clone_mmar

    source = make_mmar(tmp_path / "exp-a", config=train_config(epochs=1))
    copy = clone_mmar(str(source), tmp_path / "exp-b").root
    env = json.loads((copy / "config" / "environment.json").read_text())
    assert Path(env["DATA_ROOT"]).is_absolute()  # the premise: clone rewrote it
    config = json.loads((copy / "config" / "config_train.json").read_text())
    config["learning_rate"] = 0.5
    (copy / "config" / "config_train.json").write_text(json.dumps(config))
    for root in (source, copy):
        write_history(root / "models", train_run(1, [0.5]))
    rows = [(r.section, r.name) for r in compare([source, copy]).rows_shown()
            if r.section in ("globals", "components")]
    assert rows == [("globals", "learning_rate")]


def test_clones_each_reading_their_own_data_compare_equal(tmp_path):
    a = make_mmar(tmp_path / "exp-a", config=train_config(epochs=1))
    b = make_mmar(tmp_path / "exp-b", config=train_config(epochs=1))
    for root in (a, b):
        write_history(root / "models", train_run(1, [0.5]))
    assert not [r for r in compare([a, b]).rows_shown() if r.section in ("globals", "components")]


def test_values_a_run_was_given_with_set_are_compared(tmp_path):
    """Three clones trained with --set learning_rate=...: the summary records the --set
    values, and compare shows what each run trained with, not the config file's value."""
    runs = []
    for name, rate in (("a", None), ("b", 1e-4), ("c", 1e-2)):
        root = clone(tmp_path / name, 1e-3, [0.5])
        if rate is not None:
            summary = root / "models" / "training_summary.json"
            summary.write_text(json.dumps({**json.loads(summary.read_text()),
                                           "settings": {"learning_rate": rate}}))
        runs.append(root)
    rows = rows_of(compare(runs))
    assert rows[("globals", "learning_rate")] == ["0.001", "0.0001", "0.01"]


def test_thirty_trials_on_a_terminal_keep_every_value_whole(tmp_path):
    """An AutoML study's 30 trials do not fit side by side in 120 (or 80) columns: one row
    per MMAR, the value columns split into tables that fit, every value printed whole.
    Piped (no terminal width), the table stays one wide table as before."""
    import io

    from rich.console import Console

    from mmarctl.commands.compare import _tables

    roots = [clone(tmp_path / f"trial_{i:03d}", 0.0034 + i * 1e-5, [0.5, 0.6 + i / 100],
                   loss_args={"jaccard": bool(i % 2)}, eval_dice=0.7 + i / 1000)
             for i in range(30)]
    comparison = compare(roots)
    for width in (120, 80):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        for table in _tables(comparison, False, console.width):
            console.print(table)
        text = console.file.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        assert "one per row" in text
        for row in comparison.rows_shown():
            for value in row.values:
                assert value in text, (width, row.name, value)
        for root in roots:
            assert f" {root.name} " in text

    result = invoke(*roots)  # not a terminal: one line per row, every MMAR on it
    assert result.exit_code == 0, result.output
    rates = next(line for line in result.output.splitlines() if "learning_rate" in line)
    assert all(f"{0.0034 + i * 1e-5:.6g}" in rates for i in range(30))


def test_short_run_names_keep_the_mmar_heading_whole(tmp_path):
    import io

    from rich.console import Console

    from mmarctl.commands.compare import _tables

    roots = [clone(tmp_path / name, 1e-3 * (i + 1), [0.5, 0.6])
             for i, name in enumerate("abcdefghijkl")]
    console = Console(file=io.StringIO(), width=80, color_system=None)
    for table in _tables(compare(roots), False, console.width):
        console.print(table)
    text = console.file.getvalue()
    assert "compare: 12 MMARs, one per row" in text
    assert " MMAR " in text, text  # not "MMA" over "R"


def test_a_damaged_eval_metrics_file_is_unreadable_not_unvalidated(tmp_path):
    a = clone(tmp_path / "a", 1e-3, [0.5, 0.8], eval_dice=0.95)
    b = clone(tmp_path / "b", 1e-3, [0.5, 0.7], eval_dice=0.9)
    c = clone(tmp_path / "c", 1e-3, [0.5, 0.6])
    (b / "eval" / "metrics.json").write_text('{"summary": ')
    rows = rows_of(compare([a, b, c]))
    assert rows[("eval", "mean_dice")] == ["0.9500", "unreadable", "not validated"]
    result = invoke(a, b, c)
    assert result.exit_code == 0, result.output
    assert f"warning: {b}/eval/metrics.json:1:13: invalid JSON" in result.output
    assert "unreadable" in result.output
    (b / "eval" / "metrics.json").write_text('[]')
    assert rows_of(compare([b, c]))[("eval", "metrics.json")] == ["unreadable", "not validated"]


def test_two_mmars_with_a_long_value_stay_side_by_side(tmp_path):
    """A long value (a path, a list) folds; it does not turn a two-MMAR table."""
    import io

    from rich.console import Console

    from mmarctl.commands.compare import _tables

    a = clone(tmp_path / "a", 1e-3, [0.5], loss_args={"note": "x" * 90})
    b = clone(tmp_path / "b", 1e-4, [0.6])
    console = Console(file=io.StringIO(), width=80, color_system=None)
    tables = _tables(compare([a, b]), False, console.width)
    for table in tables:
        console.print(table)
    assert len(tables) == 1 and "one per row" not in console.file.getvalue()


def test_a_validated_clara_model_is_compared_though_nothing_trained(tmp_path):
    """An MMAR as NGC ships it (Clara's model, validated here, never trained here) has
    results to compare: its eval/metrics.json; its status says what models/ holds."""
    clara = clone(tmp_path / "clara", 1e-4, None, eval_dice=0.91)
    (clara / "models").mkdir(exist_ok=True)
    (clara / "models" / "model.fzn.pb").write_bytes(b"\n\x00")
    untrained = clone(tmp_path / "u", 1e-3, None)
    rows = rows_of(compare([clara, untrained]))
    assert rows[("results", "status")] == ["not trained here (Clara's model.fzn.pb)",
                                           "not trained"]
    assert rows[("eval", "mean_dice")] == ["0.9100", "not validated"]
    result = invoke(clara, untrained, "--plot", tmp_path / "curves.png")
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"error: {tmp_path / 'curves.png'}: nothing to "
                                            "plot: none of the MMARs has validation points")
    assert not (tmp_path / "curves.png").exists()


def test_a_clara_tf1_checkpoint_is_named_in_the_status(tmp_path):
    import pytest

    pytest.importorskip("tensorflow")
    sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
    import tf1_artifacts

    clara = clone(tmp_path / "clara", 1e-4, None, eval_dice=0.5)
    tf1_artifacts.build(clara / "models", frozen=None)
    rows = rows_of(compare([clara]))
    assert rows[("results", "status")] == ["not trained here (Clara's TF1 checkpoint)"]
