"""benchmarks/training_throughput.py's roofline rows: the matmul limit is timed in a process of
its own (never inside a training process), and a share over 100 % is flagged, not printed as a
figure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import benchmark_scripts


@pytest.fixture(scope="module")
def bench():
    return benchmark_scripts.load("training_throughput")


def _result(precision, compute, step, limit=None):
    r = {"precision": precision, "compute": compute, "computed_step_gflops": step}
    if limit is not None:
        r["matmul_gflops"] = limit
    return r


def test_a_share_over_the_limit_says_the_limit_is_suspect(bench):
    # The tester's run: a 1.0 GFLOP/s float32 "limit" gave a share of 2263 %.
    cells, warnings = bench.share_cells([_result("float32", "float32", 22.63, 1.0),
                                         _result("bfloat16", "bfloat16", 31.9, 61.3)])
    assert cells == ["2263%?", "52%"]
    assert warnings == ["float32: the step's 22.6 GFLOP/s is over the measured matmul limit "
                        "(1.0 GFLOP/s): the limit is suspect (a loaded machine, or --matmul too "
                        "small); time it alone with benchmarks/roofline.py"]
    cells, warnings = bench.share_cells([_result("float32", "float32", 5.0, 0.0)])
    assert cells == ["?"] and len(warnings) == 1


def test_the_limit_is_timed_in_one_fresh_process_float32_first(bench, monkeypatch):
    seen = []

    def run_child(command, what, **kwargs):
        seen.append((command, what))
        return {"float32": {"gflops": 112.0, "source": "numpy float32"},
                "bfloat16": {"gflops": 61.3, "source": "tf bfloat16"}}

    monkeypatch.setattr(bench, "run_child", run_child)
    results = [_result("bfloat16", "bfloat16", 30.0), _result("float32", "float32", 20.0),
               _result("float16", "bfloat16", 30.0)]
    bench.matmul_limits(results, 256)
    ((command, what),) = seen
    assert command[1].endswith("roofline.py") and what == "matmul limit"
    assert command[2:] == ["--n", "256", "--dtypes", "float32,bfloat16", "--result"]
    assert [r["matmul_gflops"] for r in results] == [61.3, 112.0, 61.3]
    assert results[1]["matmul_source"] == "numpy float32"


def test_roofline_child_prints_its_rates(tmp_path):
    pytest.importorskip("tensorflow")
    done = subprocess.run([sys.executable, str(benchmark_scripts.BENCHMARKS / "roofline.py"),
                           "--n", "64", "--dtypes", "float32", "--result"],
                          capture_output=True, text=True, timeout=120, check=True)
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    rates = json.loads(line[len("RESULT "):])
    assert set(rates) == {"float32"} and rates["float32"]["gflops"] > 0


def test_small_products_are_timed_many_times_and_the_best_kept():
    roofline = benchmark_scripts.load("roofline")
    calls = []
    best = roofline._best_seconds(lambda: calls.append(1), repeats=3, min_total_s=0.005)
    # a no-op "product" is far under 5 ms: far more than 3 calls fit, the best is one call's
    assert len(calls) > 3 * 10 and best < 0.001
