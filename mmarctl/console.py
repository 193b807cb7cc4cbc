"""Terminal output: rich on a terminal, plain text when piped, and progress for long work."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, ConsoleDimensions

from mmarctl.errors import STANDARD_OUTPUT, note_writing

#: The width of output that goes to a file or a pipe: wide enough that no table cell (a
#: path, a config key) is folded at an arbitrary column. Rich would assume 80 (or the
#: width of whatever terminal stdin or stderr is), and ``grep`` would then find half a path.
UNWRAPPED_WIDTH = 10_000


class _Console(Console):
    """A rich console whose width, when it does not write to a terminal, is
    :data:`UNWRAPPED_WIDTH` unless ``COLUMNS`` or an explicit width says otherwise; a
    terminal keeps its own width."""

    def _unwrapped_size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if self._width is None and not self.is_terminal and "COLUMNS" not in self._environ:
            return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)
        return size

    size = property(_unwrapped_size, Console.size.fset)

    def _write_buffer(self) -> None:
        # A write to stdout that fails (a full disk under `> log`) is said to be one:
        # the error itself names no file.
        try:
            super()._write_buffer()
        except OSError as error:
            if self.file is sys.stdout:
                note_writing(error, STANDARD_OUTPUT)
            raise


#: Whether the running verb's work is files (train, validate, ...), which must not end
#: because the reader of its output went away (:func:`keep_working_without_reader`).
_work_outlives_reader = False
_readers_gone: set[int] = set()


def keep_working_without_reader() -> None:
    """Called by the verbs whose work is files (train, finetune, automl, validate, infer,
    export, data synth): when the reader of stdout or stderr goes away (``2>&1 | head``, a
    closed ``tee``), the output ends, not the work. Other verbs end with exit 141 as a Unix
    tool does (``mmarctl compare | head -1``)."""
    global _work_outlives_reader
    _work_outlives_reader = True


def work_outlives_reader() -> bool:
    """Whether :func:`keep_working_without_reader` was called in this process."""
    return _work_outlives_reader


def output_reader_gone(stream: Any, what: str = "mmarctl") -> None:
    """``stream`` met a broken pipe: from now on it writes to the null device (what is still
    buffered, later lines and the interpreter's last flush succeed), and a log warning says
    why the output stops, for file handlers (an MMAR's log.config) that are still read."""
    import os

    try:
        descriptor = stream.fileno()
    except (OSError, ValueError, AttributeError):  # no real file descriptor: nothing to move
        return
    if descriptor in _readers_gone:
        return
    _readers_gone.add(descriptor)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, descriptor)
        os.close(null)
    except OSError:
        return
    logging.getLogger("mmarctl").warning(
        "%s: the output's reader went away (broken pipe); the work goes on without output",
        what)


def log_own_warnings() -> None:
    """Show the warnings mmarctl's own components raise (a value the runtime accepts but
    changes, e.g. SegResnet's group count) as log lines, not Python's ``file.py:166:
    UserWarning`` and a source line; ``check`` collects the same warnings as notes. Warnings
    from other code keep Python's form."""
    import warnings

    shown_before = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, UserWarning) and _warned_by_mmarctl():
            logging.getLogger("mmarctl").warning("%s", message)
            return
        shown_before(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _warned_by_mmarctl() -> bool:
    """Whether the code that called ``warnings.warn`` is mmarctl's (the first frame above
    the warnings machinery; ``stacklevel`` moves only the shown file name)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in ("warnings", __name__):
        frame = frame.f_back
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith("mmarctl.")


def print_out(text: str) -> None:
    """Print ``text`` as is on stdout, now (a failed write is said to be stdout's)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise
    except OSError as error:
        note_writing(error, STANDARD_OUTPUT)
        raise


#: Results go to stdout; messages, progress and errors go to stderr.
out = _Console(highlight=False, soft_wrap=True)
err = _Console(stderr=True, highlight=False, soft_wrap=True)


def counted(number: int, noun: str) -> str:
    """``"1 case"``, ``"3 cases"``: a count with its noun in the matching number."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def is_interactive() -> bool:
    """Whether stderr is a terminal that can redraw a line (then progress is drawn as a
    bar). A dumb terminal (``TERM=dumb``: Emacs shell, some CI runners) cannot, and gets
    the plain log lines a pipe gets."""
    return err.is_terminal and not err.is_dumb_terminal


@contextmanager
def _logging_through(console: Console) -> Iterator[None]:
    """While a live bar is drawn on ``console``, send the logging handlers that write to a
    terminal through it, so their lines appear above the bar instead of inside it.

    A handler made by ``logging.config.fileConfig`` (an MMAR's ``resources/log.config``:
    ``StreamHandler(sys.stderr)``) holds the stderr object of the moment it was made; rich's
    redirect of ``sys.stderr`` during the bar never sees its writes. Handlers writing to a
    file or a pipe are left alone, and every handler gets its own stream back afterwards.
    """
    from rich.file_proxy import FileProxy

    swapped: list[tuple[logging.StreamHandler, Any]] = []
    for handler in _stream_handlers():
        stream = handler.__dict__.get("stream")  # a stream property follows sys.stderr
        if stream is None or isinstance(stream, FileProxy) or not _is_terminal(stream):
            continue
        handler.setStream(FileProxy(console, stream))
        swapped.append((handler, stream))
    try:
        yield
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)  # flushes what the proxy still holds


def _stream_handlers() -> list[logging.StreamHandler]:
    """Every ``StreamHandler`` of the root logger and of the named loggers, once each."""
    loggers = [logging.getLogger()] + [logger for logger in
                                       list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(logger, logging.Logger)]
    found: dict[int, logging.StreamHandler] = {}
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                found.setdefault(id(handler), handler)
    return list(found.values())


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


#: Below this terminal width the count, ETA and fields (loss, mean_dice) do not fit on one
#: bar line, and rich cut them to "…": plain log lines are printed instead, as in a pipe.
MIN_BAR_WIDTH = 72


def _bar_columns(width: int) -> list[Any]:
    """The bar's columns for a terminal ``width`` columns wide: the step count, ETA and the
    fields always; the bar graphic and the elapsed time only where they leave room for the
    fields (about 45 columns: ``epoch=1/1 loss=0.9874 mean_dice=0.7312``)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar_width = min(40, width - 90)
    columns: list[Any] = [TextColumn("[bold]{task.description}")]
    if bar_width >= 10:
        columns.append(BarColumn(bar_width=bar_width))
    columns.append(MofNCompleteColumn())
    if width >= 100:
        columns.append(TimeElapsedColumn())
    columns += [TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    return columns


class Progress:
    """A progress reporter: a rich bar on a terminal, a log line every few seconds otherwise.

    Use :func:`progress` to create one. ``update(advance, **fields)`` moves it; fields such
    as ``loss=0.31`` are shown beside the bar or in the log line.
    """

    def __init__(self, description: str, total: int | None, *, enabled: bool = True,
                 log_every_s: float = 5.0) -> None:
        self.description = description
        self.total = total
        self.enabled = enabled
        self.completed = 0
        self.fields: dict[str, object] = {}
        self._log_every_s = log_every_s
        self._last_log = 0.0
        self._start = time.monotonic()
        self._bar = None
        self._task = None
        self._logging = None
        self._logged_count: int | None = None

    def __enter__(self) -> "Progress":
        if self.enabled and is_interactive() and err.width >= MIN_BAR_WIDTH:
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(*_bar_columns(err.width), console=err, transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, info="")
            self._logging = _logging_through(self._bar.console)
            self._logging.__enter__()
        return self

    def update(self, advance: int = 1, **fields: object) -> None:
        self.completed += advance
        self.fields.update(fields)
        info = " ".join(f"{k}={_fmt(v)}" for k, v in self.fields.items())
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, info=info)
        elif self.enabled:
            now = time.monotonic()
            done = self.total is not None and self.completed >= self.total
            if now - self._last_log >= self._log_every_s or done:
                self._last_log = now
                total = f"/{self.total}" if self.total is not None else ""
                if self._logged_count == self.completed:
                    # Nothing advanced since the last line (validation metrics after the
                    # last step): only the new fields, not the whole line again.
                    info = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
                self._logged_count = self.completed
                try:
                    print(f"{self.description}: {self.completed}{total} {info}".rstrip(),
                          file=sys.stderr, flush=True)
                except BrokenPipeError:
                    self._reader_gone()

    def _reader_gone(self) -> None:
        """The reader of stderr went away (``mmarctl train ... 2>&1 | head``, a ``tee``
        killed first): hours of work must not end on a progress line. Further progress is
        dropped and stderr writes to the null device (:func:`output_reader_gone`)."""
        self.enabled = False
        output_reader_gone(sys.stderr, self.description)

    def __exit__(self, *exc: object) -> None:
        if self._logging is not None:
            self._logging.__exit__(*exc)
            self._logging = None
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@contextmanager
def progress(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Progress]:
    """Context manager yielding a :class:`Progress`."""
    with Progress(description, total, enabled=enabled) as bar:
        yield bar
