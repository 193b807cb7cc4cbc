"""How mmarctl's help looks: one style for every verb.

Typer 0.29 shows ``<bool>`` / ``<str>`` type cells beside mmarctl's own metavars, wraps
required arguments in ``{}``, keeps a docstring's line breaks and, at 80 columns, cuts
option names and help with "…". The command classes and the options panel here give
upper-case arguments, no type for flags, and help that wraps at the terminal's width.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup


class _TidyUsage:
    """For every verb and group: arguments named in upper case (``MMAR``, ``DIR``) in help,
    usage and errors, and a required one written bare, not Typer's ``{DIR}``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument) and param.metavar is None:
                param.metavar = (param.name or "value").upper()

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        ours = {}
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or ""
                if param.nargs != 1 and not name.endswith("..."):
                    name += "..."
                for piece in param.get_usage_pieces(ctx):
                    ours[piece] = name if param.required else f"[{name}]"
        return [ours.get(piece, piece) for piece in pieces]


class MmarCommand(_TidyUsage, TyperCommand):
    """The class of every verb (set by :func:`tidy_help`)."""


class MmarGroup(_TidyUsage, TyperGroup):
    """The class of every group of verbs (``data``, ``clara-shim``)."""


def reflowed(text: str) -> str:
    """``text`` with each paragraph on one line, so that help wraps at the terminal's width.

    Typer's rich help keeps a docstring's single line breaks, which at 80 columns break
    sentences in the middle; paragraphs (blank-line separated) stay apart."""
    return "\n\n".join(" ".join(line.strip() for line in paragraph.splitlines())
                        for paragraph in inspect.cleandoc(text).split("\n\n"))


def tidy_help(typer_app: typer.Typer) -> None:
    """Give every verb of ``typer_app`` (and of its sub-apps) its docstring reflowed, and
    mmarctl's command classes (:class:`MmarCommand`, :class:`MmarGroup`)."""
    for info in typer_app.registered_commands:
        doc = info.help or inspect.getdoc(info.callback)
        if doc:
            info.help = reflowed(doc)
        if not isinstance(info.cls, type) or info.cls is TyperCommand:  # Typer's default
            info.cls = MmarCommand
    for group in typer_app.registered_groups:
        if not isinstance(group.cls, type) or group.cls is TyperGroup:
            group.cls = MmarGroup
        tidy_help(group.typer_instance)


def _value_name(param: Any) -> str:
    """What an option takes, for the help's second column: its metavar, else ``a|b`` for a
    choice, ``N``, ``FLOAT``, ``PATH`` or ``TEXT``; nothing for a flag or an argument."""
    if isinstance(param, TyperArgument) or getattr(param, "is_flag", False):
        return ""
    if param.metavar is not None:
        return param.metavar
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:
        return "VALUE"
    if descriptor.choices:
        return "|".join(str(getattr(choice, "value", choice)) for choice in descriptor.choices)
    if descriptor.is_path:
        return "PATH"
    annotation = descriptor.annotation
    return {int: "N", float: "FLOAT"}.get(annotation, "TEXT")  # type: ignore[call-overload]


def _range_words(param: Any) -> str:
    """``at least 1``, ``0 to 4294967295``: an option's bounds in words, or ``""``."""
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    return f"at most {high}" if high is not None else ""


