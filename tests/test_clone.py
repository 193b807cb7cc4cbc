"""`mmarctl clone`: from a scaffold or an MMAR, what is copied, left behind, rewritten and
recorded, and each bad input through the CLI (one line, non-zero exit, nothing written)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl import clone as clone_lib
from mmarctl import scripts
from mmarctl.cli import app
from mmarctl.errors import WorkspaceError
from mmarctl.workspace import Workspace

from conftest import write_json

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def leftovers(folder: Path) -> list[str]:
    """Temporary siblings a failed clone might have left."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """An MMAR as users have them: Clara scripts, BYOC code, models, eval and data inside."""
    root = tmp_path / "src"
    write_json(root / "config" / "config_train.json", {"epochs": 5, "learning_rate": 1e-4})
    write_json(root / "config" / "environment.json", {
        "DATA_ROOT": "data", "DATASET_JSON": "data/dataset_0.json", "MMAR_CKPT_DIR": "models",
        "MMAR_EVAL_OUTPUT_PATH": "eval", "PRETRAIN_WEIGHTS_FILE": "/var/tmp/w.h5",
        "PROCESSING_TASK": "segmentation"})
    write_json(root / "data" / "dataset_0.json", {"training": [], "validation": []})
    (root / "commands").mkdir()
    (root / "commands" / "train.sh").write_text("python3 -u -m nvmidl.apps.train\n")
    (root / "commands" / "train_W_Config.sh").write_text("echo custom\n")
    (root / "resources").mkdir()
    (root / "resources" / "log.config").write_text("[loggers]\nkeys=root\n")
    (root / "docs").mkdir()
    (root / "docs" / "Readme.md").write_text("# source\n")
    (root / "custom").mkdir()
    (root / "custom" / "my_loss.py").write_text("class MyLoss: pass\n")
    (root / "custom" / "__pycache__").mkdir()
    (root / "custom" / "__pycache__" / "my_loss.cpython-311.pyc").write_bytes(b"\0")
    (root / "CustomTransformations.py").write_text("class T: pass\n")
    (root / "models").mkdir()
    (root / "models" / "model.ckpt.index").write_bytes(b"ckpt")
    (root / "eval").mkdir()
    (root / "eval" / "metrics.json").write_text("{}")
    return root


# -- from a scaffold ---------------------------------------------------------------------------

def test_clone_scaffold(tmp_path):
    dest = tmp_path / "my-exp"
    result = invoke("clone", "spleen", dest)
    assert result.exit_code == 0, result.output
    assert "created" in result.output and "scaffold:spleen" in result.output
    for name in ("config/config_train.json", "config/config_validation.json",
                 "config/environment.json", "resources/log.config", "docs/Readme.md"):
        assert (dest / name).is_file(), name
    assert not (dest / "scaffold.json").exists()
    assert sorted(p.name for p in (dest / "commands").iterdir()) == sorted(scripts.SCRIPT_NAMES)
    provenance = json.loads((dest / ".mmarctl" / "provenance.json").read_text())
    assert provenance["source"] == "scaffold:spleen"
    assert provenance["source_kind"] == "scaffold"
    assert provenance["mmarctl_version"]
    assert provenance["created_utc"].endswith("+00:00")
    assert leftovers(tmp_path) == []


def test_list_shows_one_line_per_scaffold():
    result = invoke("clone", "--list")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert any(line.startswith("spleen ") and "segmentation" in line for line in lines)
    assert any(line.startswith("classification ") for line in lines)


def test_help_has_an_example():
    result = invoke("clone", "--help")
    assert result.exit_code == 0 and "Example: mmarctl clone spleen my-exp" in result.output


# -- from an MMAR --------------------------------------------------------------------------

def test_clone_mmar_copies_config_code_and_regenerates_commands(source, tmp_path):
    dest = tmp_path / "new"
    result = clone_lib.clone(str(source), dest)
    assert set(result.copied) == {"config", "commands", "resources", "docs", "custom",
                                  "CustomTransformations.py"}
    assert (dest / "custom" / "my_loss.py").is_file()
    assert not (dest / "custom" / "__pycache__").exists()
    assert (dest / "CustomTransformations.py").is_file()
    for left_behind in ("models", "eval", "data"):
        assert not (dest / left_behind).exists(), left_behind
    # Clara's train.sh is replaced by mmarctl's; the user's own script is kept.
    assert scripts.is_generated(dest / "commands" / "train.sh")
    assert (dest / "commands" / "train_W_Config.sh").read_text() == "echo custom\n"
    assert any("train.sh" in note for note in result.notes)
    # The source is untouched.
    assert "nvmidl" in (source / "commands" / "train.sh").read_text()


def test_data_left_behind_is_pointed_at_absolutely(source, tmp_path):
    dest = tmp_path / "new"
    result = clone_lib.clone(str(source), dest)
    env = json.loads((dest / "config" / "environment.json").read_text())
    assert env["DATA_ROOT"] == str((source / "data").resolve())
    assert env["DATASET_JSON"] == str((source / "data" / "dataset_0.json").resolve())
    # Run outputs belong to the new workspace; other absolute paths stay as they were.
    assert env["MMAR_CKPT_DIR"] == "models" and env["MMAR_EVAL_OUTPUT_PATH"] == "eval"
    assert env["PRETRAIN_WEIGHTS_FILE"] == "/var/tmp/w.h5"
    assert set(result.rewritten) == {"DATA_ROOT", "DATASET_JSON"}
    provenance = json.loads((dest / ".mmarctl" / "provenance.json").read_text())
    assert provenance["rewritten"] == result.rewritten


@pytest.mark.parametrize("ckpt_dir, eval_dir", [
    ("{src}/models", "{src}/eval"),                       # absolute, inside the source
    ("/workspace/mmars/covid19/models", "/data/training/eval"),  # Clara's container paths
    ("{tmp}/bigdisk/models", "../shared_eval"),           # outside; a sibling's relative path
])
def test_output_folders_shared_with_the_source_are_reset(source, tmp_path, ckpt_dir, eval_dir):
    # An output folder kept as it was made `train` of the clone overwrite the source's
    # checkpoints; the clone writes its own models/ and eval/ instead, and says so.
    values = {"MMAR_CKPT_DIR": ckpt_dir.format(src=source, tmp=tmp_path),
              "MMAR_EVAL_OUTPUT_PATH": eval_dir.format(src=source, tmp=tmp_path)}
    env_path = source / "config" / "environment.json"
    write_json(env_path, {**json.loads(env_path.read_text()), **values})
    dest = tmp_path / "new"
    result = invoke("clone", source, dest)
    assert result.exit_code == 0, result.output
    env = json.loads((dest / "config" / "environment.json").read_text())
    assert env["MMAR_CKPT_DIR"] == "models" and env["MMAR_EVAL_OUTPUT_PATH"] == "eval"
    provenance = json.loads((dest / ".mmarctl" / "provenance.json").read_text())
    assert provenance["rewritten"]["MMAR_CKPT_DIR"] == "models"
    assert provenance["rewritten"]["MMAR_EVAL_OUTPUT_PATH"] == "eval"
    assert (f"MMAR_CKPT_DIR reset to models: it named {values['MMAR_CKPT_DIR']}, where the "
            "source writes") in result.output


def test_symlinked_models_folder_is_not_shared_with_the_clone(source, tmp_path):
    # models/ as a link to a bigger disk: the clone's "models" is its own folder, not the
    # source's link target.
    bigdisk = tmp_path / "bigdisk_models"
    os.rename(source / "models", bigdisk)
    (source / "models").symlink_to(bigdisk)
    dest = tmp_path / "new"
    result = clone_lib.clone(str(source), dest)
    env = json.loads((dest / "config" / "environment.json").read_text())
    assert env["MMAR_CKPT_DIR"] == "models"
    assert "MMAR_CKPT_DIR" not in result.rewritten and not (dest / "models").exists()


def test_relative_output_folder_of_the_clone_is_kept(source, tmp_path):
    env_path = source / "config" / "environment.json"
    write_json(env_path, {**json.loads(env_path.read_text()), "MMAR_CKPT_DIR": "runs/models"})
    result = clone_lib.clone(str(source), tmp_path / "new")
    assert "MMAR_CKPT_DIR" not in result.rewritten and result.reset == {}


def test_with_models_says_checkpoints_outside_the_source_were_not_copied(source, tmp_path):
    env_path = source / "config" / "environment.json"
    outside = tmp_path / "bigdisk"
    write_json(env_path, {**json.loads(env_path.read_text()), "MMAR_CKPT_DIR": str(outside)})
    result = clone_lib.clone(str(source), tmp_path / "new", with_models=True)
    assert any("--with-models copied no checkpoints" in n and str(outside) in n
               for n in result.notes)


def test_with_models_copies_models_only(source, tmp_path):
    dest = tmp_path / "new"
    result = invoke("clone", source, dest, "--with-models")
    assert result.exit_code == 0, result.output
    assert (dest / "models" / "model.ckpt.index").read_bytes() == b"ckpt"
    assert not (dest / "eval").exists()
    assert json.loads((dest / ".mmarctl" / "provenance.json").read_text())["with_models"]


def test_clone_of_a_clone_keeps_the_lineage(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    clone_lib.clone("spleen", first)
    clone_lib.clone(str(first), second)
    provenance = json.loads((second / ".mmarctl" / "provenance.json").read_text())
    assert provenance["source"] == str(first.resolve())
    assert [entry["source"] for entry in provenance["lineage"]] == ["scaffold:spleen"]


def test_a_long_chain_of_clones_keeps_its_lineage_flat(tmp_path):
    # Nested, the 63rd clone's source provenance passed the JSON depth limit and the
    # lineage was dropped without a word.
    chain = [tmp_path / "c0"]
    clone_lib.clone("spleen", chain[0])
    for i in range(1, 70):
        chain.append(tmp_path / f"c{i}")
        assert clone_lib.clone(str(chain[-2]), chain[-1]).notes == []
    provenance = json.loads((chain[-1] / ".mmarctl" / "provenance.json").read_text())
    # Each record says where its workspace came from: c68's (from c67) ... c0's (spleen).
    sources = [entry["source"] for entry in provenance["lineage"]]
    assert sources == [str(c.resolve()) for c in reversed(chain[:-2])] + ["scaffold:spleen"]
    assert "lineage_dropped" not in provenance


def test_lineage_is_bounded_and_says_what_it_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(clone_lib, "LINEAGE_LIMIT", 2)
    chain = [tmp_path / "c0"]
    clone_lib.clone("spleen", chain[0])
    for i in range(1, 5):
        chain.append(tmp_path / f"c{i}")
        clone_lib.clone(str(chain[-2]), chain[-1])
    provenance = json.loads((chain[-1] / ".mmarctl" / "provenance.json").read_text())
    # c3's record (from c2) and c2's (from c1) are kept; c1's and c0's are counted.
    assert [e["source"] for e in provenance["lineage"]] == [str(chain[2].resolve()),
                                                            str(chain[1].resolve())]
    assert provenance["lineage_dropped"] == 2


def test_nested_provenance_of_earlier_versions_becomes_the_flat_lineage(source, tmp_path):
    write_json(source / ".mmarctl" / "provenance.json", {
        "command": "clone", "source": "/old/b", "source_provenance": {
            "command": "clone", "source": "/old/a", "source_provenance": {
                "command": "init", "source": "scaffold:spleen", "source_provenance": None}}})
    clone_lib.clone(str(source), tmp_path / "new")
    provenance = json.loads((tmp_path / "new" / ".mmarctl" / "provenance.json").read_text())
    assert [e["source"] for e in provenance["lineage"]] == ["/old/b", "/old/a",
                                                            "scaffold:spleen"]
    assert "source_provenance" not in json.dumps(provenance)


def test_unreadable_source_provenance_is_said(source, tmp_path):
    (source / ".mmarctl").mkdir()
    (source / ".mmarctl" / "provenance.json").write_text("[" * 100 + "]" * 100)
    result = invoke("clone", source, tmp_path / "new")
    assert result.exit_code == 0, result.output
    assert "note: the source's .mmarctl/provenance.json cannot be read" in result.output
    provenance = json.loads((tmp_path / "new" / ".mmarctl" / "provenance.json").read_text())
    assert provenance["lineage"] == [] and "nested deeper" in provenance["lineage_unreadable"]


def test_links_inside_the_source_stay_relative_links(source, tmp_path):
    (source / "config" / "dataset_1.json").symlink_to("dataset_0.json")  # dangling is fine
    os.symlink(source / "custom" / "my_loss.py", source / "custom" / "alias.py")  # absolute
    (source / "custom" / "data").symlink_to("../data")  # data is left behind
    dest = tmp_path / "new"
    result = clone_lib.clone(str(source), dest)
    alias = dest / "custom" / "alias.py"
    assert alias.is_symlink() and os.readlink(alias) == "my_loss.py"
    assert alias.read_text() == "class MyLoss: pass\n"
    assert os.readlink(dest / "config" / "dataset_1.json") == "dataset_0.json"
    assert any("custom/data" in note and "config/dataset_1.json" in note
               for note in result.notes)


def test_scaffold_name_wins_over_a_same_named_folder_unless_dotted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "spleen" / "config" / "config_train.json", {"local": True})
    assert clone_lib.resolve_source("spleen").kind == "scaffold"
    assert clone_lib.resolve_source("./spleen").kind == "mmar"


def test_failure_midway_leaves_nothing(source, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(clone_lib, "write_commands", broken)
    dest = tmp_path / "deep" / "new"
    # The OS error reaches the user as one line (a WorkspaceError), not a traceback.
    with pytest.raises(WorkspaceError, match=f"disk full; {dest} was not created"):
        clone_lib.clone(str(source), dest)
    assert not (tmp_path / "deep").exists()  # created parents are removed too
    assert leftovers(tmp_path) == []


# -- bad input through the CLI: one line, non-zero exit, nothing written ----------------------

def assert_one_line_error(result, *fragments: str) -> None:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_unknown_scaffold_suggests(tmp_path):
    result = invoke("clone", "splen", tmp_path / "x")
    assert result.exit_code == 2
    assert_one_line_error(result, "unknown scaffold 'splen'", "did you mean spleen")
    assert list(tmp_path.iterdir()) == []


def test_existing_destination_is_refused(tmp_path):
    dest = tmp_path / "exp"
    dest.mkdir()
    result = invoke("clone", "spleen", dest)
    assert result.exit_code == 1
    assert_one_line_error(result, "already exists")
    assert list(dest.iterdir()) == [] and leftovers(tmp_path) == []


def test_existing_file_destination_is_refused(tmp_path):
    dest = tmp_path / "exp"
    dest.write_text("keep me")
    result = invoke("clone", "spleen", dest)
    assert result.exit_code == 1
    assert_one_line_error(result, "not a folder")
    assert dest.read_text() == "keep me"


def test_source_that_is_not_an_mmar(tmp_path):
    (tmp_path / "plain").mkdir()
    result = invoke("clone", tmp_path / "plain", tmp_path / "x")
    assert result.exit_code == 1
    assert_one_line_error(result, "not an MMAR", "config/")
    assert not (tmp_path / "x").exists() and leftovers(tmp_path) == []


def test_missing_source_path(tmp_path):
    result = invoke("clone", tmp_path / "nope", tmp_path / "x")
    assert result.exit_code == 1
    assert_one_line_error(result, "no such folder")


def test_symlink_out_of_the_source_is_named(source, tmp_path):
    outside = tmp_path / "secret.py"
    outside.write_text("x = 1\n")
    link = source / "custom" / "helper.py"
    link.symlink_to(outside)
    result = invoke("clone", source, tmp_path / "x")
    assert result.exit_code == 1
    assert_one_line_error(result, "outside the source", "helper.py")
    assert not (tmp_path / "x").exists() and leftovers(tmp_path) == []


def test_top_level_symlinked_folder_out_of_the_source(source, tmp_path):
    elsewhere = tmp_path / "shared_docs"
    elsewhere.mkdir()
    os.rename(source / "docs", tmp_path / "old_docs")
    (source / "docs").symlink_to(elsewhere)
    with pytest.raises(WorkspaceError, match="outside the source"):
        clone_lib.clone(str(source), tmp_path / "x")


def test_destination_inside_the_source(source):
    result = invoke("clone", source, source / "sub")
    assert result.exit_code == 1
    assert_one_line_error(result, "inside the source")
    assert not (source / "sub").exists()


def test_clone_without_arguments_is_a_usage_error():
    result = invoke("clone")
    assert result.exit_code == 2
    assert_one_line_error(result, "SOURCE and DEST")


def test_missing_bare_name_that_is_no_scaffold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("clone", "old-experiment", "x")
    assert result.exit_code == 1
    assert_one_line_error(result, "old-experiment", "no such folder, and not a built-in scaffold",
                          "spleen")
    assert not (tmp_path / "x").exists()


def test_next_step_names_the_task(tmp_path):
    result = invoke("init", tmp_path / "c", "--task", "classification")
    assert "--task classification" in result.output
    result = invoke("clone", "spleen", tmp_path / "s")
    assert f"mmarctl data synth {tmp_path / 's'}/data " in result.output


def test_real_clara_mmars_clone(clara_compat, tmp_path):
    """Every real Clara 3.x MMAR beside the project clones: configs byte for byte, new
    commands; a 4.x one is refused, with nothing written."""
    sources = sorted(p for p in clara_compat.iterdir() if (p / "config").is_dir())
    clara4 = [p for p in sources if Workspace(p).clara_major_version() == 4]
    assert sources and clara4
    for index, src in enumerate(clara4):
        with pytest.raises(WorkspaceError, match="Clara 4.x"):
            clone_lib.clone(str(src), tmp_path / f"clara4_{index}")
        assert not (tmp_path / f"clara4_{index}").exists()
    for index, src in enumerate(p for p in sources if p not in clara4):
        dest = tmp_path / f"clone{index}"
        result = clone_lib.clone(str(src), dest)
        for config in (src / "config").iterdir():
            assert (dest / "config" / config.name).read_bytes() == config.read_bytes() \
                or config.name == "environment.json" and result.rewritten, config
        assert sorted(p.name for p in (dest / "commands").iterdir()) == \
            sorted(scripts.SCRIPT_NAMES)


@pytest.mark.parametrize("typed, folder", [("my exp", "my exp"), ("-i2", "-i2"),
                                           ("trail/", "trail")])
def test_the_next_hint_runs_when_copied(tmp_path, monkeypatch, typed, folder):
    """The printed `next:` commands are pasted into a shell: quoted for a space, ./ before
    a leading dash (`data synth my exp/data` and `data synth -i2/data` failed), no //."""
    import shlex

    monkeypatch.chdir(tmp_path)
    result = invoke("clone", "spleen", "--", typed)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("next: "))
    synth, _, rest = line[len("next: "):].partition("  (")
    check = rest.rpartition("then ")[2]
    synth_words, check_words = shlex.split(synth), shlex.split(check)
    assert synth_words[:3] == ["mmarctl", "data", "synth"] and len(synth_words) == 4
    assert not synth_words[3].startswith("-") and "//" not in synth_words[3]
    assert Path(synth_words[3]).resolve() == (tmp_path / folder / "data").resolve()
    assert check_words[:2] == ["mmarctl", "check"] and len(check_words) == 3
    assert Path(check_words[2]).resolve() == (tmp_path / folder).resolve()
