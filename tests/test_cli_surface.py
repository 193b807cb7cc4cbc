"""What a user sees of the command line itself: interrupts while it loads, usage errors,
--debug anywhere, help layout, broken pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from mmarctl.cli import app

runner = CliRunner()


def _python(code: str, *args: str, stdin=None) -> subprocess.CompletedProcess:
    # SIGINT as a terminal gives it, whatever the suite inherited (a background job's
    # shell starts it ignored, and Python then installs no handler of its own).
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=120, stdin=stdin,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


# -- Ctrl-C while the CLI loads -----------------------------------------------------------

def test_ctrl_c_while_the_cli_loads_is_one_line_and_130():
    """SIGINT arrives while mmarctl.cli imports Typer (deterministically: an import hook sends
    it): one line, exit 130, no import traceback."""
    result = _python("""
        import os, signal, sys
        class Kick:
            def find_spec(self, name, path=None, target=None):
                if name == "typer":
                    os.kill(os.getpid(), signal.SIGINT)
                return None
        sys.meta_path.insert(0, Kick())
        from mmarctl.cli import main
        sys.argv = ["mmarctl", "--version"]
        main()
    """)
    assert result.returncode == 130, result.stderr
    assert result.stderr == "mmarctl: interrupted\n"
    assert result.stdout == ""


def test_ctrl_c_is_python_s_again_once_the_cli_is_loaded():
    result = _python("""
        import signal
        import mmarctl.cli
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


def test_an_ignored_sigint_stays_ignored_while_loading():
    """`nohup` or a script's background job starts mmarctl with SIGINT ignored: it stays so."""
    result = _python("""
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        import mmarctl.cli
        print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    """)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


# -- usage errors: one line in mmarctl's own style ------------------------------------------

