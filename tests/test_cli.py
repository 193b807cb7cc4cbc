"""The CLI's error boundary, --version, and Clara-style `--set A=1 B=2`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mmarctl
from mmarctl.cli import app, expand_set_items

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mmarctl {mmarctl.__version__}"


def test_every_verb_has_help_with_an_example():
    verbs = ["init", "clone", "check", "schema", "commands", "train", "finetune", "validate",
             "infer", "export", "doctor"]
    for verb in verbs:
        result = runner.invoke(app, [verb, "--help"])
        assert result.exit_code == 0, (verb, result.output)
        assert f"mmarctl {verb} " in result.output, f"{verb} --help shows no example"


def test_help_paragraphs_wrap_at_the_terminal_not_at_the_docstring():
    """A docstring's line breaks are not kept: at 200 columns each paragraph of `data synth`'s
    description is one line, and nothing of it is lost."""
    wide = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["data", "synth", "--help"])
    assert wide.exit_code == 0, wide.output
    line = next(l for l in wide.output.splitlines() if "Given a workspace" in l)
    assert "environment.json names (WORKSPACE/data for the built-in scaffolds)." in line


def test_infer_output_help_says_which_folder_it_is_relative_to():
    """--output is resolved against the current folder, --set MMAR_EVAL_OUTPUT_PATH against the
    MMAR: the help says so, since the two differ."""
    wide = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["infer", "--help"])
    assert wide.exit_code == 0, wide.output
    line = next(l for l in wide.output.splitlines() if l.startswith("│ --output"))
    assert "Output folder, relative to the current folder" in line


def test_library_error_becomes_one_line_and_exit_code(tmp_path: Path):
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "not an MMAR" in lines[0]
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path: Path):
    result = runner.invoke(app, ["--debug", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" in result.output


def test_usage_error_exits_2(tmp_path: Path):
    result = runner.invoke(app, ["check", str(tmp_path), "--set", "epochs"])
    assert result.exit_code == 2
    assert "expected KEY=VALUE" in result.output


@pytest.mark.parametrize("args, expected", [
    (["train", "x", "--set", "a=1", "b=2"], ["train", "x", "--set", "a=1", "--set", "b=2"]),
    (["train", "--set", "a=1", "x"], ["train", "--set", "a=1", "x"]),
    (["train", "-s", "a=1", "b=[1,2]", "--epochs", "3"],
     ["train", "-s", "a=1", "--set", "b=[1,2]", "--epochs", "3"]),
    (["check", "dir=with=eq"], ["check", "dir=with=eq"]),
])
def test_clara_style_set_lists_are_expanded(args, expected):
    assert expand_set_items(args) == expected


def test_clara_style_set_list_stops_at_an_mmar_folder_named_like_key_value(tmp_path, monkeypatch):
    """`check --set epochs=1 exp_lr=1e-3`: the experiment folder was eaten as a --set item."""
    (tmp_path / "exp_lr=1e-3" / "config").mkdir(parents=True)
    (tmp_path / "b=2").mkdir()  # a folder that is no MMAR: still a --set item
    monkeypatch.chdir(tmp_path)
    assert expand_set_items(["check", "--set", "epochs=1", "exp_lr=1e-3"]) == \
        ["check", "--set", "epochs=1", "exp_lr=1e-3"]
    assert expand_set_items(["check", "--set", "a=1", "b=2"]) == \
        ["check", "--set", "a=1", "--set", "b=2"]


def test_a_single_dash_word_is_named_as_typed(tmp_path, monkeypatch):
    """`check -dash` said "no such option: -d", a letter the user never typed alone."""
    (tmp_path / "-dash").mkdir()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "-dash"])
    assert result.exit_code == 2
    assert ("error: no such option: -dash; for the path that starts with '-', write ./-dash "
            "or -- -dash") in result.output
    result = runner.invoke(app, ["train", "-help"])  # a Java/Go habit
    assert result.exit_code == 2
    assert "error: no such option: -help (did you mean --help?)" in result.output
    result = runner.invoke(app, ["check", "-x"])  # a one-letter option: click's words
    assert "error: no such option: -x;" in result.output


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "mmarctl", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"mmarctl {mmarctl.__version__}"


def test_runtime_verb_without_tensorflow_says_how_to_install(tmp_path: Path):
    """A core-only install: a valid MMAR passes the checks, then `train` names the extra."""
    workspace = tmp_path / "exp"
    script = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from mmarctl.cli import app\n"
        "def run(args):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as done:\n"
        "        if done.code:\n"
        "            raise\n"
        f"run(['clone', 'spleen', {str(workspace)!r}])\n"
        f"run(['data', 'synth', {str(workspace / 'data')!r}, '--cases', '3', '--size', '32'])\n"
        f"run(['train', {str(workspace)!r}, '--epochs', '1'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "pip install -e '.[cpu]' (or '.[gpu]') in the mmarctl checkout" in done.stderr
    assert not (workspace / "models" / "model.ckpt.index").exists()


class _ResourceExhaustedError(Exception):
    """Stands in for TensorFlow's error type: the OS's words are only in its message."""


@pytest.mark.parametrize("raised, line", [
    (OSError(28, "No space left on device", "/mnt/full/commands/train.sh"),
     "error: no space left on the device writing /mnt/full/commands/train.sh"),
    (_ResourceExhaustedError("models/model.ckpt_temp/part-00000-of-00001.data-00000-of-00001; "
                             "No space left on device [Op:SaveV2]"),
     "error: no space left on the device writing models/model.ckpt"),
    # TensorFlow names mmarctl's temporary prefix and its own folder under it: the line
    # names the checkpoint the user knows
    (_ResourceExhaustedError("{{function_node __wrapped__SaveV2_dtypes_1_device_/job:localhost/"
                             "replica:0/task:0/device:CPU:0}} /mnt/my_temp/a/models/"
                             "model_final.ckpt.tmp-8105_temp/part-00000-of-00001.data-00000-of-"
                             "00001.tempstate12; No space left on device [Op:SaveV2]"),
     "error: no space left on the device writing /mnt/my_temp/a/models/model_final.ckpt"),
    (_ResourceExhaustedError("No space left on device"), "error: no space left on the device"),
])
def test_a_full_disk_is_one_line_not_a_traceback(tmp_path, monkeypatch, raised, line):
    from mmarctl import scripts

    def full(*args, **kwargs):
        raise raised

    assert runner.invoke(app, ["init", str(tmp_path / "m")]).exit_code == 0
    monkeypatch.setattr(scripts, "write_commands", full)
    result = runner.invoke(app, ["commands", str(tmp_path / "m")])
    assert result.exit_code == 1
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(line + " (free some space"), result.output


@pytest.mark.parametrize("raised, line", [
    (PermissionError(13, "Permission denied", "x"), "error: x: Permission denied"),
    # os.replace(temporary, target) of an immutable file or over a folder: the target
    (PermissionError(1, "Operation not permitted", "eval/.metrics.json.ab12.tmp",
                     None, "eval/metrics.json"),
     "error: eval/metrics.json: cannot write: Operation not permitted"),
    (IsADirectoryError(21, "Is a directory", "eval/.metrics.json.ab12.tmp", None,
                       "eval/metrics.json"),
     "error: eval/metrics.json: cannot write: is a folder, expected a file"),
])
def test_other_os_errors_are_one_line_naming_the_file_not_a_full_disk(tmp_path, monkeypatch,
                                                                      raised, line):
    from mmarctl import scripts

    def denied(*args, **kwargs):
        raise raised

    assert runner.invoke(app, ["init", str(tmp_path / "m")]).exit_code == 0
    monkeypatch.setattr(scripts, "write_commands", denied)
    result = runner.invoke(app, ["commands", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert [l for l in result.output.splitlines() if l.strip()] == [line], result.output


def test_an_error_that_is_no_file_error_is_still_a_traceback(tmp_path, monkeypatch):
    from mmarctl import scripts

    def bug(*args, **kwargs):
        raise ValueError("a bug")

    assert runner.invoke(app, ["init", str(tmp_path / "m")]).exit_code == 0
    monkeypatch.setattr(scripts, "write_commands", bug)
    result = runner.invoke(app, ["commands", str(tmp_path / "m")])
    assert isinstance(result.exception, ValueError)


def test_a_deleted_current_folder_is_one_line(tmp_path):
    # `rm -rf` of the folder a shell stands in, then any verb: a getcwd traceback before.
    import os
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()
    code = ("import os, shutil, sys; os.chdir(sys.argv[1]); shutil.rmtree(sys.argv[1]); "
            "sys.argv = ['mmarctl', 'check']; from mmarctl.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code, str(gone)], capture_output=True,
                          text=True, env={**os.environ, "MMAR_ROOT": ""})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "the current folder no longer exists" in done.stderr
