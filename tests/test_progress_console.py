"""Progress and console output: log lines above a live bar, never inside it; plain lines on
a dumb terminal and in pipes, without repeating the last one; whole table cells when piped."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys

import pytest
from rich.table import Table

from mmarctl import console


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """``console.err`` drawing on a (fake) colour terminal, as on a real one."""
    monkeypatch.setenv("TERM", "xterm-256color")
    screen = _FakeTerminal()
    monkeypatch.setattr(console, "err", console._Console(file=screen, force_terminal=True,
                                                         width=100, highlight=False))
    return screen


@pytest.fixture
def file_logger():
    """A logger with a ``StreamHandler`` bound to a terminal stream of its own, as
    ``fileConfig`` makes one from ``args=(sys.stderr,)``."""
    stream = _FakeTerminal()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("LOG %(message)s"))
    logger = logging.getLogger("mmarctl.test_progress_console")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler, stream
    logger.removeHandler(handler)


def test_log_lines_go_through_the_live_bar(terminal, file_logger):
    logger, handler, own_stream = file_logger
    with console.Progress("train", 3) as bar:
        assert bar._bar is not None  # a live bar is drawn
        bar.update(1, loss=0.5)
        logger.info("epoch 1 improved")
        bar.update(2, loss=0.25)
    assert own_stream.getvalue() == ""  # not written behind the bar's back
    screen = terminal.getvalue()
    assert "LOG epoch 1 improved\n" in screen
    before = screen[:screen.index("LOG epoch 1 improved")]
    assert before.endswith("\x1b[2K") or before.endswith("\n")  # the bar's line was cleared
    assert handler.stream is own_stream  # given back afterwards
    logger.info("after")
    assert own_stream.getvalue() == "LOG after\n"


def test_handlers_writing_to_files_are_left_alone(terminal):
    stream = io.StringIO()  # not a terminal: a log file
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("mmarctl.test_progress_console.file")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with console.Progress("train", 2) as bar:
            assert handler.stream is stream
            logger.warning("to the file")
            bar.update(2)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "to the file\n"


@pytest.mark.parametrize("term, interactive", [("dumb", False), ("xterm", True)])
def test_a_dumb_terminal_gets_plain_lines(monkeypatch, term, interactive):
    monkeypatch.setenv("TERM", term)
    monkeypatch.setattr(console, "err", console._Console(file=_FakeTerminal(),
                                                         force_terminal=True))
    assert console.is_interactive() is interactive
    with console.Progress("train", 1) as bar:
        assert (bar._bar is not None) is interactive


def test_piped_progress_does_not_repeat_the_last_line(capsys):
    with console.Progress("train", 3) as bar:
        bar.update(1, epoch="1/1", loss=0.9945)
        bar.update(2, epoch="1/1", loss=0.9717)
        bar.update(0, mean_dice=0.0623)  # validation after the last step
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["train: 1/3 epoch=1/1 loss=0.9945",
                     "train: 3/3 epoch=1/1 loss=0.9717",
                     "train: 3/3 mean_dice=0.0623"]


def _wide_table() -> Table:
    table = Table(title="mmarctl doctor")
    for column in ("check", "state", "detail"):
        table.add_column(column, overflow="fold")
    path = "/work/" + "/".join(["a-rather-long-folder-name"] * 5) + "/bin/python"
    table.add_row("python", "ok", f"3.12 ({path})")
    return table, path


def test_piped_tables_keep_every_cell_whole(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    table, path = _wide_table()
    piped = io.StringIO()
    console._Console(file=piped, highlight=False, soft_wrap=True).print(table)
    assert path in piped.getvalue()
    width = max(len(line) for line in piped.getvalue().splitlines())
    assert width < 300  # as wide as the content, not UNWRAPPED_WIDTH


def test_terminal_tables_keep_the_terminal_width(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    table, path = _wide_table()
    screen = _FakeTerminal()
    console._Console(file=screen, force_terminal=True, width=80, highlight=False).print(table)
    assert path not in screen.getvalue()  # folded to fit, as before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pseudo-terminal")
def test_log_config_handler_on_a_real_terminal_prints_above_the_bar(tmp_path):
    """The reported case end to end: a resources/log.config StreamHandler(sys.stderr) and a
    live bar on a pseudo-terminal; the log line must not follow the bar's text."""
    config = tmp_path / "log.config"
    config.write_text("[loggers]\nkeys=root\n[handlers]\nkeys=console\n[formatters]\n"
                      "keys=plain\n[logger_root]\nlevel=INFO\nhandlers=console\n"
                      "[handler_console]\nclass=StreamHandler\nlevel=INFO\nformatter=plain\n"
                      "args=(sys.stderr,)\n[formatter_plain]\nformat=MARK %(message)s\n")
    script = (
        "import logging, logging.config, sys, time\n"
        f"logging.config.fileConfig({str(config)!r}, disable_existing_loggers=False)\n"
        "from mmarctl.console import Progress\n"
        "with Progress('train', 3) as bar:\n"
        "    bar.update(1, loss=0.9717)\n"
        "    time.sleep(0.3)\n"
        "    logging.getLogger('mmarctl.train').info('improved')\n"
        "    bar.update(2, loss=0.5)\n")
    primary, secondary = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=secondary, stdout=secondary,
                            stderr=secondary, env=env, close_fds=True)
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([primary], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=30)
    os.close(primary)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen[-2000:]
    assert "MARK improved" in screen
    before = screen[:screen.index("MARK improved")]
    assert "loss=0.9717" in before  # the bar was live when the line came
    assert before.endswith("\x1b[2K") or before.endswith("\n"), repr(before[-80:])


@pytest.mark.parametrize("width, bar_drawn", [(40, False), (71, False), (72, True), (80, True),
                                              (140, True)])
def test_a_narrow_terminal_keeps_the_count_eta_and_fields(monkeypatch, capsys, width,
                                                          bar_drawn):
    """At 40 columns the bar showed `train ╸ … … eta 0… epoch=1/1 loss=0.9874`: the step
    count, ETA and the metric were cut to "…"."""
    import re

    monkeypatch.setenv("TERM", "xterm-256color")
    screen = _FakeTerminal()
    monkeypatch.setattr(console, "err", console._Console(file=screen, force_terminal=True,
                                                         width=width, highlight=False))
    with console.Progress("train", 3) as bar:
        assert (bar._bar is not None) is bar_drawn
        bar.update(3, epoch="1/1", loss=0.9717, mean_dice=0.01234)
    if not bar_drawn:  # the plain lines of a pipe, whole
        assert "train: 3/3 epoch=1/1 loss=0.9717 mean_dice=0.01234" in capsys.readouterr().err
        return
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    last = [line for line in plain.replace("\r", "\n").splitlines() if "train" in line][-1]
    assert "3/3" in last and "eta" in last and "mean_dice=0.01234" in last, last
    assert "…" not in last, last
