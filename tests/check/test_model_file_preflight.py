"""Model files a verb would refuse are problems in ``check`` and in the pre-flight of the verb
that reads them (before TensorFlow): a frozen graph that is not a GraphDef used to be only a
note in check, and validate/infer/export found it after TensorFlow had started."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from broken_mmars import edit_json, problem_lines, runner
from broken_mmars import spleen, with_checkpoint  # noqa: F401 - fixtures

from mmarctl.check.preflight import evaluation_problems, model_file_problems
from mmarctl.cli import app
from mmarctl.model_files import scan_model
from mmarctl.workspace import Workspace

GARBAGE = b"\x0a\xff\xff\xff\x0f not a graph" * 4
FZN_LINE = ("models/model.fzn.pb: corrupt: not a TensorFlow GraphDef (length-delimited field "
            "runs past the end) (copy model.fzn.pb again from where it came from (`mmarctl "
            "export` re-makes it only from a checkpoint, and none is beside it))")


@pytest.fixture
def mmar(spleen, tmp_path) -> Path:
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "model.fzn.pb").write_bytes(GARBAGE)
    return root


def _lines(root: Path) -> list[str]:
    return problem_lines(runner.invoke(app, ["check", str(root)]).output)


def test_a_damaged_frozen_graph_is_a_problem_in_check(mmar):
    assert _lines(mmar) == [FZN_LINE]
    (mmar / "models" / "model.ckpt.index").write_bytes(b"")  # a checkpoint beside it
    assert any(line.startswith("models/model.fzn.pb: ") and line.endswith(
        "(re-export it with `mmarctl export --format fzn`)") for line in _lines(mmar))


def test_validate_reads_it_with_model_fzn_or_a_frozen_graph_loader(mmar):
    workspace = Workspace(mmar)
    scope = dict(config="config_validation.json", train_config="config_train.json")
    with_checkpoint(mmar)
    assert evaluation_problems(workspace, {}, **scope) == []  # the checkpoint
    # With a checkpoint beside it, the damaged graph's hint is to export it again.
    fzn_line = FZN_LINE.split(" (copy")[0] + " (re-export it with `mmarctl export --format fzn`)"
    (problem,) = evaluation_problems(workspace, {}, model="fzn", **scope)
    assert f"{problem.file}: {problem.message}" == fzn_line
    edit_json(mmar / "config" / "config_validation.json", lambda c: c.update(model_loader={
        "name": "FrozenGraphModelLoader",
        "args": {"model_file_path": "{MMAR_CKPT_DIR}/model.trt.pb"}}))
    # Clara's configs name model.trt.pb; missing, the loader reads model.fzn.pb beside it.
    (problem,) = evaluation_problems(workspace, {}, **scope)
    assert f"{problem.file}: {problem.message}" == fzn_line


def test_export_reads_the_graph_it_is_given(mmar):
    source = mmar / "models" / "model.fzn.pb"
    (problem,) = model_file_problems(Workspace(mmar), {}, source, config="config_train.json")
    assert f"{problem.file}: {problem.message}" == FZN_LINE


def test_scan_model_describes_the_one_artifact_at_a_path(tmp_path):
    assert scan_model(tmp_path / "model.ckpt") is None
    (tmp_path / "model.ckpt.meta").write_bytes(b"")
    item = scan_model(tmp_path / "model.ckpt")
    assert item.kind == "unreadable" and item.path.name == "model.ckpt.meta"
    assert "model.ckpt.index and model.ckpt.data-00000-of-00001 not found" in item.details[0]
    (tmp_path / "model.fzn.pb").write_bytes(GARBAGE)
    item = scan_model(tmp_path / "model.fzn.pb")
    assert item.kind == "unreadable" and item.problem.startswith("corrupt: not a TensorFlow")
