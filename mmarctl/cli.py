"""The ``mmarctl`` command line: one Typer app, one error boundary.

Each verb lives in its own module under :mod:`mmarctl.commands` and exposes
``register(app)``. Command modules import only light libraries at module level, so
``mmarctl --help``, ``init``, ``clone`` and ``check`` never load TensorFlow.
"""

from __future__ import annotations

from mmarctl import entry as _entry

_entry.hold_interrupts()  # Ctrl-C while Typer, rich and the verbs load: one line (entry.py)

import importlib  # noqa: E402 - the imports below are the slow part the guard covers
import inspect
import os
import pkgutil
import re
import sys
import traceback
from typing import Annotated, Any

import typer
from typer._click.exceptions import (BadOptionUsage, BadParameter, MissingParameter,
                                     NoArgsIsHelpError, NoSuchOption, UsageError)
from typer.core import TyperArgument, TyperCommand, TyperGroup

import mmarctl
from mmarctl import commands as _commands_pkg
from mmarctl.errors import ExitCode, MissingDependency, MmarError, disk_full

#: Verbs in the order ``--help`` lists them; modules not named here follow alphabetically.
#: Grouped: make a workspace, check it, run it (automl beside train), look at results, ship
#: the model, then the environment (doctor, and clara-shim for Clara's own scripts).
COMMAND_ORDER = ["init", "clone", "check", "schema", "commands", "data", "train", "finetune",
                 "automl", "validate", "infer", "compare", "export", "doctor", "clara-shim"]


class _State:
    debug = False


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
    """The class of every verb (set by :func:`_tidy_help`)."""


class MmarGroup(_TidyUsage, TyperGroup):
    """The class of every group of verbs (``data``, ``clara-shim``)."""


class GuardedGroup(MmarGroup):
    """The single error boundary: an :class:`MmarError` becomes one line and an exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        # The root's own options are parsed here, outside invoke()
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as error:
            _exit_usage(error)
        except BrokenPipeError:  # `mmarctl --help | head -1`
            _exit_broken_pipe()
        except KeyboardInterrupt:  # Typer would exit 130 here without a word
            print(_entry.MESSAGE, file=sys.stderr)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, debug_first(expand_set_items(args)))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:  # a verb's (or sub-group's) options and arguments
            _exit_usage(error)
        except MmarError as error:
            if _State.debug:
                traceback.print_exc()
            _print_error(error)
            raise typer.Exit(int(error.exit_code)) from None
        except ModuleNotFoundError as missing:
            hint = _INSTALL_HINTS.get((missing.name or "").split(".")[0])
            if hint is None:
                raise
            if _State.debug:
                traceback.print_exc()
            _print_error(MissingDependency(f"this verb needs the {missing.name} package",
                                           hint=hint))
            raise typer.Exit(int(ExitCode.ERROR)) from None
        except (RecursionError, MemoryError) as exhausted:
            # Inputs are bounded where they are read (mmarctl.jsonio); this is the last
            # resort for one that slipped through: a line, not a page of repeated frames.
            if _State.debug:
                traceback.print_exc()
            what = "nested too deeply" if isinstance(exhausted, RecursionError) else "too large"
            _print_error(MmarError(f"an input is {what} to process ({type(exhausted).__name__})",
                                   hint="run `mmarctl check` to find it; --debug shows where"))
            raise typer.Exit(int(ExitCode.ERROR)) from None
        except KeyboardInterrupt:
            print(_entry.MESSAGE, file=sys.stderr)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:  # `mmarctl clone --list | head -1`
            _exit_broken_pipe()
        except Exception as error:  # noqa: BLE001 - only a full disk is turned into a line
            full = disk_full(error)
            if full is None:
                raise
            if _State.debug:
                traceback.print_exc()
            _print_error(full)
            raise typer.Exit(int(full.exit_code)) from None


#: Optional packages a verb may need, and how to install each (mmarctl runs from its checkout).
_INSTALL_HINTS = {
    "tensorflow": "install the runtime: pip install -e '.[cpu]' (or '.[gpu]')"
                  " in the mmarctl checkout",
    "keras": "install the runtime: pip install -e '.[cpu]' (or '.[gpu]') in the mmarctl checkout",
    "tf2onnx": "install the export tools: pip install -e '.[export]' in the mmarctl checkout",
    "onnxruntime": "install the export tools: pip install -e '.[export]' in the mmarctl checkout",
    "onnx": "install the export tools: pip install -e '.[export]' in the mmarctl checkout",
    "horovod": "build it against your TensorFlow: scripts/install_horovod.sh",
}

_SET_OPTIONS = {"--set", "-s"}
_KEY_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*=")


def debug_first(args: list[str]) -> list[str]:
    """Accept ``--debug`` anywhere before ``--``: ``mmarctl check x --debug`` is
    ``mmarctl --debug check x`` (the root option, which the verbs do not know)."""
    end = args.index("--") if "--" in args else len(args)
    found = [word for word in args[:end] if word == "--debug"]
    if not found:
        return args
    return ["--debug", *(word for word in args[:end] if word != "--debug"), *args[end:]]


def expand_set_items(args: list[str]) -> list[str]:
    """Accept Clara's ``--set A=1 B=2`` by turning it into ``--set A=1 --set B=2``.

    Every KEY=VALUE word that directly follows a ``--set`` item joins that ``--set``.
    """
    out: list[str] = []
    in_set = False
    expect_value = False
    for word in args:
        if expect_value:
            out.append(word)
            expect_value, in_set = False, True
        elif word in _SET_OPTIONS:
            out.append(word)
            expect_value = True
        elif in_set and _KEY_VALUE.match(word):
            out.extend(["--set", word])
        else:
            out.append(word)
            in_set = False
    return out


def _print_error(error: MmarError | str) -> None:
    from rich.markup import escape

    from mmarctl.console import err

    err.print(f"[bold red]error:[/] {escape(str(error))}", markup=True, highlight=False)


#: Exit code when stdout's reader has gone (`mmarctl ... | head -1`): 128 + SIGPIPE, what a
#: shell reports for a tool that a broken pipe ends (README, Exit codes).
BROKEN_PIPE = 141


def _exit_broken_pipe() -> None:
    """Stop quietly: the reader of stdout has gone, so there is no one to tell anything.

    SystemExit, not typer.Exit: it passes every handler unchanged, including Typer's own
    (which would turn the broken pipe into exit 1) and rich's printing."""
    try:  # later writes and the interpreter's final flush go nowhere instead of failing again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's capture)
        pass
    raise SystemExit(BROKEN_PIPE)


