"""The MONAI benchmark suite's own machinery: figures, verdicts, table, CLI and workers.

These need neither MONAI nor TensorFlow (the rows themselves are exercised by
tests/test_monai_parity.py where MONAI is installed).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.monai import harness  # noqa: E402
from benchmarks.monai.__main__ import config_from, parse  # noqa: E402
from benchmarks.monai.harness import CHECK, COST, RATE, Figure  # noqa: E402


@pytest.mark.parametrize("kind,ours,theirs,advantage,verdict", [
    (RATE, 30.0, 10.0, 3.0, "ahead"),
    (RATE, 5.0, 10.0, 0.5, "behind"),
    (COST, 5.0, 10.0, 2.0, "ahead"),   # half the seconds: twice as fast
    (COST, 20.0, 10.0, 0.5, "behind"),
    (RATE, 10.0, 10.0, 1.0, "ahead"),  # a tie counts as "at or ahead"
    (RATE, None, 10.0, None, "n/a"),   # a half that could not run
    (COST, 5.0, None, None, "n/a"),
])
def test_advantage_is_at_least_one_when_mmarctl_is_ahead(kind, ours, theirs, advantage,
                                                          verdict):
    figure = Figure("r", "f", "u", kind, ours, theirs)
    assert figure.advantage() == (None if advantage is None else pytest.approx(advantage))
    assert figure.verdict() == verdict


def test_zero_monai_rate_is_infinite_advantage():
    assert Figure("r", "f", "u", RATE, 1.0, 0.0).advantage() == math.inf


@pytest.mark.parametrize("difference,verdict", [(0.0, "pass"), (1e-6, "pass"),
                                                (2e-6, "FAIL"), (math.inf, "FAIL"),
                                                (None, "n/a")])
def test_check_figures_pass_within_tolerance(difference, verdict):
    figure = Figure("r", "f", "", CHECK, difference, tolerance=1e-6)
    assert figure.verdict() == verdict
    assert figure.advantage() is None


def test_table_has_one_line_per_figure_and_markdown_columns():
    figures = [Figure("2 window", "volumes/s", "volumes/s", RATE, 2.0, 1.0, note="n"),
               Figure("1 Dice", "max diff", "", CHECK, 1e-9, tolerance=1e-6)]
    lines = harness.table(figures).splitlines()
    assert len(lines) == 4
    assert all(line.count("|") == 9 for line in lines)
    assert "| 2.00x | ahead |" in lines[2]
    assert "diff 1.00e-09" in lines[3] and "tol 1.00e-06" in lines[3] and "pass" in lines[3]


def test_json_carries_machine_figures_and_verdicts():
    data = json.loads(harness.to_json([Figure("r", "f", "s", COST, 2.0, 4.0)],
                                      {"cpu": "x", "cores": 2}))
    assert data["machine"] == {"cpu": "x", "cores": 2}
    assert data["figures"][0]["advantage"] == 2.0
    assert data["figures"][0]["verdict"] == "ahead"


def test_best_of_interleaves_and_keeps_each_minimum():
    calls: list[str] = []
    readings = {"a": iter([3.0, 1.0, 2.0]), "b": iter([5.0, 6.0, 4.0])}

    def reader(name: str):
        def run() -> float:
            calls.append(name)
            return next(readings[name])
        return run

    best = harness.best_of(3, a=reader("a"), b=reader("b"))
    assert best == {"a": 1.0, "b": 4.0}
    assert calls == ["a", "b"] * 3


def test_peak_rss_is_at_least_current_rss():
    assert harness.peak_rss_mib() >= harness.rss_now_mib() * 0.99 > 0


def test_machine_names_cpu_and_cores():
    info = harness.machine()
    assert info["cores"] >= 1 and isinstance(info["cpu"], str)


def test_worker_refuses_an_unknown_task():
    with pytest.raises(RuntimeError, match="exited 2"):
        harness.run_isolated("benchmarks.monai.worker", {"task": "os:system"})


def test_private_peak_sampler_sees_a_transient_allocation():
    import numpy as np

    before = harness.private_rss_mib()
    with harness.PrivatePeakSampler() as sampler:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        import time
        time.sleep(0.05)
        del block
    assert sampler.peak >= before + 48
    assert harness.private_rss_mib() < sampler.peak  # the block was freed again


def test_isolated_pair_keeps_the_fastest_run_and_the_largest_peaks(monkeypatch):
    results = iter([{"seconds": 2.0, "peak_rss_mib": 100.0, "peak_private_mib": 50.0},
                    {"seconds": 1.0, "peak_rss_mib": 90.0, "peak_private_mib": 40.0},
                    {"seconds": 1.0, "peak_rss_mib": 120.0, "peak_private_mib": 45.0, "n": 2},
                    {"seconds": 3.0, "peak_rss_mib": 95.0, "peak_private_mib": 60.0}])
    monkeypatch.setattr(harness, "run_isolated", lambda module, args: next(results))
    best = harness.isolated_pair("row_x", {}, rounds=2)
    assert best["mmarctl"] == {"seconds": 1.0, "peak_rss_mib": 120.0,
                               "peak_private_mib": 50.0, "n": 2}
    assert best["monai"] == {"seconds": 1.0, "peak_rss_mib": 95.0, "peak_private_mib": 60.0}


def test_run_isolated_reports_a_child_without_json():
    with pytest.raises(RuntimeError, match="exited"):
        harness.run_isolated("benchmarks.monai.no_such_module", {})


def test_cli_rejects_unknown_rows(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(["--rows", "1,9"])
    assert exit_info.value.code == 2
    assert "unknown row(s) 9" in capsys.readouterr().err


def test_quick_config_shrinks_every_row(tmp_path):
    full = config_from(parse([]), tmp_path)
    quick = config_from(parse(["--quick"]), tmp_path)
    assert quick["repeats"] == 1 < full["repeats"]
    assert quick["quality_budget_s"] < full["quality_budget_s"]
    assert quick["workspace"] == quick["quality_workspace"] == tmp_path / "spleen"


@pytest.mark.parametrize("ours,theirs,bounds,verdict,shown", [
    (100.0, 150.0, {"monai_at_least": True}, "ahead", ">1.50x"),
    (200.0, 150.0, {"monai_at_least": True}, "n/a", ">0.75x"),   # the bound proves nothing
    (150.0, 100.0, {"mmarctl_at_least": True}, "behind", "<0.67x"),
    (150.0, 150.0, {"mmarctl_at_least": True, "monai_at_least": True}, "n/a", ">1.00x"),
])
def test_capped_runs_give_bounds_not_verdicts(ours, theirs, bounds, verdict, shown):
    figure = Figure("5 tq", "seconds", "s", COST, ours, theirs, extra=bounds)
    assert figure.verdict() == verdict
    assert f"| {shown} | {verdict} |" in harness.table([figure])


def test_isolated_pair_passes_per_tool_arguments(monkeypatch):
    seen = []

    def fake(module, args):
        seen.append(args)
        return {"seconds": 1.0, "peak_rss_mib": 1.0, "peak_private_mib": 1.0}

    monkeypatch.setattr(harness, "run_isolated", fake)
    harness.isolated_pair("row_x", {"batch": 2}, per_tool={"monai": {"net": "replica"}})
    assert seen == [{"batch": 2, "task": "row_x:speed_mmarctl"},
                    {"batch": 2, "net": "replica", "task": "row_x:speed_monai"}]



@pytest.mark.skipif(__import__("importlib.util").util.find_spec("tensorboard") is None,
                    reason="needs TensorBoard (what pulls TensorFlow into a MONAI process)")
def test_monai_worker_keeps_tensorflow_out():
    """MONAI imports torch.utils.tensorboard, whose tensorboard.compat imports TensorFlow when
    it is installed; the MONAI half of a figure must not carry TensorFlow's memory."""
    code = ("import sys\n"
            "from benchmarks.monai import worker\n"
            "worker.keep_tensorflow_out()\n"
            "from tensorboard import compat\n"
            "compat.tf.io.gfile\n"  # what torch.utils.tensorboard reads at import
            "assert 'tensorboard.compat.tensorflow_stub' in sys.modules\n"
            "assert 'tensorflow' not in sys.modules\n")
    assert_runs_in_fresh_python(code, timeout=120)


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("monai") is None,
                    reason="needs MONAI")
def test_monai_worker_imports_monai_as_its_own_venv_would():
    """Neither TensorFlow nor the packages that are here only for mmarctl come with MONAI,
    and they can still be imported afterwards."""
    code = ("import importlib.util, sys\n"
            "from benchmarks.monai import worker\n"
            "worker.monai_alone()\n"
            "import monai.losses, monai.networks.nets\n"
            "assert 'tensorflow' not in sys.modules\n"
            "loaded = [n for n in worker.NOT_MONAIS if n in sys.modules]\n"
            "assert not loaded, loaded\n"
            "for name in worker.NOT_MONAIS:\n"
            "    if importlib.util.find_spec(name) is not None:\n"
            "        __import__(name)\n")
    assert_runs_in_fresh_python(code, timeout=300)


def assert_runs_in_fresh_python(code: str, timeout: float) -> None:
    """``code`` exits 0 in a new interpreter at the repository root (imports start empty)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=root, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
