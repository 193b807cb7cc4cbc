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


def test_broken_log_config_is_config_error(tmp_path):
    path = tmp_path / "log.config"
    path.write_text("[loggers]\nkeys=root\n")
    with pytest.raises(ConfigError, match="not a valid logging config") as info:
        logs.configure(path)
    assert info.value.file == str(path)


def test_missing_log_config_falls_back_to_info(tmp_path):
    logs.configure(tmp_path / "absent.config")
    assert logging.getLogger().level == logging.INFO
