"""Logging set-up from an MMAR's ``resources/log.config`` (Python fileConfig INI)."""

from __future__ import annotations

import configparser
import logging
import logging.config
import os
from pathlib import Path

from mmarctl.errors import ConfigError


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ start-up notices (set before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def configure(log_config: Path | None) -> None:
    """Apply ``log_config`` (Clara's ``resources/log.config``) if it exists, else a default
    INFO console format; loggers created earlier keep working (``disable_existing_loggers``
    is False).

    Raises:
        ConfigError: the file exists but is not a valid logging config.
    """
    # TensorFlow's absl logger chats at INFO ("Sharding callback duration ..."); an MMAR's
    # root INFO level is meant for the model's messages.
    logging.getLogger("absl").setLevel(logging.WARNING)
    if log_config is not None and Path(log_config).is_file():
        try:
            logging.config.fileConfig(str(log_config), disable_existing_loggers=False)
        except (configparser.Error, KeyError, ValueError, ImportError, AttributeError) as error:
            raise ConfigError(f"not a valid logging config: {error}", file=log_config,
                              hint="see Python's logging.config.fileConfig format") from error
        return
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    root.setLevel(logging.INFO)
