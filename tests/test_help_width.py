"""Help stays readable in a narrow terminal (a split pane, a 60-column window).

At 64 columns `data synth --help` gave its help a column three letters wide (about 120
lines), and below 60 the help text was dropped, leaving only option names.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def help_text(columns: int, *verb: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mmarctl", *verb, "--help"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("columns, verb", [(64, ("data", "synth")), (60, ("data", "synth")),
                                           (40, ("train",))])
def test_narrow_help_puts_each_option_help_under_its_names(columns, verb):
    text = help_text(columns, *verb)
    lines = text.splitlines()
    assert all(len(line) <= columns for line in lines), text
    options = text[text.index("Options"):]
    first = "--cases, -n N" if verb[0] == "data" else "--set, -s KEY=VALUE"
    assert first in options
    # the help text is there, in words, not letters
    words = "Number of cases" if verb[0] == "data" else "Override a global or environment"
    assert words in options, options


def test_wide_help_keeps_three_columns():
    options = help_text(120, "data", "synth")
    assert any(line.lstrip("│ ").startswith("--cases, -n") and "Number of cases" in line
               for line in options.splitlines()), options
