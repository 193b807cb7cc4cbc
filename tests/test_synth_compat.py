"""Real Clara MMARs (../shared/compat/clara, skipped when absent) pass `mmarctl check` on the
data `mmarctl data synth` makes for them, cloned and pointed at it as a user would.

BraTS (``ddayzzz clara_seg_ct_brats``) reads it as written. vertebra2d reads its ``.npy``
files through a BYOC loader (``CustomTransformations.py``) that is not in the corpus: check
names exactly those components, and passes once a loader of mmarctl's transform contract
is put in ``custom/``. Training them takes minutes on a CPU (128^3 crops, 384^2 slices),
so it is left to the manual run described in docs/workspaces.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmarctl.cli import app

runner = CliRunner()

BRATS = "ddayzzz__clara_demo__clara_seg_ct_brats"
VERTEBRA = "trainingdata__nvidiaclara__vertebra2d"

#: A port of vertebra2d's NumpyLoader/NumpyTransformation to mmarctl's transforms: what a
#: user puts in custom/ (the original imports Clara's closed ai4med package).
NUMPY_PORT = '''
import numpy as np

from mmarctl.runtime.transforms.base import Transform, as_fields


class NumpyLoader(Transform):
    def __init__(self, fields, shape, dtype="f4"):
        self.fields = as_fields(fields, component="NumpyLoader")
        self.dtype = np.dtype(dtype)
        super().__init__(fields=fields, shape=shape, dtype=dtype)

    def __call__(self, sample, rng):
        for field in self.fields:
            sample[field] = np.load(sample[field]).astype(self.dtype)
        return sample


class NumpyTransformation(Transform):
    def __init__(self, fields, dtype="f4"):
        self.fields = as_fields(fields, component="NumpyTransformation")
        super().__init__(fields=fields, dtype=dtype)

    def __call__(self, sample, rng):
        for field in self.fields:
            sample[field] = np.clip(sample[field] / 255, 0, 1).astype(np.float32)
        return sample
'''


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def cloned(source: Path, dest: Path) -> Path:
    """Clone ``source`` and point its environment at ``dest/data`` (the originals name
    /workspace and /data/training paths), checkpoints and eval inside the clone."""
    result = invoke("clone", source, dest)
    assert result.exit_code == 0, result.output
    env_path = dest / "config" / "environment.json"
    env = json.loads(env_path.read_text())
    env.update(DATA_ROOT="data", DATASET_JSON="data/dataset_0.json", MMAR_CKPT_DIR="models",
               MMAR_EVAL_OUTPUT_PATH="eval")
    if "DATASET_VAL_JSON" in env:
        env["DATASET_VAL_JSON"] = "data/dataset_0.json"
    env_path.write_text(json.dumps(env, indent=4))
    return dest


def test_brats_mmar_checks_on_synthetic_brats(clara_compat, tmp_path):
    mmar = cloned(clara_compat / BRATS, tmp_path / "brats")
    result = invoke("data", "synth", mmar, "--kind", "brats", "--cases", "3", "--size", "32")
    assert result.exit_code == 0, result.output
    item = json.loads((mmar / "data" / "dataset_0.json").read_text())["training"][0]
    assert len(item["image"]) == 4  # output_image_channels: 4
    result = invoke("check", mmar)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_brats_mmar_check_finds_a_one_channel_set(clara_compat, tmp_path):
    # The same MMAR on the spleen kind: one channel where the pipeline wants four. check
    # must not pass it (so the synthetic BraTS set above is what makes it pass).
    mmar = cloned(clara_compat / BRATS, tmp_path / "brats")
    assert invoke("data", "synth", mmar, "--cases", "2", "--size", "16").exit_code == 0
    result = invoke("check", mmar)
    assert result.exit_code == 1, result.output
    assert "channel count other than output_image_channels=4" in result.output


def test_vertebra2d_needs_its_byoc_loader_then_checks(clara_compat, tmp_path):
    mmar = cloned(clara_compat / VERTEBRA, tmp_path / "vertebra2d")
    result = invoke("data", "synth", mmar, "--kind", "spine2d", "--format", "npy",
                    "--label-value", "255", "--cases", "4", "--size", "64")
    assert result.exit_code == 0, result.output
    result = invoke("check", mmar)
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if "cannot find module" in line]
    assert [line.split(": ")[1] for line in problems] == [
        "train.pre_transforms[0].path", "train.pre_transforms[1].path",
        "validate.pre_transforms[0].path", "validate.pre_transforms[1].path"]
    assert all("CustomTransformations" in line for line in problems)
    assert "4 problems in" in result.output
    (mmar / "custom").mkdir()
    (mmar / "custom" / "CustomTransformations.py").write_text(NUMPY_PORT)
    result = invoke("check", mmar)
    assert result.exit_code == 0, result.output
