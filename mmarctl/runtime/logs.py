"""Logging set-up from an MMAR's ``resources/log.config`` (Python fileConfig INI)."""

from __future__ import annotations

import configparser
import logging
import logging.config
import os
import sys
from pathlib import Path

from mmarctl.errors import ConfigError


def quiet_tensorflow() -> None:
    """Import TensorFlow (and Keras) with their C++ start-up chatter kept off the terminal.

    TensorFlow 2.21 prints absl/oneDNN/CPU-feature lines to file descriptor 2 while it loads,
    before Python logging exists and whatever ``TF_CPP_MIN_LOG_LEVEL`` says, so the verbs call
    this before importing any runtime module that imports TensorFlow. ``MMARCTL_TF_LOGS=1``
    shows those lines (e.g. when TensorFlow itself fails to load). Python exceptions raised
    by the import still propagate. Keras' unused optional imports are left out
    (:mod:`mmarctl.runtime.memory`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    if os.environ.get("MMARCTL_TF_LOGS") == "1":
        _import_tensorflow()
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        _import_tensorflow()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_tensorflow() -> None:
    """TensorFlow and Keras, without the optional imports Keras makes for features the
    runtime never uses (pandas, scikit-learn, pyplot ...: about 100 MiB of private memory
    per process; mmarctl.runtime.memory)."""
    from mmarctl.runtime.memory import without_optional_imports

    with without_optional_imports():
        import tensorflow  # noqa: F401
        import keras  # noqa: F401


#: Libraries whose DEBUG and INFO lines are about themselves, not the model, held at
#: WARNING: TensorFlow's absl chats at INFO ("Sharding callback duration ..."), and under a
#: log.config that sets the root logger to DEBUG (Clara's COVID-19 lung MMAR) one epoch
#: printed about 300 lines of matplotlib font lookups and h5py. A log.config that names one
#: of them still sets its level.
QUIETED_LIBRARIES = ("absl", "matplotlib", "PIL", "h5py", "fsspec", "git")
#: TensorFlow's Python logger: held at WARNING like the libraries above, unless --debug.
TENSORFLOW = "tensorflow"
#: ERROR: urllib3 warns at each retry of an HTTP call ("Retrying (Retry(total=1 ...)) after
#: connection broken ..."); MLflow tracking to a dead server says so itself in one line.
SILENCED_LIBRARIES = ("urllib3",)

#: The console format when an MMAR has no resources/log.config (Clara's own format).
DEFAULT_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def configure(log_config: Path | None) -> None:
    """Apply ``log_config`` (Clara's ``resources/log.config``) if it exists, else a default
    INFO console format; loggers created earlier keep working (``disable_existing_loggers``
    is False).

    Raises:
        ConfigError: the file exists but is not a valid logging config.
    """
    for library in QUIETED_LIBRARIES:  # before fileConfig, which may name them
        logging.getLogger(library).setLevel(logging.WARNING)
    if os.environ.get("MMARCTL_TF_LOGS") != "1":
        # TensorFlow's own DEBUG/INFO lines ("Falling back to TensorFlow client ...") under
        # a log.config whose root is DEBUG; --debug (MMARCTL_TF_LOGS=1) shows them.
        logging.getLogger(TENSORFLOW).setLevel(logging.WARNING)
    for library in SILENCED_LIBRARIES:
        logging.getLogger(library).setLevel(logging.ERROR)
    _drop_earlier_runs_handlers()
    if log_config is not None and Path(log_config).is_file():
        _absl_follows_stderr()  # fileConfig closes every handler in the process first
        try:
            logging.config.fileConfig(str(log_config), disable_existing_loggers=False)
        except (configparser.Error, KeyError, ValueError, ImportError, AttributeError) as error:
            raise ConfigError(f"not a valid logging config: {error}", file=log_config,
                              hint="see Python's logging.config.fileConfig format") from error
        _follow_standard_streams()
        return
    root = logging.getLogger()
    if not root.handlers:
        handler = CurrentStderrHandler()
        handler.setFormatter(logging.Formatter(DEFAULT_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)


class CurrentStreamHandler(logging.StreamHandler):
    """A console handler that writes to whatever ``sys.stdout`` or ``sys.stderr`` is when a
    record is emitted.

    ``logging.basicConfig`` and a log.config's ``StreamHandler(sys.stdout)`` bind the stream
    object of the moment; a process that runs several verbs (a notebook, a test's
    ``CliRunner``) swaps the streams between them and would then log into a closed one
    ("--- Logging error ---", or an interpreter that lost sys.stderr).
    """

    def __init__(self, stream_name: str = "stderr") -> None:
        self.stream_name = stream_name
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, _value) -> None:
        pass  # always the current sys.stdout / sys.stderr


class CurrentStderrHandler(CurrentStreamHandler):
    """:class:`CurrentStreamHandler` on ``sys.stderr``: mmarctl's default console."""

    def __init__(self) -> None:
        super().__init__("stderr")


def _follow_standard_streams() -> None:
    """Turn a log.config's ``StreamHandler`` on ``sys.stdout``/``sys.stderr`` into a
    :class:`CurrentStreamHandler` on the same name, keeping its level, format and filters."""
    loggers = [logging.getLogger()] + [logger for logger in
                                       logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in list(logger.handlers):
            if type(handler) is not logging.StreamHandler:
                continue
            name = next((name for name in ("stdout", "stderr")
                         if handler.stream is getattr(sys, name)), None)
            if name is None:
                continue
            follower = CurrentStreamHandler(name)
            follower.setLevel(handler.level)
            follower.setFormatter(handler.formatter)
            for kept in handler.filters:
                follower.addFilter(kept)
            logger.removeHandler(handler)
            logger.addHandler(follower)


class _CurrentStderr:
    """A stream that is whatever ``sys.stderr`` is when written to, and that closing leaves
    open: it belongs to whoever set ``sys.stderr``."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def close(self) -> None:
        pass


def _absl_follows_stderr() -> None:
    """Point absl's handler (TensorFlow's Python logging) at :class:`_CurrentStderr`.

    ``logging.config.fileConfig`` shuts down every handler in the process before it installs
    the log.config's, and absl's handler then closes its stream unless it is the standard
    stream of that moment. absl binds ``sys.stderr`` of the moment TensorFlow was imported:
    in a process that imported TensorFlow with stderr redirected (a notebook cell, a test
    runner's capture) and runs a verb later, that closed the host's stream."""
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is None:
        return
    handler = absl_logging.get_absl_handler().python_handler
    if isinstance(handler.stream, _CurrentStderr) or handler.stream is sys.__stderr__:
        return
    name = getattr(handler.stream, "name", None)
    if isinstance(name, str) and not name.startswith("<"):  # a file absl logs to: keep it
        return
    handler.stream = _CurrentStderr()


def _drop_earlier_runs_handlers() -> None:
    """Remove the console handlers an earlier run in this process installed (this module's
    :class:`CurrentStreamHandler`: the next run's log.config, or its absence, decides
    again) and any handler whose stream is closed (a library's, bound to an earlier run's
    stream)."""
    loggers = [logging.getLogger()] + [logger for logger in
                                       logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in list(logger.handlers):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, CurrentStreamHandler) or getattr(stream, "closed", False):
                logger.removeHandler(handler)
