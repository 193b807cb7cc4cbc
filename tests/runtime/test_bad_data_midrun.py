"""Data that breaks mid-run (issue 12, part 4): the run stops with one line naming the case
and keeps the last good checkpoint, or skips the case when ``skip_bad_cases`` is true.
The same for validate and infer, whose cases are read one by one after the pre-flight."""

from __future__ import annotations

import json
import subprocess
import sys
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from tests.distributed.tiny_spleen import shrink_spleen

runner = CliRunner()


class _Run:
    """A finished `mmarctl train` process, read like a CliRunner result."""

    def __init__(self, done: subprocess.CompletedProcess) -> None:
        self.exit_code = done.returncode
        self.output = done.stdout + done.stderr


def _run(verb: str, *args: str) -> _Run:
    # In its own process, as a user runs it: a run stopped from inside tf.data leaves the
    # dataset's generator thread behind, which in-process would outlive CliRunner's streams.
    return _Run(subprocess.run([sys.executable, "-m", "mmarctl", verb, *map(str, args)],
                               capture_output=True, text=True, timeout=600))


def _train(*args: str) -> _Run:
    return _run("train", *args)

#: A BYOC handler that truncates one file after a given epoch, as a disk or copy failing
#: after `check` ran would.
BREAKER = '''
from pathlib import Path
from mmarctl.runtime.training.contract import Callback


class TruncateAfter(Callback):
    def __init__(self, file, epoch):
        self.file, self.epoch = Path(file), int(epoch)

    def on_epoch_end(self, state, logs):
        if state.epoch + 1 == self.epoch:
            data = self.file.read_bytes()
            self.file.write_bytes(data[: len(data) // 3])
'''


