"""plan: seeds, SIGTERM handling, the backend, the pre-run config check."""

from __future__ import annotations

import os
import signal

import pytest

from mmarctl.errors import ConfigError
from mmarctl.runtime import plan
from mmarctl.workspace import ResolvedConfig


@pytest.mark.parametrize("config, seed, expected", [
    ({}, None, None),
    ({}, 9, 9),
    ({"determinism": {"random_seed": 123456}}, None, 123456),
    ({"determinism": {"random_seed": 1}}, 7, 7),
    ({"determinism": {"python_seed": "20191015"}}, None, 20191015),
    ({"determinism": {"tf_seed": 11111, "numpy_seed": 654321}}, None, 11111),
])
def test_seed_from(config, seed, expected):
    assert plan.seed_from(config, seed, "config_train.json") == expected


@pytest.mark.parametrize("determinism, match", [
    (5, "determinism must be an object"),
    ({"random_seed": "x"}, "random_seed must be an integer"),
])
def test_seed_from_rejects(determinism, match):
    with pytest.raises(ConfigError, match=match) as info:
        plan.seed_from({"determinism": determinism}, None, "config_train.json")
    assert info.value.json_path.startswith("determinism")


def test_sigterm_becomes_keyboard_interrupt_and_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with plan.sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1) if hasattr(signal, "sigtimedwait") else None
    assert signal.getsignal(signal.SIGTERM) == before


def test_backend_is_single_process_by_default():
    backend = plan.get_backend()
    assert backend.size == 1 and backend.is_chief
    assert backend.shard([1, 2, 3]) == [1, 2, 3]
    assert backend.allreduce_mean(0.5) == 0.5


def test_fallback_single_process_backend():
    backend = plan.SingleProcess()
    assert backend.allreduce_gradients([1]) == [1] and backend.shard([4]) == [4]


def test_schema_check_without_workspace_names_path():
    resolved = ResolvedConfig(file="config/config_train.json", raw={},
                              data={"epochs": "many", "train": {}, "validate": {}})
    with pytest.raises(ConfigError) as info:
        plan.check_config("config_train", resolved)
    assert info.value.file == "config/config_train.json"
