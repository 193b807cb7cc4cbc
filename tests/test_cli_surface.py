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
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=120, stdin=stdin)


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
