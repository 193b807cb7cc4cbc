"""benchmarks/prelu_kernel.py end to end at a small patch on a 2-level UNet (its figures are
not checked)."""

from __future__ import annotations

import re

import pytest

from tests import benchmark_scripts

pytest.importorskip("tensorflow")

@pytest.fixture(scope="module")
def bench():
    return benchmark_scripts.load("prelu_kernel")


@pytest.mark.slow
def test_prints_the_three_steps_and_the_activation_alone(bench, capsys):
    from mmarctl.runtime.kernels import build

    if build.compiler() is None:
        pytest.skip("no C++ compiler")
    try:
        assert bench.main(["--patch", "16", "--rounds", "2", "--steps", "1", "--levels", "2"]) == 0
    finally:
        import keras
        keras.mixed_precision.set_global_policy("float32")
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (Keras PReLU \(baseline\)|mmarctl PReLU kernel|ReLU \(floor\)) "
                      r"\| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \|$", out, re.M)
    assert [row[0] for row in rows] == ["Keras PReLU (baseline)", "mmarctl PReLU kernel",
                                        "ReLU (floor)"]
    assert rows[0][3] == "1.00" and all(float(best) > 0 for _, best, _, _ in rows)
    alone = re.findall(r"^\| (forward|forward and backward) \| ([\d.]+) \| ([\d.]+) \| "
                       r"[\d.]+x \|$", out, re.M)
    assert [row[0] for row in alone] == ["forward", "forward and backward"]
    assert "2x8x8x8x16" in out and "UNet cut to 2 levels" in out