def _install_broken_pipe_exit() -> None:
    """Make rich end a broken pipe with :data:`BROKEN_PIPE` too (it exits 1 by default).

    Help and most output are printed by rich, which catches the BrokenPipeError itself and
    calls ``Console.on_broken_pipe``, the hook its documentation offers for this."""
    from rich.console import Console

    def on_broken_pipe(self: Console) -> None:
        self.quiet = True
        _exit_broken_pipe()

    Console.on_broken_pipe = on_broken_pipe  # type: ignore[method-assign]


#: A usage error's line stays one terminal line: the help hint is added only below this length.
_HINT_WIDTH = 100


def _exit_usage(error: UsageError) -> None:
    """Print a Click/Typer usage error as mmarctl's own one ``error:`` line and exit 2.

    Typer would print the usage, a help hint and a boxed panel in pydantic's words ("Input
    should be greater than or equal to 1"); mmarctl's own option checks print one line."""
    if isinstance(error, NoArgsIsHelpError):  # bare `mmarctl` / `mmarctl data`: help is out
        raise typer.Exit(int(ExitCode.USAGE))
    line = usage_message(error)
    ctx = error.ctx
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        hint = f"; try '{ctx.command_path} -h'"
        if len(line) + len(hint) <= _HINT_WIDTH:
            line += hint
    _print_error(line)
    raise typer.Exit(int(ExitCode.USAGE))


