"""Locating an MMAR, loading its JSON, and Clara's variable precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmarctl.errors import ConfigError, WorkspaceError
from mmarctl.workspace import Workspace, is_path_key, shown_from_here


def test_locate_from_argument_env_and_inner_folder(tiny_mmar: Path, monkeypatch):
    assert Workspace.locate(tiny_mmar).root == tiny_mmar.resolve()
    assert Workspace.locate(tiny_mmar / "config").root == tiny_mmar.resolve()
    assert Workspace.locate(None, environ={"MMAR_ROOT": str(tiny_mmar)}).root == tiny_mmar.resolve()
    monkeypatch.chdir(tiny_mmar)
    assert Workspace.locate(None, environ={}).root == tiny_mmar.resolve()


def test_locate_rejects_a_folder_that_is_not_an_mmar(tmp_path: Path):
    with pytest.raises(WorkspaceError, match="not an MMAR"):
        Workspace.locate(tmp_path)
    with pytest.raises(WorkspaceError, match="no such folder"):
        Workspace.locate(tmp_path / "missing")


def test_precedence_config_then_environment_then_set(tiny_mmar: Path):
    ws = Workspace.locate(tiny_mmar)
    resolved = ws.resolve("config_train.json", {"epochs": 3, "NUM_CLASSES": 4})
    assert resolved.data["epochs"] == 3
    assert resolved.data["learning_rate"] == 1e-4
    assert resolved.data["train"]["model"]["args"]["num_classes"] == 4
    # A placeholder inside a longer string is substituted as text.
    report = resolved.data["validate"]["report"]
    assert report == f"{ws.root / 'eval'}/report_3.txt"


def test_relative_paths_in_environment_are_relative_to_the_mmar_root(tiny_mmar: Path):
    ws = Workspace.locate(tiny_mmar)
    env = ws.environment()
    assert env["DATA_ROOT"] == str(ws.root / "data")
    assert env["DATASET_JSON"] == str(ws.root / "data" / "dataset_0.json")
    assert env["PRETRAIN_WEIGHTS_FILE"] == "/var/tmp/weights.h5"
    assert env["NUM_CLASSES"] == 2


@pytest.mark.parametrize("key, expected", [
    ("DATA_ROOT", True), ("DATASET_JSON", True), ("MMAR_CKPT_DIR", True), ("MMAR_CKPT", True),
    ("MMAR_EVAL_OUTPUT_PATH", True), ("epochs", False), ("PROCESSING_TASK", False),
])
def test_path_keys(key, expected):
    assert is_path_key(key) is expected


def test_malformed_json_reports_file_line_and_column(tiny_mmar: Path):
    (tiny_mmar / "config" / "config_train.json").write_text('{\n  "use_amp": ture\n}\n')
    with pytest.raises(ConfigError) as info:
        Workspace.locate(tiny_mmar).resolve("config_train.json")
    assert str(info.value).startswith("config/config_train.json:2:14: invalid JSON")


def test_unresolved_placeholder_names_the_file(tiny_mmar: Path):
    (tiny_mmar / "config" / "environment.json").write_text("{}")
    with pytest.raises(ConfigError) as info:
        Workspace.locate(tiny_mmar).resolve("config_train.json")
    assert "config/config_train.json: train.model.args.num_classes" in str(info.value)


def test_output_folders_default_to_models_and_eval(tiny_mmar: Path):
    """{MMAR_CKPT_DIR} and {MMAR_EVAL_OUTPUT_PATH} resolve without environment.json, to the
    folders training already defaults to; check agrees."""
    import json

    from typer.testing import CliRunner

    from mmarctl.cli import app

    env_path = tiny_mmar / "config" / "environment.json"
    env = json.loads(env_path.read_text())
    del env["MMAR_CKPT_DIR"], env["MMAR_EVAL_OUTPUT_PATH"]
    env_path.write_text(json.dumps(env))
    workspace = Workspace.locate(tiny_mmar)
    resolved = workspace.resolve("config_train.json")
    assert resolved.data["validate"]["report"] == f"{workspace.root / 'eval'}/report_10.txt"
    assert resolved.variables["MMAR_CKPT_DIR"] == str(workspace.root / "models")
    assert workspace.checkpoint_dir(resolved.variables) == workspace.root / "models"
    result = CliRunner().invoke(app, ["check", str(tiny_mmar)])
    assert "unresolved placeholder" not in result.output
    moved = workspace.resolve("config_train.json", {"MMAR_EVAL_OUTPUT_PATH": "out"})
    assert moved.data["validate"]["report"] == f"{workspace.root / 'out'}/report_10.txt"


def test_clara_4_is_recognized(tmp_path: Path):
    root = tmp_path / "v4"
    (root / "config").mkdir(parents=True)
    (root / "config" / "environment.json").write_text('{"CLARA_TRAIN_VERSION": "4.1.0"}')
    assert Workspace.locate(root).clara_major_version() == 4


def test_atomic_json_write_has_ordinary_permissions(tmp_path: Path):
    import os
    import stat

    from mmarctl.jsonio import load_json, write_json_atomic

    target = tmp_path / "out" / "x.json"
    write_json_atomic(target, {"a": 1})
    assert load_json(target) == {"a": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_output_paths_are_shown_from_the_current_folder(tmp_path: Path, monkeypatch):
    """Where outputs went is said so that the path opens from where the verb was run."""
    report = tmp_path / "my-exp" / "eval" / "report.html"
    monkeypatch.chdir(tmp_path)
    assert shown_from_here(report) == "my-exp/eval/report.html"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not under the current folder: the absolute path
    assert shown_from_here(report) == str(report.resolve())


def test_a_clara_path_written_from_commands_is_found(tiny_mmar: Path):
    """DATASET_JSON "../config/dataset_0.json" (a public Clara MMAR's) meant config/ as
    seen from commands/, where Clara's scripts ran; from the root it climbs out."""
    (tiny_mmar / "config" / "dataset_0.json").write_text("{}")
    workspace = Workspace(tiny_mmar)
    assert workspace.resolve_path_value("DATASET_JSON", "../config/dataset_0.json") == \
        str((tiny_mmar / "config" / "dataset_0.json").resolve())
    # A ../ path that exists from the root keeps the root's reading; one found nowhere too.
    (tiny_mmar.parent / "shared.json").write_text("{}")
    assert workspace.resolve_path_value("DATASET_JSON", "../shared.json") == \
        str((tiny_mmar.parent / "shared.json").resolve())
    assert workspace.resolve_path_value("DATASET_JSON", "../config/nothing.json") == \
        str((tiny_mmar.parent / "config" / "nothing.json").resolve())


def test_a_config_path_from_the_current_folder_is_found_as_check_finds_it(
        tiny_mmar: Path, monkeypatch):
    """`mmarctl train e -c e/config/trn_alt.json` (tab-completed from where the user stands):
    check accepted it, train/validate/infer said 'file not found'. One rule: config/, the
    MMAR root, then the current folder."""
    from mmarctl.check.mmar import given_config_path

    alt = tiny_mmar / "config" / "trn_alt.json"
    alt.write_text((tiny_mmar / "config" / "config_train.json").read_text())
    monkeypatch.chdir(tiny_mmar.parent)
    ws = Workspace.locate(tiny_mmar)
    typed = f"{tiny_mmar.name}/config/trn_alt.json"
    assert ws.config_path(typed) == alt.resolve() == given_config_path(ws, typed)
    assert ws.resolve(typed).file == "config/trn_alt.json"  # what the verbs load
    assert ws.config_path("trn_alt.json") == ws.config_dir / "trn_alt.json"  # config/ first
    assert ws.config_path("config/trn_alt.json") == ws.root / "config" / "trn_alt.json"


def test_the_mmars_own_files_are_never_taken_from_the_current_folder(tmp_path: Path,
                                                                      monkeypatch):
    """Standing in another MMAR's config/, an MMAR without environment.json (or a training
    config) must not read that one's."""
    bare = tmp_path / "bare"
    (bare / "config").mkdir(parents=True)
    here = tmp_path / "other" / "config"
    here.mkdir(parents=True)
    for name in ("environment.json", "config_train.json", "config_validation.json"):
        (here / name).write_text("{}")
    monkeypatch.chdir(here)
    ws = Workspace(bare)
    for name in ("environment.json", "config_train.json", "config_validation.json"):
        assert ws.config_path(name) == bare / "config" / name
    assert ws.environment() == {}


def test_a_leftover_mmar_root_is_named_when_you_stand_in_another_mmar(tmp_path: Path,
                                                                       monkeypatch, capsys):
    """`source a/commands/set_env.sh; cd b; mmarctl check` checked a without a word."""
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "config").mkdir(parents=True)
    for name in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(b / "config")
    assert Workspace.locate(None, environ={"MMAR_ROOT": str(a)}).root == a.resolve()
    assert capsys.readouterr().err.split() == (
        f"note: using $MMAR_ROOT={a.resolve()}, not {b.resolve()} where you are (give the "
        "MMAR as an argument, or unset MMAR_ROOT)").split()
    Workspace.locate(b, environ={"MMAR_ROOT": str(a)})  # an argument: no note
    monkeypatch.chdir(a)
    Workspace.locate(None, environ={"MMAR_ROOT": str(a)})  # the same MMAR: no note
    monkeypatch.chdir(tmp_path)
    Workspace.locate(None, environ={"MMAR_ROOT": str(a)})  # in no MMAR: Clara's habit, no note
    monkeypatch.chdir(b)
    monkeypatch.setenv("HOROVOD_RANK", "1")
    Workspace.locate(None, environ={"MMAR_ROOT": str(a)})  # a worker: rank 0 says it
    assert capsys.readouterr().err == ""


def test_an_automl_study_folder_is_refused_not_taken_for_its_source(tmp_path):
    # automl/<run_id> has no config/ of its own: walking up found the source MMAR, so
    # `validate automl/run1` validated (and `train` trained) the source instead.
    from mmarctl.errors import WorkspaceError

    source = tmp_path / "src"
    (source / "config").mkdir(parents=True)
    study = source / "automl" / "run1"
    (study / "trial_000" / "config").mkdir(parents=True)
    with pytest.raises(WorkspaceError, match="an AutoML study folder, not an MMAR") as info:
        Workspace.locate(study)
    assert "trial_000" in str(info.value.hint)
    assert Workspace.locate(study / "trial_000").root == (study / "trial_000").resolve()
    assert Workspace.locate(source / "automl").root == source.resolve()  # not a study
