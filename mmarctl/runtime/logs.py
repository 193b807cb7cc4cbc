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
    by the import still propagate.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ.get("MMARCTL_TF_LOGS") == "1":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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
