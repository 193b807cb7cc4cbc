"""Seeds outside 0 .. 2**32 - 1 (what NumPy and TensorFlow take) are refused before any
work: on the command line as a usage error, in config_train.json by `check` and by `train`'s
pre-flight with the file and JSON path, never with NumPy's ValueError traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.cli import app  # noqa: E402

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("verb", ["train", "finetune", "automl"])
@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_seed_option_out_of_range_is_a_usage_error(tmp_path: Path, verb, seed):
    root = make_mmar(tmp_path / "m")
    result = invoke(verb, root, "--seed", seed, "--epochs" if verb != "automl" else "--set",
                    "1" if verb != "automl" else "epochs=1")
    assert result.exit_code == 2, result.output
    assert "error: --seed must be in 0..4294967295" in result.output
    assert "Traceback" not in result.output
    assert not (root / "models").exists()


@pytest.mark.parametrize("value, message", [
    (-5, "must be >= 0, got integer -5"),
    (2**40, f"must be <= {2**32 - 1}, got integer {2**40}"),
    ("-5", f"random_seed must be between 0 and {2**32 - 1}; Received: random_seed='-5'"),
    (str(2**40), f"random_seed must be between 0 and {2**32 - 1}"),
])
def test_config_seed_out_of_range_is_refused_by_check_and_train(tmp_path: Path, value, message):
    root = make_mmar(tmp_path / "m",
                     config=train_config(determinism={"random_seed": value}))
    line = f"config/config_train.json: determinism.random_seed: {message}"

    checked = invoke("check", root)
    assert checked.exit_code == 1 and line in checked.output, checked.output

    trained = invoke("train", root, "--epochs", "1")
    assert trained.exit_code == 1, trained.output
    assert trained.output.startswith(f"error: {line}") and "Traceback" not in trained.output
    assert not (root / "models").exists()


@pytest.mark.parametrize("value", [0, 2**32 - 1, "7"])
def test_seeds_in_range_pass_check(tmp_path: Path, value):
    root = make_mmar(tmp_path / "m", config=train_config(determinism={"random_seed": value}))
    checked = invoke("check", root)
    assert "determinism" not in checked.output, checked.output


def test_data_synth_negative_seed_is_a_usage_error(tmp_path: Path):
    dest = tmp_path / "d"
    result = invoke("data", "synth", dest, "--seed", "-1", "--cases", "2", "--size", "16")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: --seed must be 0 or more; Received: seed=-1"
    assert not dest.exists() and list(tmp_path.iterdir()) == []
