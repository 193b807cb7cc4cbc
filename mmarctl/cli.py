"""The ``mmarctl`` command line: one Typer app, one error boundary.

Each verb lives in its own module under :mod:`mmarctl.commands` and exposes
``register(app)``. Command modules import only light libraries at module level, so
``mmarctl --help``, ``init``, ``clone`` and ``check`` never load TensorFlow.
"""

from __future__ import annotations

from mmarctl import entry as _entry

_entry.hold_interrupts()  # Ctrl-C while Typer, rich and the verbs load: one line (entry.py)

import importlib  # noqa: E402 - the imports below are the slow part the guard covers
import os
import pkgutil
import re
import sys
import traceback
from typing import Annotated, Any

import typer
from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError

import mmarctl
from mmarctl import commands as _commands_pkg
from mmarctl.cli_help import MmarGroup, install_help_layout, tidy_help
from mmarctl.errors import (STANDARD_OUTPUT, ExitCode, MissingDependency, MmarError,
                            note_writing, write_failed)
from mmarctl.usage_errors import single_dash_word, usage_message

#: Verbs in the order ``--help`` lists them; modules not named here follow alphabetically.
#: Grouped: make a workspace, check it, run it (automl beside train), look at results, ship
#: the model, then the environment (doctor, and clara-shim for Clara's own scripts).
COMMAND_ORDER = ["init", "clone", "check", "schema", "commands", "data", "train", "finetune",
                 "automl", "validate", "infer", "compare", "export", "doctor", "clara-shim"]


class _State:
    debug = False
    args: list[str] = []


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
            raise typer.Exit(_interrupted_exit_code()) from None
        except OSError as error:  # --help, --version > /dev/full: only they write here
            _exit_stdout_failed(error)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _State.args = list(args)  # the words as typed, for usage errors' lines
        return super().parse_args(ctx, debug_first(expand_set_items(args)))

    def invoke(self, ctx: Any) -> Any:
        from mmarctl.staging import terminating_signals_raised

        try:
            # SIGTERM / SIGHUP unwind like Ctrl-C in every verb (locks released, staged
            # outputs removed, one line, 130) instead of ending the process on the spot;
            # training and automl install their own handlers inside.
            with terminating_signals_raised():
                return super().invoke(ctx)
        except UsageError as error:  # a verb's (or sub-group's) options and arguments
            _exit_usage(error)
        except MmarError as error:
            if _disguised_interrupt(error):
                _exit_interrupted()
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
            _exit_interrupted()
        except BrokenPipeError:  # `mmarctl clone --list | head -1`
            _exit_broken_pipe()
        except Exception as error:  # noqa: BLE001 - only file errors are turned into a line
            # A full disk, a permission, an immutable file, a folder where a file goes: the
            # user's to fix, so one line naming the file; anything else is a bug (traceback).
            failed = write_failed(error)
            if failed is None and isinstance(error, FileNotFoundError):
                failed = _deleted_current_folder()
            if failed is None and _disguised_interrupt(error):
                _exit_interrupted()
            if failed is None:
                raise
            if _State.debug:
                traceback.print_exc()
            _print_error(failed)
            raise typer.Exit(int(failed.exit_code)) from None


def _disguised_interrupt(error: BaseException) -> bool:
    """A Ctrl-C that TensorFlow's tracing handed back as another error
    (:func:`mmarctl.runtime.interrupts.disguised_interrupt`; that module imports no
    TensorFlow), or, in a worker its launcher stopped, a collective that failed because
    the other workers had stopped first (the stop reached this one inside it)."""
    from mmarctl import worker_stop
    from mmarctl.runtime.interrupts import disguised_interrupt

    if disguised_interrupt(error):
        return True
    if not worker_stop.stopped():
        return False
    from mmarctl.runtime.distributed import is_peer_failure

    return is_peer_failure(error)


def _exit_interrupted() -> None:
    """``mmarctl: interrupted`` and exit 130, with no traceback."""
    raise typer.Exit(_interrupted_exit_code()) from None