@pytest.fixture(scope="module")
def spleen(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("baddata") / "spleen"
    assert runner.invoke(app, ["clone", "spleen", str(root)]).exit_code == 0
    done = runner.invoke(app, ["data", "synth", str(root / "data"), "--cases", "4",
                               "--size", "24"])
    assert done.exit_code == 0, done.output
    return shrink_spleen(root)  # 16^3 crops: the bad files are under test, not training


@pytest.fixture
def mmar(spleen, tmp_path, monkeypatch) -> Path:
    """A copy without any caching, so every epoch reads every file again."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    monkeypatch.setenv("MMARCTL_CACHE_BYTES", "0")
    _edit(root, lambda c: c["train"]["image_pipeline"].update(name="SegmentationImagePipeline"))
    _edit(root, lambda c: c["train"]["image_pipeline"]["args"].pop("num_cache_objects"))
    _edit(root, lambda c: c["train"]["image_pipeline"]["args"].pop("replace_percent"))
    _edit(root, lambda c: c.update(num_training_epoch_per_valid=1))
    return root


def _edit(root: Path, change) -> None:
    path = root / "config" / "config_train.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def _training_file(root: Path, index: int, field: str) -> Path:
    datalist = json.loads((root / "data" / "dataset_0.json").read_text())
    return root / "data" / datalist["training"][index][field]


def _rewrite(path: Path, change) -> None:
    image = nib.load(str(path))
    data = image.get_fdata(dtype=np.float32)
    change(data)
    header = image.header.copy()
    header.set_data_dtype(np.float32)  # the synthetic CT is int16, which has no NaN
    nib.save(nib.Nifti1Image(data, image.affine, header), str(path))


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_an_image_truncated_on_the_third_epoch_stops_the_run_keeping_the_checkpoint(mmar):
    victim = _training_file(mmar, 2, "image")
    (mmar / "custom").mkdir(exist_ok=True)
    (mmar / "custom" / "breaker.py").write_text(BREAKER)
    _edit(mmar, lambda c: c["train"].update(handlers=[
        {"path": "breaker.TruncateAfter", "args": {"file": str(victim), "epoch": 2}}]))
    assert runner.invoke(app, ["check", str(mmar)]).exit_code == 0

    result = _train(str(mmar), "--epochs", "3", "--seed", "1")

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = _error_lines(result.output)
    assert str(victim) in line and "epoch 3" in line and "cannot read NIfTI image" in line
    assert "models/model.ckpt is intact" in line
    models = mmar / "models"
    history = (models / "metrics_history.jsonl").read_text().splitlines()
    assert [json.loads(h)["epoch"] for h in history] == [1, 2]  # nothing of epoch 3
    assert not list(models.glob("*.tmp-*")) and not (models / "resume").exists()

    from mmarctl.runtime import checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.workspace import Workspace

    state = checkpoint.read_state(models / "model.ckpt")
    assert state["epoch"] in (0, 1)  # saved after epoch 1 or 2
    resolved = Workspace(mmar).resolve("config_train.json", {})
    _, model = build_network(resolved, mmar)
    checkpoint.restore_model(models / "model.ckpt", model)  # loads


@pytest.mark.slow
def test_nan_voxels_stop_the_run_naming_the_case(mmar):
    victim = _training_file(mmar, 1, "image")
    _rewrite(victim, lambda a: a.__setitem__((0, 0, 0), np.nan))
    # The datalist entry is fine and the header too: check cannot see voxels.
    assert runner.invoke(app, ["check", str(mmar)]).exit_code == 0

    result = _train(str(mmar), "--epochs", "1", "--seed", "1")

    assert result.exit_code == 1, result.output
    [line] = _error_lines(result.output)
    assert str(victim) in line and "1 NaN or infinite voxel(s)" in line, line
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_skip_bad_cases_skips_and_counts_them(mmar):
    nan_image = _training_file(mmar, 1, "image")
    _rewrite(nan_image, lambda a: a.__setitem__((0, 0, 0), np.inf))
    bad_label = _training_file(mmar, 2, "label")
    _rewrite(bad_label, lambda a: a.__setitem__((slice(0, 4),) * 3, 7))
    _edit(mmar, lambda c: c.update(skip_bad_cases=True))
    assert runner.invoke(app, ["check", str(mmar)]).exit_code == 0

    result = _train(str(mmar), "--epochs", "2", "--seed", "1")

    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if "skipping a bad case" in line]
    assert len(skipped) == 2, result.output  # one line per case, not one per epoch
    assert any(str(nan_image) in line for line in skipped)
    assert any(bad_label.name in line and "outside 0..1" in line for line in skipped)
    assert "skipped 2 unusable case(s)" in result.output
    assert (mmar / "models" / "model.ckpt.index").exists()


def test_skip_bad_cases_must_be_a_boolean(mmar):
    _edit(mmar, lambda c: c.update(skip_bad_cases="sometimes"))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert "skip_bad_cases" in result.output


# -- validate and infer ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(spleen, tmp_path_factory) -> Path:
    """The spleen MMAR trained one epoch, with 3 validation cases (2 of them training's)."""
    root = tmp_path_factory.mktemp("baddata_eval") / "mmar"
    shutil.copytree(spleen, root)
    done = _train(str(root), "--epochs", "1", "--seed", "1")
    assert done.exit_code == 0, done.output
    path = root / "data" / "dataset_0.json"
    datalist = json.loads(path.read_text())
    datalist["validation"] = datalist["training"][:2] + datalist["validation"]
    path.write_text(json.dumps(datalist))
    return root


@pytest.fixture
def evaluated(trained, tmp_path) -> Path:
    root = tmp_path / "mmar"
    shutil.copytree(trained, root)
    return root


def _validation_file(root: Path, index: int) -> Path:
    datalist = json.loads((root / "data" / "dataset_0.json").read_text())
    return root / "data" / datalist["validation"][index]["image"]


def _truncate(path: Path) -> None:
    """Cut a .nii.gz short: its header still reads (check passes), its voxels do not."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _skip_bad_cases(root: Path) -> None:
    path = root / "config" / "config_validation.json"
    config = json.loads(path.read_text())
    config["skip_bad_cases"] = True
    path.write_text(json.dumps(config))


@pytest.mark.slow
def test_nan_voxels_stop_validate_naming_the_case(evaluated):
    victim = _validation_file(evaluated, 1)
    _rewrite(victim, lambda a: a.__setitem__((0, 0, 0), np.nan))
    assert runner.invoke(app, ["check", str(evaluated)]).exit_code == 0  # voxels unseen

    result = _run("validate", evaluated)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = _error_lines(result.output)
    assert str(victim) in line and "1 NaN or infinite voxel(s)" in line, line
    assert not (evaluated / "eval" / "metrics.json").exists()


@pytest.mark.slow
def test_a_case_truncated_after_check_stops_infer_naming_the_case(evaluated):
    victim = _validation_file(evaluated, 0)
    _truncate(victim)
    assert runner.invoke(app, ["check", str(evaluated)]).exit_code == 0  # header still reads

    result = _run("infer", evaluated)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = _error_lines(result.output)
    assert str(victim) in line and "cannot read NIfTI image" in line, line
    assert '"skip_bad_cases": true' in line  # says how to go on without it


@pytest.mark.slow
def test_skip_bad_cases_in_validate_and_infer_skips_and_counts_them(evaluated):
    nan_image, truncated = _validation_file(evaluated, 0), _validation_file(evaluated, 1)
    good = _validation_file(evaluated, 2)
    _rewrite(nan_image, lambda a: a.__setitem__((1, 1, 1), np.inf))
    _truncate(truncated)
    _skip_bad_cases(evaluated)
    assert runner.invoke(app, ["check", str(evaluated)]).exit_code == 0

    validated = _run("validate", evaluated)

    assert validated.exit_code == 0, validated.output
    skipped = [line for line in validated.output.splitlines() if "skipping a bad case" in line]
    assert len(skipped) == 2, validated.output  # one warning line per case
    assert any(str(nan_image) in line for line in skipped)
    assert any(str(truncated) in line and "cannot read" in line for line in skipped)
    assert "validated 1 case (2 skipped" in validated.output
    metrics = json.loads((evaluated / "eval" / "metrics.json").read_text())
    assert [row["case"] for row in metrics["per_case"]] == [str(good)]
    assert sorted(item["case"] for item in metrics["skipped"]) == sorted(
        [str(nan_image), str(truncated)])

    inferred = _run("infer", evaluated)

    assert inferred.exit_code == 0, inferred.output
    assert sum("skipping a bad case" in line for line in inferred.output.splitlines()) == 2
    assert "inferred 1 case (2 skipped" in inferred.output
    outputs = [p.name for p in (evaluated / "eval").rglob("*_model.nii.gz")]
    assert outputs == [good.name.replace(".nii.gz", "_model.nii.gz")], outputs
