"""Logging from resources/log.config."""

from __future__ import annotations

import logging

import pytest

from mmarctl.errors import ConfigError
from mmarctl.runtime import logs

CLARA_LOG_CONFIG = """\
[loggers]
keys=root,modelLogger

[handlers]
keys=consoleHandler

[formatters]
keys=fullFormatter

[logger_root]
level=INFO
handlers=consoleHandler

[logger_modelLogger]
level=DEBUG
handlers=consoleHandler
qualname=modelLogger
propagate=0

[handler_consoleHandler]
class=StreamHandler
level=DEBUG
formatter=fullFormatter
args=(sys.stdout,)

[formatter_fullFormatter]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_clara_log_config_is_applied_and_keeps_existing_loggers(tmp_path):
    existing = logging.getLogger("mmarctl.train")
    path = tmp_path / "log.config"
    path.write_text(CLARA_LOG_CONFIG)
    logs.configure(path)
    assert logging.getLogger("modelLogger").level == logging.DEBUG
    assert not existing.disabled
    assert logging.getLogger("absl").level == logging.WARNING


def test_a_debug_root_logger_leaves_libraries_at_warning_unless_named(tmp_path):
    path = tmp_path / "log.config"
    path.write_text(CLARA_LOG_CONFIG.replace("[logger_root]\nlevel=INFO",
                                             "[logger_root]\nlevel=DEBUG"))
    logs.configure(path)
    assert logging.getLogger("mmarctl.train").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("matplotlib.font_manager").isEnabledFor(logging.INFO)
    assert logging.getLogger("h5py._conv").isEnabledFor(logging.WARNING)
    # urllib3's per-retry warnings (MLflow to a dead server) are not shown; its errors are
    assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.WARNING)
    assert logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.ERROR)
    named = CLARA_LOG_CONFIG.replace("keys=root,modelLogger", "keys=root,modelLogger,mpl") + (
        "\n[logger_mpl]\nlevel=DEBUG\nhandlers=consoleHandler\nqualname=matplotlib\n")
    path.write_text(named)
    logs.configure(path)
    try:
        assert logging.getLogger("matplotlib.font_manager").isEnabledFor(logging.DEBUG)
    finally:
        logging.getLogger("matplotlib").handlers.clear()
        logging.getLogger("matplotlib").setLevel(logging.WARNING)


def test_tensorflow_debug_lines_stay_off_under_a_debug_root_unless_debug(tmp_path,
                                                                          monkeypatch):
    """Clara's log.config at DEBUG printed TensorFlow's "Falling back to TensorFlow client"
    DEBUG line on infer; mmarctl --debug (MMARCTL_TF_LOGS=1) still shows it."""
    path = tmp_path / "log.config"
    path.write_text(CLARA_LOG_CONFIG.replace("[logger_root]\nlevel=INFO",
                                             "[logger_root]\nlevel=DEBUG"))
    tensorflow = logging.getLogger("tensorflow")
    level = tensorflow.level
    try:
        monkeypatch.delenv("MMARCTL_TF_LOGS", raising=False)
        logs.configure(path)
        assert not tensorflow.isEnabledFor(logging.INFO)
        assert tensorflow.isEnabledFor(logging.WARNING)
        tensorflow.setLevel(logging.NOTSET)
        monkeypatch.setenv("MMARCTL_TF_LOGS", "1")
        logs.configure(path)
        assert tensorflow.isEnabledFor(logging.DEBUG)
    finally:
        tensorflow.setLevel(level)


def test_broken_log_config_is_config_error(tmp_path):
    path = tmp_path / "log.config"
    path.write_text("[loggers]\nkeys=root\n")
    with pytest.raises(ConfigError, match="not a valid logging config") as info:
        logs.configure(path)
    assert info.value.file == str(path)


def test_missing_log_config_falls_back_to_info(tmp_path):
    logs.configure(tmp_path / "absent.config")
    assert logging.getLogger().level == logging.INFO


def test_runs_in_one_process_never_log_into_an_earlier_runs_closed_stream(tmp_path, capsys,
                                                                           monkeypatch):
    """A verb run in-process (notebook, CliRunner) swaps sys.stdout/stderr per run; a
    handler bound to the previous run's stream must not outlive it ("--- Logging error")."""
    import io

    earlier_stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", earlier_stdout)
    path = tmp_path / "log.config"
    path.write_text(CLARA_LOG_CONFIG)
    logs.configure(path)                     # binds this run's sys.stdout
    stale = logging.getLogger("tensorflow")  # as TensorFlow's own logger does
    stale.addHandler(logging.StreamHandler(earlier_stdout))
    earlier_stdout.close()                   # the run ended
    monkeypatch.undo()

    logs.configure(None)                     # the next run, with no log.config
    logging.getLogger("mmarctl.test").info("second run")
    stale.warning("from tensorflow")
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err
    assert "second run" in captured.err      # the default handler writes to today's stderr
    assert not any(getattr(h, "stream", None) is earlier_stdout
                   for h in logging.getLogger().handlers + stale.handlers)


def test_the_default_handler_follows_sys_stderr(capsys, monkeypatch):
    import io

    logging.getLogger().handlers[:] = []
    logs.configure(None)
    swapped = io.StringIO()
    monkeypatch.setattr("sys.stderr", swapped)
    logging.getLogger("mmarctl.test").info("to the swapped stream")
    assert "to the swapped stream" in swapped.getvalue()


def test_a_log_configs_console_follows_the_stream_of_the_moment(tmp_path, capsys,
                                                                 monkeypatch):
    """A log.config's StreamHandler(sys.stdout) writes to the sys.stdout of each record, not
    the one of configure's moment: a second verb run in-process (CliRunner, a notebook)
    logged into the first one's closed stream and the interpreter lost sys.stderr."""
    import io

    first = io.StringIO()
    monkeypatch.setattr("sys.stdout", first)
    path = tmp_path / "log.config"
    path.write_text(CLARA_LOG_CONFIG)
    logs.configure(path)
    logging.getLogger("mmarctl.test").info("during the first run")
    first.close()
    monkeypatch.undo()                      # the first run is over; no configure between
    logging.getLogger("mmarctl.test").info("after it")
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err
    assert "mmarctl.test - INFO - after it" in captured.out  # the config's format, today's stdout


def test_a_log_config_leaves_the_stream_absl_bound_at_import_open(tmp_path, monkeypatch):
    """TensorFlow's absl handler binds sys.stderr of the moment TensorFlow is imported, and
    fileConfig's shutdown of every handler made absl close it when it was no longer the
    standard stream: a notebook's redirect, or pytest's own capture file ("lost
    sys.stderr" for the rest of the test run)."""
    import io

    absl_logging = pytest.importorskip("absl.logging")
    host_stream = io.StringIO()  # what sys.stderr was when TensorFlow was imported
    monkeypatch.setattr(absl_logging.get_absl_handler().python_handler, "stream", host_stream)
    now = io.StringIO()
    monkeypatch.setattr("sys.stderr", now)
    path = tmp_path / "log.config"
    path.write_text(CLARA_LOG_CONFIG)
    logs.configure(path)
    assert not host_stream.closed
    absl_logging.get_absl_handler().python_handler.stream.write("to today's stderr\n")
    assert "to today's stderr" in now.getvalue()
