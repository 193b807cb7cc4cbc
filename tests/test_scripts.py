"""commands/ generation: every script parses with ``bash -n``, and runs with a fake
``mmarctl`` on PATH that prints its arguments, proving the paths and the pass-through."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl import scripts
from mmarctl.cli import app
from mmarctl.errors import WorkspaceError

from conftest import write_json

runner = CliRunner()
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")

FAKE_MMARCTL = """#!/usr/bin/env bash
# Stand-in for mmarctl: one argument per line, then PYTHONPATH.
for arg in "$@"; do printf 'ARG %s\\n' "$arg"; done
printf 'PYTHONPATH %s\\n' "${PYTHONPATH:-}"
"""


@pytest.fixture
def mmar(tmp_path: Path) -> Path:
    """An MMAR (with a space in its path) whose config has learning_rate 3e-4."""
    root = tmp_path / "my exp"
    write_json(root / "config" / "config_train.json", {"epochs": 2, "learning_rate": 3e-4})
    return root


@pytest.fixture
def fake_path(tmp_path: Path) -> str:
    """A PATH whose first entry holds the fake mmarctl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mmarctl"
    fake.write_text(FAKE_MMARCTL)
    fake.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def run_script(script: Path, *args: str, fake_path: str, cwd: Path) -> tuple[list[str], str]:
    """Run a generated script; returns the fake mmarctl's arguments and PYTHONPATH."""
    env = {**os.environ, "PATH": fake_path}
    env.pop("PYTHONPATH", None)
    env.pop("MMAR_ROOT", None)
    done = subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    argv = [line[4:] for line in lines if line.startswith("ARG ")]
    pythonpath = next(line[11:] for line in lines if line.startswith("PYTHONPATH "))
    return argv, pythonpath


def test_writes_every_script_executable(mmar):
    result = scripts.write_commands(mmar)
    assert [p.name for p in result.written] == list(scripts.SCRIPT_NAMES)
    assert set(scripts.SCRIPT_NAMES) == {
        "set_env.sh", "train.sh", "train_finetune.sh", "train_2gpu.sh",
        "train_2gpu_finetune.sh", "validate.sh", "infer.sh", "export.sh", "automl.sh"}
    for path in result.written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path.name
        assert scripts.is_generated(path)
        # short, readable (automl.sh also reads Clara's `automl.sh NAME` form)
        longest = {"set_env.sh": 22, "automl.sh": 17}.get(path.name, 15)
        assert len(path.read_text().splitlines()) <= longest, path.name
    assert not list((mmar / "commands").glob(".*.tmp"))