def _interrupted_exit_code() -> int:
    """Says ``mmarctl: interrupted`` and returns 130; a worker that its launcher stopped says
    nothing and returns 0 (the launching mmarctl reports the stop: mmarctl.worker_stop)."""
    from mmarctl import worker_stop

    if worker_stop.stopped():
        return 0
    print(_entry.MESSAGE, file=sys.stderr)
    return int(ExitCode.INTERRUPTED)


def _deleted_current_folder() -> MmarError | None:
    """The line :func:`mmarctl.staging.current_folder` gives when the current folder was
    deleted under this process (a getcwd failure deep in any verb), else None."""
    from mmarctl.staging import current_folder

    try:
        current_folder()
    except MmarError as gone:
        return gone
    return None


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

    Every KEY=VALUE word that directly follows a ``--set`` item joins that ``--set``, unless
    it names an MMAR folder here (``--set epochs=1 exp_lr=1e-3``: the experiment to run).
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
        elif in_set and _KEY_VALUE.match(word) and not _is_mmar_folder(word):
            out.extend(["--set", word])
        else:
            out.append(word)
            in_set = False
    return out


def _is_mmar_folder(word: str) -> bool:
    """Whether ``word`` is a folder with a config/ folder (an MMAR) under the current one."""
    try:
        return os.path.isdir(os.path.join(word, "config"))
    except (OSError, ValueError):  # a name the file system cannot take
        return False


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
        from mmarctl.console import output_reader_gone, work_outlives_reader

        self.quiet = True
        if work_outlives_reader():  # train ... | head -1: the output ends, not the training
            output_reader_gone(self.file)
            return
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
    if isinstance(error, NoSuchOption):  # -dash: click names -d, which was never typed
        options = ([opt for param in ctx.command.get_params(ctx) for opt in param.opts]
                   if ctx is not None else [])
        line = single_dash_word(error, _State.args, options) or line
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        hint = f"; try '{ctx.command_path} -h'"
        if len(line) + len(hint) <= _HINT_WIDTH:
            line += hint
    _print_error(line)
    raise typer.Exit(int(ExitCode.USAGE))


app = typer.Typer(
    name="mmarctl",
    cls=GuardedGroup,
    # Given here, this text (not the callback's docstring) is what `mmarctl --help` shows.
    help="Create, check, train, evaluate and ship MMAR (Medical Model ARchive) workspaces."
         "\n\nExample: mmarctl clone spleen my-exp && mmarctl data synth my-exp && "
         "mmarctl check my-exp && mmarctl train my-exp",
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


_register_commands()
tidy_help(app)
install_help_layout()
_install_broken_pipe_exit()
_entry.release_interrupts()


def _exit_stdout_failed(error: OSError) -> None:
    """One line for a write to stdout that failed (a full disk, /dev/full), exit 1."""
    note_writing(error, STANDARD_OUTPUT)
    failed = write_failed(error)
    if _State.debug:
        traceback.print_exc()
    _print_error(failed if failed is not None else f"cannot write to standard output: {error}")
    raise typer.Exit(int(ExitCode.ERROR))


def _safe_stdout() -> None:
    """Characters stdout's encoding lacks (PYTHONIOENCODING=ascii, a Latin-1 locale) are
    written as escapes, as Python does on stderr: a path with ü is no reason to fail a
    command whose work is done."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a stream that cannot change now
            pass


def main() -> None:
    """Console-script entry point."""
    from mmarctl.console import log_own_warnings

    _safe_stdout()
    log_own_warnings()
    try:
        try:
            app()
        finally:  # output still buffered meets a closed pipe here, not at interpreter exit
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                raise
            except OSError as error:  # a full disk under `> log`: one line, exit 1
                try:
                    _exit_stdout_failed(error)
                except typer.Exit as stop:
                    sys.exit(stop.exit_code)
    except BrokenPipeError:
        _exit_broken_pipe()
    except KeyboardInterrupt:  # outside a verb's own boundary (GuardedGroup.invoke)
        sys.exit(_interrupted_exit_code())
