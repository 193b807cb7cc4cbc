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
heavy = sorted(m for m in ("tensorflow", "keras", "horovod", "mlflow", "matplotlib")
               if m in sys.modules)
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


#: The pipeline arguments of that MMAR (paths relative to the MMAR root).
PIPELINE = {"data_list_file_path": "dataset.json", "data_file_base_dir": ".",
            "data_list_key": "training"}


def _mmar_with_tf_byoc(root: Path) -> Path:
    config = root / "config"
    config.mkdir(parents=True)
    (config / "config_train.json").write_text(json.dumps({
        "epochs": 1, "learning_rate": 0.1,
        "train": {"model": {"name": "Unet", "args": {"num_classes": 2}},
                  "loss": {"path": "my_loss.MyLoss"},
                  "image_pipeline": {"name": "SegmentationImagePipeline", "args": PIPELINE}},
        "validate": {"metrics": [], "image_pipeline": {"name": "SegmentationImagePipeline",
                                                       "args": PIPELINE}},
    }))
    # check builds the pipelines' constructors, which need a datalist (no loader: no headers).
    (root / "dataset.json").write_text(json.dumps({"training": [{"image": "img.nii.gz"}]}))
    (root / "img.nii.gz").write_bytes(b"")
    (root / "custom").mkdir()
    # A BYOC module that imports TensorFlow: check must find it without importing it.
    (root / "custom" / "my_loss.py").write_text(
        "import tensorflow\n\nclass MyLoss:\n    def __call__(self, y_true, y_pred):\n"
        "        return tensorflow.reduce_mean(y_pred)\n")
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


def test_help_of_tracked_verbs_imports_neither_tensorflow_nor_mlflow(tmp_path):
    for verb in ("train", "finetune", "validate", "automl"):
        result = run_cli([verb, "--help"], tmp_path)
        assert result == {"code": 0, "heavy": []}, verb


def test_a_bad_tracking_uri_is_refused_before_tensorflow_or_mlflow(tmp_path):
    mmar = _mmar_with_tf_byoc(tmp_path / "mmar")
    result = run_cli(["train", str(mmar), "--tracking-uri", "htp://x"], tmp_path)
    assert result == {"code": 2, "heavy": []}


def test_report_modules_and_picture_verbs_start_without_matplotlib(tmp_path):
    # matplotlib is imported only when a picture is drawn, TensorFlow never.
    code = ("import sys, mmarctl.report.overlays, mmarctl.report.html, "
            "mmarctl.report.collector; print(sorted(m for m in ('matplotlib', 'tensorflow') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
    for verb in ("validate", "infer"):
        assert run_cli([verb, "--help"], tmp_path) == {"code": 0, "heavy": []}, verb


def _trained_mmar(root: Path) -> Path:
    """An MMAR whose models/ holds the history a run leaves (no training here)."""
    _mmar_with_tf_byoc(root)
    record = {"epoch": 1, "phase": "train", "loss": 0.5, "learning_rate": 0.1,
              "metrics": {"mean_dice": 0.7}, "key_metric": "mean_dice", "best_metric": 0.7,
              "best_epoch": 1, "seconds": 3.0}
    (root / "models").mkdir()
    (root / "models" / "metrics_history.jsonl").write_text(json.dumps(record) + "\n")
    return root


def test_compare_imports_neither_tensorflow_nor_matplotlib(tmp_path):
    mmar = _trained_mmar(tmp_path / "mmar")
    assert run_cli(["compare", str(mmar), str(mmar)], tmp_path) == {"code": 0, "heavy": []}


def test_compare_plot_imports_matplotlib_only(tmp_path):
    mmar = _trained_mmar(tmp_path / "mmar")
    result = run_cli(["compare", str(mmar), "--plot", str(tmp_path / "c.png")], tmp_path)
    assert result == {"code": 0, "heavy": ["matplotlib"]}
    assert (tmp_path / "c.png").is_file()