def _options_panel(*, name: str, params: list[Any], ctx: Any, markup_mode: Any,
                   console: Any) -> None:
    """Typer's Arguments/Options panel in three columns: names, value, help.

    Typer 0.29 draws five (long, short, negative, negative short, type), shows ``<bool>`` /
    ``<str>`` types beside mmarctl's metavars, and at 80 columns leaves the help about 20
    characters, cutting options and long words with "…". Here the names and value columns
    never wrap, and the help takes the rest of the width and folds words longer than it."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
    from typer import rich_utils

    rows = []
    for param in params:
        if isinstance(param, TyperArgument):
            names = rich_utils.highlighter(param.metavar or param.name or "")
        else:
            ordered = sorted(param.opts, key=lambda opt: not opt.startswith("--"))
            names = rich_utils.highlighter(", ".join(ordered))
            if param.secondary_opts:
                names.append(" / ")
                names.append_text(rich_utils.negative_highlighter(
                    ", ".join(param.secondary_opts)))
        value = Text(_value_name(param), style=rich_utils.STYLE_TYPES)
        described = rich_utils._get_parameter_help(param=param, ctx=ctx,
                                                   markup_mode=markup_mode)
        parts = list(described.renderables)
        if not all(isinstance(part, Text) for part in parts):  # markdown help: Typer's own
            help_cell: Any = described
        else:
            help_cell = Text(" ").join(parts)
            bounds = _range_words(param)
            if bounds:
                help_cell.append(f" [{bounds}]", style=rich_utils.STYLE_OPTION_DEFAULT)
            help_cell.overflow = "fold"
        required = Text(rich_utils.REQUIRED_SHORT_STRING if param.required else "",
                        style=rich_utils.STYLE_REQUIRED_SHORT)
        rows.append([required, names, value, help_cell])
    if not rows:
        return
    if _help_width(rows, console.width) < _NARROW_HELP:
        console.print(Panel(_stacked(rows), border_style=rich_utils.STYLE_OPTIONS_PANEL_BORDER,
                            title=name, title_align=rich_utils.ALIGN_OPTIONS_PANEL))
        return
    table = Table(highlight=True, show_header=False, expand=True, box=None, pad_edge=False,
                  padding=(0, 1))
    if any(row[0].plain for row in rows):
        table.add_column(no_wrap=True)
    else:
        rows = [row[1:] for row in rows]
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(Panel(table, border_style=rich_utils.STYLE_OPTIONS_PANEL_BORDER, title=name,
                        title_align=rich_utils.ALIGN_OPTIONS_PANEL))


#: Below this many columns for the help text, each option's help goes under its names
#: (a split terminal pane, a 60-column window) instead of a column 3 letters wide.
_NARROW_HELP = 30


def _help_width(rows: list[list[Any]], width: int) -> int:
    """The columns the help text would get beside the names and value columns: the panel's
    border and padding take 4, each column gap 1."""
    fixed = sum(max(row[i].cell_len for row in rows) + 1 for i in range(len(rows[0]) - 1))
    return width - 4 - fixed


def _stacked(rows: list[list[Any]]) -> Any:
    """The options as a narrow terminal shows them: names and value on one line, the help
    on the lines under it, indented."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    parts: list[Any] = []
    for *head, help_cell in rows:
        line = Text(" ").join(cell for cell in head if cell.plain)
        parts.append(line)
        parts.append(Padding(help_cell, (0, 0, 0, 4)))
    return Group(*parts)


def install_help_layout() -> None:
    """Draw option panels with :func:`_options_panel`.

    Typer has no public hook for the panel's layout, so its module function is replaced;
    pyproject.toml pins typer to the 0.29 line this was written and tested against."""
    from typer import rich_utils

    if hasattr(rich_utils, "_print_options_panel"):
        rich_utils._print_options_panel = _options_panel
    make_console = getattr(rich_utils, "_get_rich_console", None)
    if make_console is not None and not getattr(make_console, "notes_stdout", False):
        def help_console(stderr: bool = False) -> Any:
            console = make_console(stderr=stderr)
            if not stderr:
                _note_stdout_failures(console)
            return console

        help_console.notes_stdout = True  # type: ignore[attr-defined]
        rich_utils._get_rich_console = help_console


def _note_stdout_failures(console: Any) -> None:
    """Make a failed write of ``console`` (help on stdout, ``> /dev/full``) say that it was
    stdout's, as mmarctl's own output does: the error itself names no file."""
    from mmarctl.errors import STANDARD_OUTPUT, note_writing

    write = console._write_buffer

    def noted_write() -> None:
        try:
            write()
        except OSError as error:
            note_writing(error, STANDARD_OUTPUT)
            raise

    console._write_buffer = noted_write
