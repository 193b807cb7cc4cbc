"""Shared fixtures: a minimal MMAR on disk and the path to ../shared when present."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
CLARA_COMPAT = SHARED / "compat" / "clara"

# Output the tests read is shaped as mmarctl shapes piped output, whoever runs them. mmarctl
# honours COLUMNS (rich also LINES) as the user's wish, and rich reads it when a console is
# made, at import: a shell that exports it, or the pytest-xdist workers (started with
# COLUMNS=80), would fold the tables and help text the tests read. Tests that want a width
# pass it themselves.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def pytest_collection_modifyitems(config, items):
    """``native_bfloat16`` tests hold mmarctl's bfloat16 layers to the rounding of oneDNN's
    native bfloat16 kernels; a CPU without them (AVX2 only) runs TensorFlow's emulation,
    which rounds more, and mmarctl never trains bfloat16 there (float32 with a line)."""
    from mmarctl.runtime.precision import bf16_cpu_flags

    if bf16_cpu_flags():
        return
    skip = pytest.mark.skip(reason="this CPU has neither avx512_bf16 nor amx_bf16: bfloat16 "
                                   "is emulated here, and mmarctl trains float32")
    for item in items:
        if "native_bfloat16" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def terminal_signals():
    """SIGINT and SIGHUP as a terminal session gives them, whatever started the suite.

    A background job of a non-interactive shell starts with SIGINT ignored, and nohup with
    SIGHUP ignored; mmarctl rightly keeps an ignored SIGHUP ignored, so the tests that
    send these signals (to themselves or to the verbs they start) would see nothing."""
    before = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
              signal.SIGHUP: signal.signal(signal.SIGHUP, signal.SIG_DFL)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.fixture
def clara_compat() -> Path:
    """The real Clara MMAR configs shipped beside the project (skips when absent)."""
    if not CLARA_COMPAT.is_dir():
        pytest.skip("../shared/compat/clara is not present")
    return CLARA_COMPAT


@pytest.fixture
def tiny_mmar(tmp_path: Path) -> Path:
    """A small MMAR folder with globals, an environment and one placeholder of each kind."""
    root = tmp_path / "mmar"
    write_json(root / "config" / "config_train.json", {
        "epochs": 10,
        "learning_rate": 1e-4,
        "train": {"model": {"name": "Unet", "args": {"num_classes": "{NUM_CLASSES}"}},
                  "loss": {"name": "Dice"},
                  "image_pipeline": {"name": "SegmentationImagePipeline",
                                     "args": {"data_list_file_path": "{DATASET_JSON}",
                                              "data_file_base_dir": "{DATA_ROOT}"}}},
        "validate": {"report": "{MMAR_EVAL_OUTPUT_PATH}/report_{epochs}.txt"},
    })
    write_json(root / "config" / "environment.json", {
        "DATA_ROOT": "data", "DATASET_JSON": "data/dataset_0.json",
        "MMAR_EVAL_OUTPUT_PATH": "eval", "MMAR_CKPT_DIR": "models", "NUM_CLASSES": 2,
        "PRETRAIN_WEIGHTS_FILE": "/var/tmp/weights.h5",
    })
    return root