def usage_message(error: UsageError) -> str:
    """One plain sentence for a Click/Typer usage error, naming the option or argument."""
    if isinstance(error, BadParameter):
        name = _param_name(error)
        if isinstance(error, MissingParameter):
            kind = error.param.param_type_name if error.param is not None else "value"
            return f"missing {kind} {name}"
        value = _bad_value(error)
        return f"{name}{'' if value.startswith(':') else ' '}{value}"
    if isinstance(error, NoSuchOption):
        close = f" (did you mean {' or '.join(sorted(error.possibilities))}?)" \
            if error.possibilities else ""
        return f"no such option: {error.option_name}{close}"
    message = error.message.strip()
    if isinstance(error, BadOptionUsage):
        message = (message.replace(f"Option '{error.option_name}' requires an argument",
                                   f"{error.option_name} needs a value")
                   .replace(f"Option '{error.option_name}' does not take a value",
                            f"{error.option_name} takes no value"))
    extra = re.fullmatch(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", message)
    if extra:
        return f"unexpected extra argument(s): {extra.group(1)}"
    close = re.fullmatch(r"(.*)\. Did you mean (.*)\?", message)
    if close:  # Typer's "No such command 'x'. Did you mean 'a', 'b'?"
        names = close.group(2).split(", ")
        either = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        message = f"{close.group(1)} (did you mean {either}?)"
    return (message[:1].lower() + message[1:]).rstrip(".")


def _param_name(error: BadParameter) -> str:
    """``--epochs`` for an option (its first long name), ``MMAR`` for an argument."""
    param = error.param
    if param is None:
        hint = error.param_hint
        return hint if isinstance(hint, str) or hint is None else str(hint[0]) or "value"
    if param.param_type_name == "argument":
        return (param.metavar or param.name or "argument").upper()
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return (longs or param.opts)[0]


def _bad_value(error: BadParameter) -> str:
    """What was wrong with the value, in plain words, e.g. ``must be at least 1 (got 0)``."""
    cause = error.__cause__
    details = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    if not details:  # Typer's own or a callback's message
        message = error.message.strip().rstrip(".")
        return f": {message[:1].lower() + message[1:]}"
    detail = details[0]
    kind, bounds, got = detail.get("type", ""), detail.get("ctx") or {}, detail.get("input")
    got_text = f" (got {got})" if isinstance(got, str) and got else ""
    param = error.param
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        if low is not None and high is not None:
            return f"must be in {low}..{high}{got_text}"
        for key, words in (("ge", "at least"), ("le", "at most"), ("gt", "greater than"),
                           ("lt", "less than")):
            if key in bounds:
                return f"must be {words} {bounds[key]}{got_text}"
    if kind.startswith("int_"):
        return f"must be a whole number{got_text}"
    if kind.startswith("float_"):
        return f"must be a number{got_text}"
    if kind.startswith("bool_"):
        return f"must be true or false{got_text}"
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None) if descriptor is not None else None
    if choices:
        names = [getattr(choice, "value", choice) for choice in choices]
        return f"must be {', '.join(map(str, names[:-1]))} or {names[-1]}{got_text}" \
            if len(names) > 1 else f"must be {names[0]}{got_text}"
    message = str(detail.get("msg", "")).removeprefix("Value error, ")
    message = message.replace("Input should be", "must be").rstrip(".")
    return f"{message}{got_text}"


app = typer.Typer(
    name="mmarctl",
    cls=GuardedGroup,
    # Given here, this text (not the callback's docstring) is what `mmarctl --help` shows.
    help="Create, check, train, evaluate and ship MMAR (Medical Model ARchive) workspaces."
         "\n\nExample: mmarctl clone spleen my-exp && mmarctl check my-exp && "
         "mmarctl train my-exp",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"mmarctl {mmarctl.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug",
                                        help="Show a traceback when a command fails, and "
                                             "TensorFlow's own log lines.")] = False,
) -> None:
    """Set the root options (the help text is the app's ``help``)."""
    _State.debug = debug
    if debug:  # TensorFlow's own warnings too (runtime.logs, runtime.model_sources.base)
        os.environ["MMARCTL_TF_LOGS"] = "1"


def _register_commands() -> None:
    for info in pkgutil.iter_modules(_commands_pkg.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_commands_pkg.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


def _reflowed(text: str) -> str:
    """``text`` with each paragraph on one line, so that help wraps at the terminal's width.

    Typer's rich help keeps a docstring's single line breaks, which at 80 columns break
    sentences in the middle; paragraphs (blank-line separated) stay apart."""
    return "\n\n".join(" ".join(line.strip() for line in paragraph.splitlines())
                        for paragraph in inspect.cleandoc(text).split("\n\n"))


def _tidy_help(typer_app: typer.Typer) -> None:
    """Give every verb of ``typer_app`` (and of its sub-apps) its docstring reflowed, and
    mmarctl's command classes (:class:`MmarCommand`, :class:`MmarGroup`)."""
    for info in typer_app.registered_commands:
        doc = info.help or inspect.getdoc(info.callback)
        if doc:
            info.help = _reflowed(doc)
        if not isinstance(info.cls, type) or info.cls is TyperCommand:  # Typer's default
            info.cls = MmarCommand
    for group in typer_app.registered_groups:
        if not isinstance(group.cls, type) or group.cls is TyperGroup:
            group.cls = MmarGroup
        _tidy_help(group.typer_instance)


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


def _install_help_layout() -> None:
    """Draw option panels with :func:`_options_panel`.

    Typer has no public hook for the panel's layout, so its module function is replaced;
    pyproject.toml pins typer to the 0.29 line this was written and tested against."""
    from typer import rich_utils

    if hasattr(rich_utils, "_print_options_panel"):
        rich_utils._print_options_panel = _options_panel


_register_commands()
_tidy_help(app)
_install_help_layout()
_install_broken_pipe_exit()
_entry.release_interrupts()


def main() -> None:
    """Console-script entry point."""
    try:
        try:
            app()
        finally:  # output still buffered meets a closed pipe here, not at interpreter exit
            sys.stdout.flush()
    except BrokenPipeError:
        _exit_broken_pipe()
    except KeyboardInterrupt:  # outside a verb's own boundary (GuardedGroup.invoke)
        print(_entry.MESSAGE, file=sys.stderr)
        sys.exit(int(ExitCode.INTERRUPTED))