@pytest.mark.parametrize("args, line", [
    (["train", "x", "--epochs", "0"],
     "error: --epochs must be at least 1 (got 0); try 'mmarctl train -h'"),
    (["train", "x", "--lr", "abc"],
     "error: --learning-rate must be a number (got abc); try 'mmarctl train -h'"),
    (["train", "x", "--epochs", "1.5"],
     "error: --epochs must be a whole number (got 1.5); try 'mmarctl train -h'"),
    (["train", "x", "--seed", "-1"],
     "error: --seed must be in 0..4294967295 (got -1); try 'mmarctl train -h'"),
    (["init", "--task", "foo", "d"],
     "error: --task must be segmentation or classification (got foo); try 'mmarctl init -h'"),
    (["init"], "error: missing argument DIR; try 'mmarctl init -h'"),
    (["train", "--bogus"],
     "error: no such option: --bogus (did you mean --gpus?); try 'mmarctl train -h'"),
    (["train", "x", "--epochs"], "error: --epochs needs a value"),
    # an option other verbs take, named with them
    (["validate", "x", "--epochs", "2"],
     "error: no such option: --epochs (finetune and train take --epochs; validate does not)"),
    (["check", "a", "b"], "error: unexpected extra argument(s): b; try 'mmarctl check -h'"),
    # Clara's `train.sh epochs=5` form: the verb's --set, not only "unexpected".
    (["train", "x", "epochs=5", "lr=0.1"],
     "error: unexpected extra argument(s): epochs=5 lr=0.1 (did you mean --set epochs=5 "
     "lr=0.1?)"),
    (["clone", "spleen", "x", "epochs=5"],
     "error: unexpected extra argument(s): epochs=5; try 'mmarctl clone -h'"),
    (["frob"], "error: no such command 'frob'; try 'mmarctl -h'"),
    (["chek"], "error: no such command 'chek' (did you mean 'check' or 'schema'?); "
               "try 'mmarctl -h'"),
    (["data", "frob"], "error: no such command 'frob'; try 'mmarctl data -h'"),
    (["--bogus"], "error: no such option: --bogus; try 'mmarctl -h'"),
])
def test_usage_errors_are_one_line_in_mmarctl_s_style(args, line):
    """Typer's checks (ranges, types, choices, unknown options) read like mmarctl's own: one
    `error:` line naming the option, exit 2; no usage block, no box, no pydantic wording."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [line]


def test_bare_mmarctl_prints_help_and_exits_2():
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert "Usage: mmarctl" in result.output and "error" not in result.output


# -- --debug after the verb ---------------------------------------------------------------

def test_debug_after_the_verb_works_like_before_it(tmp_path):
    result = runner.invoke(app, ["check", str(tmp_path), "--debug"])
    assert result.exit_code == 1, result.output
    assert "Traceback" in result.output and "not an MMAR" in result.output


def test_debug_after_double_dash_is_left_alone():
    from mmarctl.cli import debug_first

    assert debug_first(["train", "x", "--debug", "--", "--debug"]) == \
        ["--debug", "train", "x", "--", "--debug"]
    assert debug_first(["train", "x"]) == ["train", "x"]


# -- help layout ------------------------------------------------------------------------

_VERBS = [[], ["init"], ["clone"], ["check"], ["schema"], ["commands"], ["data"],
          ["data", "synth"], ["train"], ["finetune"], ["validate"], ["infer"], ["export"],
          ["doctor"], ["automl"], ["compare"], ["clara-shim"], ["clara-shim", "install"]]


@pytest.mark.parametrize("verb", _VERBS, ids=lambda verb: " ".join(verb) or "mmarctl")
def test_help_at_80_columns_cuts_nothing_and_shows_one_metavar_style(verb):
    """No word is cut to "…" at 80 columns, and no Typer type label (`<bool>`, `<str>`,
    `<path>`) or `{REQUIRED}` argument appears beside mmarctl's upper-case metavars."""
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, [*verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    for label in ("<bool>", "<str>", "<path>", "<int>", "<float>", "<list"):
        assert label not in result.output, label
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage


def test_usage_and_arguments_are_upper_case_and_flags_show_no_type():
    wide = CliRunner(env={"COLUMNS": "200"})
    train = wide.invoke(app, ["train", "--help"]).output
    assert "Usage: mmarctl train [OPTIONS] [MMAR]" in train
    resume = next(line for line in train.splitlines() if line.startswith("│ --resume"))
    assert resume.split()[2] == "Continue"  # no type cell between the flag and its help
    assert "│ --learning-rate, --lr  FLOAT" in train
    assert "Usage: mmarctl init [OPTIONS] DIR" in wide.invoke(app, ["init", "--help"]).output
    assert "Usage: mmarctl compare [OPTIONS] [MMAR...]" in \
        wide.invoke(app, ["compare", "--help"]).output


# -- $MMAR_ROOT -----------------------------------------------------------------------------

def test_a_bad_mmar_root_is_named_as_coming_from_the_environment(tmp_path):
    missing = tmp_path / "nonexist"
    result = runner.invoke(app, ["check"], env={"MMAR_ROOT": str(missing)})
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: $MMAR_ROOT={missing}: no such folder "
                                     "(unset MMAR_ROOT or give the MMAR as an argument)")
    not_mmar = runner.invoke(app, ["check"], env={"MMAR_ROOT": str(tmp_path)})
    assert not_mmar.exit_code == 1 and f"$MMAR_ROOT={tmp_path}: not an MMAR" in not_mmar.output
    given = runner.invoke(app, ["check", str(missing)], env={"MMAR_ROOT": str(tmp_path)})
    assert given.output.strip() == f"error: {missing}: no such folder"


# -- help texts ----------------------------------------------------------------------------

def test_root_help_shows_its_example_and_export_its_default_format():
    wide = CliRunner(env={"COLUMNS": "200"})
    root = wide.invoke(app, ["--help"]).output
    assert "Example: mmarctl clone spleen my-exp && mmarctl data synth my-exp" in root
    export = wide.invoke(app, ["export", "--help"]).output
    assert "Default: fzn only." in export
    for name in ("fzn", "savedmodel", "onnx", "triton", "trt", "all"):
        assert name in export
    schema = wide.invoke(app, ["schema", "--help"]).output
    assert "mkdir -p .vscode && mmarctl schema config_train" in schema


def test_root_help_lists_every_verb_in_command_order():
    """Every verb has its place in COMMAND_ORDER (none falls to the end alphabetically)."""
    from mmarctl.cli import COMMAND_ORDER

    root = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--help"]).output
    listed = [line.split()[1] for line in root.split("Commands")[1].splitlines()
              if line.startswith("│ ") and not line.startswith("│  ")]
    assert listed == COMMAND_ORDER


# -- broken pipe --------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["clone", "--list"], ["--help"], ["schema", "config_train"]])
def test_a_closed_stdout_ends_quietly_with_141(args):
    """`mmarctl clone --list | head -1`: once the reader has gone, mmarctl stops with no
    message and 128 + SIGPIPE, as a shell tool ended by the broken pipe would (not 1, which
    means an error). The pipe's read end is closed before mmarctl writes, so it always breaks."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "mmarctl", *args], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""
