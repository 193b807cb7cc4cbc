"""The light verbs never import TensorFlow: each runs in a fresh interpreter, and afterwards
"tensorflow" (and keras) must be absent from sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmarctl import commands

#: Runs the CLI in-process with the given argv, then reports what got imported.
PROBE = """
import json, sys
from mmarctl.cli import main
sys.argv = ["mmarctl", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code or 0
heavy = sorted(m for m in ("tensorflow", "keras", "horovod") if m in sys.modules)
print("PROBE", json.dumps({"code": code, "heavy": heavy}))
"""


def run_cli(args: list[str], cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    lines = [l for l in done.stdout.splitlines() if l.startswith("PROBE ")]
    assert lines, done.stdout + done.stderr
    return json.loads(lines[-1][len("PROBE "):])


def _has_command(name: str) -> bool:
    return (Path(commands.__file__).parent / f"{name}.py").is_file()


def _mmar_with_tf_byoc(root: Path) -> Path:
    config = root / "config"
    config.mkdir(parents=True)
    (config / "config_train.json").write_text(json.dumps({
        "epochs": 1, "learning_rate": 0.1,
        "train": {"model": {"name": "Unet", "args": {"num_classes": 2}},
                  "loss": {"path": "my_loss.MyLoss"},
                  "image_pipeline": {"name": "SegmentationImagePipeline"}},
        "validate": {"metrics": [], "image_pipeline": {"name": "SegmentationImagePipeline"}},
    }))
    (root / "custom").mkdir()
    # A BYOC module that imports TensorFlow: check must find it without importing it.
    (root / "custom" / "my_loss.py").write_text("import tensorflow\n\nclass MyLoss:\n    pass\n")
    return root


def test_help_does_not_import_tensorflow(tmp_path):
    result = run_cli(["--help"], tmp_path)
    assert result == {"code": 0, "heavy": []}


def test_check_does_not_import_tensorflow(tmp_path):
    mmar = _mmar_with_tf_byoc(tmp_path / "mmar")
    result = run_cli(["check", str(mmar)], tmp_path)
    assert result == {"code": 0, "heavy": []}


def test_schema_does_not_import_tensorflow(tmp_path):
    assert run_cli(["schema", "config_train"], tmp_path) == {"code": 0, "heavy": []}


@pytest.mark.skipif(not _has_command("init"), reason="no init command yet")
def test_init_does_not_import_tensorflow(tmp_path):
    result = run_cli(["init", str(tmp_path / "new")], tmp_path)
    assert result == {"code": 0, "heavy": []}


@pytest.mark.skipif(not _has_command("clone"), reason="no clone command yet")
def test_clone_does_not_import_tensorflow(tmp_path):
    result = run_cli(["clone", "spleen", str(tmp_path / "exp")], tmp_path)
    assert result == {"code": 0, "heavy": []}