def test_every_script_passes_bash_syntax_check(mmar):
    for path in scripts.write_commands(mmar).written:
        done = subprocess.run([BASH, "-n", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path.name}: {done.stderr}"


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash is not installed")
def test_scripts_run_under_sh_as_clara_users_call_them(mmar, fake_path, tmp_path):
    """`sh commands/train.sh` (dash, Ubuntu's sh): it stopped at once on `set -o pipefail`
    (and set_env.sh's BASH_SOURCE). Through a symlink too."""
    dash = shutil.which("dash")
    written = scripts.write_commands(mmar).written
    for path in written:
        done = subprocess.run([dash, "-n", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
    env = {**os.environ, "PATH": fake_path}
    env.pop("MMAR_ROOT", None)
    (tmp_path / "val").symlink_to(mmar / "commands" / "validate.sh")
    for script, cwd in ((Path("commands") / "train.sh", mmar), (tmp_path / "val", tmp_path)):
        done = subprocess.run([dash, str(script), "--set", "epochs=1"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        argv = [line[4:] for line in done.stdout.splitlines() if line.startswith("ARG ")]
        assert argv[1:] == [str(mmar.resolve()), "--set", "epochs=1"], script


def test_train_passes_root_and_extra_arguments(mmar, fake_path, tmp_path):
    scripts.write_commands(mmar)
    argv, pythonpath = run_script(mmar / "commands" / "train.sh", "--set", "epochs=3",
                                  fake_path=fake_path, cwd=tmp_path)
    assert argv == ["train", str(mmar.resolve()), "--set", "epochs=3"]
    assert pythonpath == str(mmar.resolve())


def test_without_mmarctl_on_path_a_script_says_what_to_do(mmar, tmp_path):
    """A virtualenv that is not activated: one line naming set_env.sh and the fix, exit 127,
    and a shell that sources set_env.sh by hand is not closed by it."""
    bare_path = "/usr/bin:/bin"
    if shutil.which("mmarctl", path=bare_path):
        pytest.skip("mmarctl is installed system-wide")
    scripts.write_commands(mmar)
    env = {**os.environ, "PATH": bare_path}
    done = subprocess.run([str(mmar / "commands" / "train.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 127
    assert done.stderr.strip().splitlines() == [
        f"{mmar.resolve() / 'commands' / 'set_env.sh'}: mmarctl is not on PATH; activate the "
        "environment it is installed in (e.g. source .venv/bin/activate in the mmarctl "
        "checkout)"]
    sourced = subprocess.run([BASH, "-c", f'source "{mmar / "commands" / "set_env.sh"}"; '
                                          'echo "still here $?"'],
                             env=env, capture_output=True, text=True, timeout=20)
    assert sourced.stdout.strip() == "still here 127"


def test_a_script_reached_through_a_symlink_runs_its_own_mmar(mmar, fake_path, tmp_path):
    """A script linked into ~/bin, or commands/ linked from another MMAR: the script's real
    location decides (dirname "$0" found no set_env.sh, or the other MMAR)."""
    scripts.write_commands(mmar)
    other = tmp_path / "other"
    write_json(other / "config" / "config_train.json", {"epochs": 1})
    scripts.write_commands(other)
    bin_dir = tmp_path / "links"
    bin_dir.mkdir()
    (bin_dir / "train_mine").symlink_to(mmar / "commands" / "train.sh")
    (other / "mine_cmds").symlink_to(mmar / "commands")
    argv, _ = run_script(bin_dir / "train_mine", fake_path=fake_path, cwd=Path("/"))
    assert argv == ["train", str(mmar.resolve())]
    argv, _ = run_script(other / "mine_cmds" / "validate.sh", fake_path=fake_path, cwd=other)
    assert argv == ["validate", str(mmar.resolve())]
    sourced = subprocess.run([BASH, "-c", f'source "{other / "mine_cmds" / "set_env.sh"}"; '
                                          'echo "$MMAR_ROOT"'],
                             env={**os.environ, "PATH": fake_path}, capture_output=True,
                             text=True, timeout=20)
    assert sourced.stdout.strip() == str(mmar.resolve())


def test_script_finds_root_from_any_folder_and_relative_call(mmar, fake_path):
    scripts.write_commands(mmar)
    argv, _ = run_script(Path("commands") / "validate.sh", fake_path=fake_path,
                         cwd=mmar)  # relative to the MMAR, as users type it
    assert argv == ["validate", str(mmar.resolve())]
    argv, _ = run_script(Path("..") / "commands" / "infer.sh", fake_path=fake_path,
                         cwd=mmar / "config")
    assert argv == ["infer", str(mmar.resolve())]


def test_finetune_starts_where_train_wrote_the_model(mmar, fake_path, tmp_path):
    """No fixed models/model.ckpt: with MMAR_CKPT_DIR moved in environment.json, the script
    fine-tuned from nothing (or a stale models/ checkpoint) while `mmarctl finetune` used
    the new folder. finetune's own default (MMAR_CKPT_DIR/model.ckpt) decides."""
    write_json(mmar / "config" / "environment.json", {"MMAR_CKPT_DIR": str(tmp_path / "ck")})
    scripts.write_commands(mmar)
    argv, _ = run_script(mmar / "commands" / "train_finetune.sh", fake_path=fake_path,
                         cwd=tmp_path)
    assert argv == ["finetune", str(mmar.resolve())]
    argv, _ = run_script(mmar / "commands" / "train_finetune.sh", "--set", "MMAR_CKPT=x.ckpt",
                         fake_path=fake_path, cwd=tmp_path)
    assert argv[2:] == ["--set", "MMAR_CKPT=x.ckpt"]  # another start point is still a --set


def test_two_gpu_scripts_double_the_learning_rate(mmar, fake_path, tmp_path):
    scripts.write_commands(mmar)
    root = str(mmar.resolve())
    argv, _ = run_script(mmar / "commands" / "train_2gpu.sh", "--set", "epochs=1",
                         fake_path=fake_path, cwd=tmp_path)
    assert argv == ["train", root, "--gpus", "2", "--lr-scale", "2", "--set", "epochs=1"]
    argv, _ = run_script(mmar / "commands" / "train_2gpu_finetune.sh", fake_path=fake_path,
                         cwd=tmp_path)
    assert argv == ["finetune", root, "--gpus", "2", "--lr-scale", "2"]


def test_export_and_infer_call_their_verbs(mmar, fake_path, tmp_path):
    scripts.write_commands(mmar)
    for name, verb in (("export.sh", "export"), ("infer.sh", "infer"), ("automl.sh", "automl")):
        argv, _ = run_script(mmar / "commands" / name, "--x", fake_path=fake_path, cwd=tmp_path)
        assert argv == [verb, str(mmar.resolve()), "--x"]


def test_automl_takes_claras_run_name_argument(mmar, fake_path, tmp_path):
    """Clara's `commands/automl.sh trn_autoML`: the study trn_autoML on
    config/trn_autoML.json (it was an unexpected extra argument); options pass as before."""
    scripts.write_commands(mmar)
    script = mmar / "commands" / "automl.sh"
    root = str(mmar.resolve())
    for name in ("trn_autoML", "trn_autoML.json"):
        argv, _ = run_script(script, name, "--rounds", "2", fake_path=fake_path, cwd=tmp_path)
        assert argv == ["automl", root, "--run-id", "trn_autoML", "--config-train",
                        "trn_autoML.json", "--rounds", "2"]
    argv, _ = run_script(script, "--run-id", "x", fake_path=fake_path, cwd=tmp_path)
    assert argv == ["automl", root, "--run-id", "x"]


def test_custom_code_folders_go_on_pythonpath(mmar, fake_path, tmp_path):
    (mmar / "custom").mkdir()
    (mmar / "BYOC").mkdir()
    scripts.write_commands(mmar)
    _, pythonpath = run_script(mmar / "commands" / "train.sh", fake_path=fake_path,
                               cwd=tmp_path)
    root = mmar.resolve()
    assert pythonpath.split(os.pathsep) == [str(root), str(root / "custom"), str(root / "BYOC")]


def test_without_a_learning_rate_the_2gpu_scripts_do_not_scale(tmp_path):
    root = tmp_path / "m"
    write_json(root / "config" / "config_train.json", {"learning_rate": "{LR}"})
    result = scripts.write_commands(root)
    assert any("learning_rate" in note for note in result.notes)
    command = (root / "commands" / "train_2gpu.sh").read_text().splitlines()[-1]
    assert command == 'exec mmarctl train "$MMAR_ROOT" --gpus 2 "$@"'


def test_the_2gpu_scripts_scale_when_they_run():
    """No rate is written into the script: one edited into the config later is followed."""
    assert scripts.config_learning_rate(Path("/nonexistent")) is None
    script = next(s for s in scripts._SCRIPTS if s.name == "train_2gpu.sh")
    text = scripts.render_script(script, 1e-4)
    assert "--lr-scale 2 " in text and "learning_rate=" not in text


def test_malformed_config_still_gets_scripts(tmp_path):
    root = tmp_path / "m"
    (root / "config").mkdir(parents=True)
    (root / "config" / "config_train.json").write_text("{ not json")
    assert len(scripts.write_commands(root).written) == len(scripts.SCRIPT_NAMES)


def test_hand_written_script_is_kept_unless_forced(mmar):
    commands = mmar / "commands"
    commands.mkdir()
    (commands / "train.sh").write_text("python3 -u -m nvmidl.apps.train -m $MMAR_ROOT\n")
    (commands / "train_W_Config.sh").write_text("echo mine\n")
    with pytest.raises(WorkspaceError, match="train.sh"):
        scripts.write_commands(mmar)
    assert "nvmidl" in (commands / "train.sh").read_text()
    assert not (commands / "validate.sh").exists()  # nothing written on refusal
    scripts.write_commands(mmar, force=True)
    assert scripts.is_generated(commands / "train.sh")
    assert (commands / "train_W_Config.sh").read_text() == "echo mine\n"


def test_generated_scripts_are_rewritten_without_force(mmar):
    scripts.write_commands(mmar)
    train = mmar / "commands" / "train.sh"
    train.write_text(train.read_text().replace("mmarctl 0", "mmarctl 0.0.0-older"))
    scripts.write_commands(mmar)  # another version's mark, the same body: no backup, no note
    assert "0.0.0-older" not in train.read_text()
    assert not list((mmar / "commands").glob("*.bak*"))


def test_a_generated_script_the_user_edited_is_refused_unless_forced(mmar):
    """Users keep their --set values in train.sh, as they did in Clara's: rewriting it
    silently lost them (only the mark line was looked at)."""
    scripts.write_commands(mmar)
    train = mmar / "commands" / "train.sh"
    edited = train.read_text().replace('exec mmarctl train "$MMAR_ROOT"',
                                       'export MY_SETTING=1\nexec mmarctl train "$MMAR_ROOT" '
                                       '--set epochs=3')
    train.write_text(edited)
    assert scripts.was_edited(train) is True
    assert scripts.was_edited(mmar / "commands" / "validate.sh") is False
    with pytest.raises(WorkspaceError, match=r"would replace scripts edited since mmarctl "
                                             r"wrote them: train\.sh"):
        scripts.write_commands(mmar)
    assert train.read_text() == edited
    result = runner.invoke(app, ["commands", str(mmar)])
    assert result.exit_code == 1 and "train.sh" in result.output and "--force" in result.output
    scripts.write_commands(mmar, force=True)
    assert "MY_SETTING" not in train.read_text() and scripts.was_edited(train) is False


def test_an_older_mmarctls_script_that_differs_is_kept_as_bak(mmar):
    """A script without a checksum (an older mmarctl wrote it) may hold edits: it is
    kept beside the new one, with a note, and an earlier backup is never replaced."""
    scripts.write_commands(mmar)
    train = mmar / "commands" / "train.sh"
    old = "\n".join(line.split(" (unless edited")[0] if line.startswith(scripts.GENERATED_MARK)
                    else line for line in train.read_text().splitlines()) + "\n# mine\n"
    train.write_text(old)
    (mmar / "commands" / "train.sh.bak").write_text("an earlier backup\n")
    assert scripts.was_edited(train) is None
    result = scripts.write_commands(mmar)
    assert (mmar / "commands" / "train.sh.bak").read_text() == "an earlier backup\n"
    assert (mmar / "commands" / "train.sh.bak.1").read_text() == old
    assert "# mine" not in train.read_text()
    assert result.notes == ["kept the old commands/train.sh as commands/train.sh.bak.1: an "
                            "earlier mmarctl wrote it, and it may hold your edits"]


def test_a_sourced_script_says_run_it_and_leaves_the_shell_open(mmar, fake_path):
    """`source commands/train.sh` ran set -eu in the user's shell, which then exited."""
    scripts.write_commands(mmar)
    env = {**os.environ, "PATH": fake_path}
    done = subprocess.run([BASH, "-c", "set -u; source commands/validate.sh; "
                                       "echo \"still here $?\""],
                          cwd=mmar, env=env, capture_output=True, text=True, timeout=20)
    assert done.stdout.strip() == "still here 2"
    assert done.stderr.strip() == ("commands/validate.sh: run it (bash commands/validate.sh), "
                                   "do not source it")


def test_clara_form_key_value_words_are_set_items(mmar, fake_path, tmp_path):
    """Clara's scripts put extra words after --set: `./train.sh epochs=5 learning_rate=1e-4`."""
    scripts.write_commands(mmar)
    argv, _ = run_script(mmar / "commands" / "train.sh", "epochs=5", "learning_rate=1e-4",
                         fake_path=fake_path, cwd=tmp_path)
    assert argv == ["train", str(mmar.resolve()), "--set", "epochs=5", "learning_rate=1e-4"]
    argv, _ = run_script(mmar / "commands" / "automl.sh", "trn_autoML",
                         fake_path=fake_path, cwd=tmp_path)
    assert argv[2:4] == ["--run-id", "trn_autoML"]


def test_cli_writes_commands(mmar):
    result = runner.invoke(app, ["commands", str(mmar)])
    assert result.exit_code == 0, result.output
    assert (mmar / "commands" / "set_env.sh").is_file()
    assert result.output.count("wrote ") == len(scripts.SCRIPT_NAMES)


def test_cli_refuses_hand_written_script_then_forces(mmar):
    (mmar / "commands").mkdir()
    (mmar / "commands" / "infer.sh").write_text("echo clara\n")
    result = runner.invoke(app, ["commands", str(mmar)])
    assert result.exit_code == 1
    assert "infer.sh" in result.output and "--force" in result.output
    assert (mmar / "commands" / "infer.sh").read_text() == "echo clara\n"
    result = runner.invoke(app, ["commands", str(mmar), "--force"])
    assert result.exit_code == 0, result.output


def test_cli_on_a_folder_that_is_not_an_mmar(tmp_path):
    result = runner.invoke(app, ["commands", str(tmp_path)])
    assert result.exit_code == 1
    assert "not an MMAR" in result.output
    assert not (tmp_path / "commands").exists()


def test_help_has_an_example():
    result = runner.invoke(app, ["commands", "--help"])
    assert result.exit_code == 0 and "Example: mmarctl commands" in result.output


def test_lr_scale_multiplies_the_rate_the_run_would_use(tmp_path):
    from mmarctl.commands.train import scaled_learning_rate
    from mmarctl.errors import UsageError
    from mmarctl.workspace import Workspace

    root = tmp_path / "m"
    write_json(root / "config" / "config_train.json", {"learning_rate": 1e-3})
    workspace = Workspace(root)
    assert scaled_learning_rate(workspace, "config_train.json", None, None, 2) == 2e-3
    assert scaled_learning_rate(workspace, "config_train.json", ["learning_rate=0.01"], None,
                                2) == 0.02
    assert scaled_learning_rate(workspace, "config_train.json", ["learning_rate=0.01"], 0.5,
                                4) == 2.0  # --learning-rate wins over --set, as it does
    write_json(root / "config" / "config_train.json", {"learning_rate": "{LR}"})
    with pytest.raises(UsageError, match=r"--lr-scale needs a number to scale, but "
                                         r"config/config_train.json's learning_rate is '\{LR\}'"):
        scaled_learning_rate(workspace, "config_train.json", None, None, 2)


def test_lr_scale_must_be_positive(mmar):
    result = runner.invoke(app, ["train", str(mmar), "--lr-scale", "0"])
    assert result.exit_code == 2
    assert "--lr-scale" in result.output


def test_check_notes_2gpu_scripts_from_an_older_mmarctl(mmar):
    """Scripts generated with the doubled rate as a number keep it after the config
    changes; check says so, and `mmarctl commands` gives scripts it no longer notes."""
    scripts.write_commands(mmar)
    old = mmar / "commands" / "train_2gpu.sh"
    old.write_text(old.read_text().replace("--lr-scale 2", "--set learning_rate=0.002")
                   .replace(" (unless edited", " (older"))  # an older mmarctl: no checksum
    assert scripts.scripts_with_a_fixed_rate(mmar / "commands") == ["train_2gpu.sh"]
    result = runner.invoke(app, ["check", str(mmar)])
    assert "commands: note: train_2gpu.sh passes a fixed learning rate" in result.output
    scripts.write_commands(mmar)
    assert scripts.scripts_with_a_fixed_rate(mmar / "commands") == []


def test_lr_scale_and_the_2gpu_scripts_scale_the_resolved_rate(tmp_path):
    """environment.json's learning_rate replaces the config's for the run; --lr-scale and the
    2-GPU scripts scale that one, not the config file's own number."""
    from mmarctl.commands.train import scaled_learning_rate
    from mmarctl.workspace import Workspace

    root = tmp_path / "m"
    write_json(root / "config" / "config_train.json", {"learning_rate": 1e-3})
    write_json(root / "config" / "environment.json", {"learning_rate": 5e-3})
    assert Workspace(root).resolve("config_train.json").data["learning_rate"] == 5e-3
    assert scaled_learning_rate(Workspace(root), "config_train.json", None, None, 2) == 1e-2
    assert scripts.config_learning_rate(root) == 5e-3
