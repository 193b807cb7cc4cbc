"""Broken copies of the spleen scaffold, and running a verb on one as a user would.

Shared by the pre-flight agreement tests (train in test_preflight_agreement.py; validate,
infer and export in test_preflight_agreement_eval.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from mmarctl.cli import app

runner = CliRunner()

#: What the stand-in TensorFlow (and Keras) raise when imported: see :func:`without_tensorflow`.
NO_TENSORFLOW = "tensorflow must not be imported before the pre-flight"


def make_spleen(root: Path) -> Path:
    """The spleen scaffold at ``root`` with 4 tiny synthetic cases (3 training, 1 validation)."""
    assert runner.invoke(app, ["clone", "spleen", str(root)]).exit_code == 0
    done = runner.invoke(app, ["data", "synth", str(root / "data"), "--cases", "4",
                               "--size", "24"])
    assert done.exit_code == 0, done.output
    return root


@pytest.fixture(scope="module")
def spleen(tmp_path_factory) -> Path:
    """Fixture: the spleen scaffold with 4 tiny synthetic cases, made once per test module
    that imports it (tests that change it work on :func:`mmar`, a copy)."""
    return make_spleen(tmp_path_factory.mktemp("spleen") / "spleen")


@pytest.fixture
def mmar(spleen: Path, tmp_path: Path) -> Path:
    """Fixture: a copy of :func:`spleen` of the test's own."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    return root


def save_network(root: Path, prefix: Path) -> None:
    """A checkpoint of the network config_train.json describes, as train writes it."""
    from mmarctl.runtime.checkpoint import save_checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.workspace import Workspace

    resolved = Workspace(root).resolve("config_train.json", {})
    save_checkpoint(prefix, build_network(resolved, root, checkpoint_follows=True)[1])


#: One checkpoint of the spleen scaffold's network per test process (see with_checkpoint).
_CHECKPOINT: list[Path] = []


def with_checkpoint(root: Path) -> Path:
    """Give ``root`` (a copy of :func:`spleen`) a real checkpoint of its network, as train
    leaves one, so that validate, infer and export get past "no model here".

    Written once per test process, in a child process (TensorFlow stays out of this one),
    then copied."""
    if not _CHECKPOINT:
        folder = Path(tempfile.mkdtemp(prefix="mmarctl-test-ckpt-"))
        code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
                "from broken_mmars import save_network; "
                "save_network(Path(sys.argv[2]), Path(sys.argv[3]))")
        subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(root),
                        str(folder / "model.ckpt")], check=True, timeout=300,
                       capture_output=True)
        _CHECKPOINT.append(folder)
    models = root / "models"
    models.mkdir(exist_ok=True)
    for path in _CHECKPOINT[0].iterdir():
        shutil.copy2(path, models / path.name)
    return root


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to the JSON object in ``path``, in place."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def custom_code(root: Path, module: str, source: str) -> None:
    """Write BYOC module ``module`` (dotted) into the MMAR's custom/ folder."""
    path = root / "custom" / (module.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


def datalist_file(root: Path, key: str = "training", index: int = 0,
                  field: str = "image") -> Path:
    """The file that item ``index`` of list ``key`` of data/dataset_0.json names."""
    datalist = json.loads((root / "data" / "dataset_0.json").read_text())
    return root / "data" / datalist[key][index][field]


def rewrite_image(path: Path, affine=None, data=None) -> None:
    """Rewrite a NIfTI file with another affine (written into the header's sform) or voxels
    (``data(image)`` gives the new array)."""
    image = nib.load(str(path))
    array = image.get_fdata(dtype=np.float32) if data is None else data(image)
    header = image.header.copy()
    if affine is not None:
        # Written into the header fields directly: nibabel refuses to decompose such an
        # affine into a qform, which is the point of the tests.
        header["qform_code"], header["sform_code"] = 0, 1
        header["srow_x"], header["srow_y"], header["srow_z"] = affine[0], affine[1], affine[2]
    new = nib.Nifti1Image(array, None if affine is not None else image.affine, header)
    nib.save(new, str(path))


def nan_affine() -> np.ndarray:
    """An affine with a NaN entry."""
    affine = np.eye(4)
    affine[0, 0] = np.nan
    return affine


def singular_affine() -> np.ndarray:
    """An affine with no inverse (a zero voxel size)."""
    return np.diag([1.0, 1.0, 0.0, 1.0])


_COUNT_LINE = re.compile(r"\d+ problems? in \d+ files? checked(, .*)?")


def problem_lines(output: str) -> list[str]:
    """The problem lines of ``mmarctl check`` output (not OK, notes or the count)."""
    return [line for line in output.splitlines()
            if line and not line.startswith(("OK:", "note"))
            and not _COUNT_LINE.fullmatch(line) and ": note: " not in line]


def broken_copy(spleen: Path, tmp_path: Path, change: Callable[[Path], None]) -> Path:
    """A copy of the ``spleen`` MMAR under ``tmp_path`` with ``change`` applied to it."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    change(root)
    return root


def check_line(root: Path) -> str:
    """``mmarctl check``'s single problem line for ``root`` (asserts there is exactly one)."""
    check = runner.invoke(app, ["check", str(root)])
    assert check.exit_code == 1, check.output
    lines = problem_lines(check.output)
    assert len(lines) == 1, check.output  # one line per class
    return lines[0]


def without_tensorflow(folder: Path) -> dict[str, str]:
    """An environment whose ``tensorflow`` and ``keras`` raise ImportError when imported.

    A process run with it proves that what it printed came before any TensorFlow import.
    """
    for name in ("tensorflow", "keras"):
        package = folder / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f"raise ImportError({NO_TENSORFLOW!r})\n")
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def run_verb(verb: str, root: Path, *args: str, env: dict[str, str] | None = None,
             timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m mmarctl VERB ROOT ARGS`` in its own process, as a user runs it.

    (In-process, TensorFlow's logging would keep a handle on CliRunner's captured stderr
    after the invoke closed it.)
    """
    return subprocess.run([sys.executable, "-m", "mmarctl", verb, str(root), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def written(folder: Path) -> list[str]:
    """What a run left in ``folder`` (lock files, which start with a dot, aside)."""
    return sorted(p.name for p in folder.glob("*") if not p.name.startswith("."))
