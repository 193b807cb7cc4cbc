"""Terminal output: rich on a terminal, plain text when piped, and progress for long work."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

#: Results go to stdout; messages, progress and errors go to stderr.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def counted(number: int, noun: str) -> str:
    """``"1 case"``, ``"3 cases"``: a count with its noun in the matching number."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def is_interactive() -> bool:
    """Whether stderr is a terminal (then progress is drawn as a bar)."""
    return err.is_terminal


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

    def __enter__(self) -> "Progress":
        if self.enabled and is_interactive():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"), console=err, transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, info="")
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
                print(f"{self.description}: {self.completed}{total} {info}".rstrip(),
                      file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
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
