"""Backend selection, sharding, the one-process backend and rank-tagged logging.

Horovod collectives are exercised with real processes in tests/test_multiprocess_train.py.
"""

from __future__ import annotations

import logging

import pytest

from mmarctl.errors import DataError, MissingDependency
from mmarctl.runtime import distributed
from mmarctl.runtime.distributed import (RankFilter, SingleProcess, attach_rank_filter,
                                         get_backend, launched_by_horovod, shard_items)


@pytest.mark.parametrize("env, expected", [
    ({}, False),
    ({"HOROVOD_RANK": "1", "HOROVOD_SIZE": "2"}, True),
    ({"HOROVOD_RANK": "0"}, False),              # half the horovodrun set is not enough
    ({"OMPI_COMM_WORLD_SIZE": "4"}, True),
    ({"OMPI_COMM_WORLD_SIZE": "1"}, False),      # `mpirun -np 1` is one process
    ({"PMI_SIZE": "2"}, True),
    ({"PMI_SIZE": "garbage"}, False),
])
def test_launched_by_horovod(env, expected):
    assert launched_by_horovod(env) is expected


@pytest.mark.parametrize("n, size, rank, expected", [
    (6, 2, 0, [0, 2, 4]),
    (6, 2, 1, [1, 3, 5]),
    (5, 2, 0, [0, 2, 4]),
    (5, 2, 1, [1, 3, 0]),      # padded with item 0: same count as rank 0
    (1, 3, 2, [0]),            # fewer items than ranks: reused
    (0, 2, 1, []),
    (7, 1, 0, list(range(7))),
])
def test_shard_items_repeats_to_equal_length(n, size, rank, expected):
    assert shard_items(list(range(n)), rank, size) == expected


def test_shard_items_every_rank_same_length_and_all_items_covered():
    items = list(range(11))
    shards = [shard_items(items, r, 4) for r in range(4)]
    assert {len(s) for s in shards} == {3}
    assert set().union(*shards) == set(items)


@pytest.mark.parametrize("rank, expected", [(0, [0, 2]), (1, [1, 3])])
def test_shard_items_drop_remainder(rank, expected):
    assert shard_items(list(range(5)), rank, 2, drop_remainder=True) == expected


def test_shard_items_drop_remainder_with_too_few_items_is_a_data_error():
    with pytest.raises(DataError, match="cannot be split over 3"):
        shard_items([1, 2], 0, 3, drop_remainder=True)


@pytest.mark.parametrize("rank, size", [(2, 2), (-1, 2), (0, 0)])
def test_shard_items_rejects_bad_rank(rank, size):
    with pytest.raises(ValueError, match="Received: rank="):
        shard_items([1, 2, 3], rank, size)


def test_single_process_is_identity():
    backend = SingleProcess()
    assert (backend.rank, backend.size, backend.local_rank, backend.is_chief) == (0, 1, 0, True)
    grads = [1.0, None, 3.0]
    assert backend.allreduce_gradients(grads) == grads
    assert backend.allreduce_mean({"dice": 0.5}) == {"dice": 0.5}
    assert backend.allreduce_sum(3.0) == 3.0
    assert backend.shard(["a", "b"]) == ["a", "b"]
    backend.barrier()
    backend.broadcast_variables([object()])
    with pytest.raises(ValueError, match="root_rank=1"):
        backend.broadcast_variables([], root_rank=1)


def test_get_backend_auto_without_launcher_is_single(monkeypatch):
    monkeypatch.setattr(distributed, "_BACKEND", None)
    assert isinstance(get_backend(environ={}), SingleProcess)
    assert get_backend("single") is get_backend(environ={})


def test_get_backend_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind='nccl'"):
        get_backend("nccl")


def test_get_backend_horovod_missing_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_horovod(name, *args, **kwargs):
        if name.startswith("horovod"):
            raise ImportError("No module named 'horovod'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(distributed, "_BACKEND", None)
    monkeypatch.setattr(builtins, "__import__", no_horovod)
    with pytest.raises(MissingDependency) as info:
        get_backend("horovod")
    assert "python -m mmarctl.install_horovod" in str(info.value)


class _Ranked:
    def __init__(self, rank):
        self.rank = rank


def _log_line(rank: int) -> list[str]:
    logger = logging.getLogger(f"mmarctl.test.rank{rank}")
    logger.propagate = False
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    logger.addHandler(Collect())
    logger.addHandler(Collect())  # two handlers: the prefix must still appear once
    attach_rank_filter(_Ranked(rank), logger)
    logger.warning("epoch %d", 3)
    return lines


def test_rank_filter_prefixes_non_chief_ranks_once():
    assert _log_line(1) == ["[rank 1] epoch 3", "[rank 1] epoch 3"]


def test_rank_filter_leaves_chief_lines_alone():
    assert _log_line(0) == ["epoch 3", "epoch 3"]
    assert RankFilter(0).prefix == ""


class _FakeConfig:
    """Stands in for tf.config: records what pin_gpu made visible."""

    def __init__(self, gpus, frozen=False):
        self.gpus, self.frozen, self.visible, self.growth = gpus, frozen, None, []
        self.experimental = self

    def list_physical_devices(self, kind):
        return self.gpus

    def set_visible_devices(self, device, kind):
        if self.frozen:
            raise RuntimeError("Visible devices cannot be modified after being initialized")
        self.visible = device

    def set_memory_growth(self, device, enabled):
        self.growth.append((device, enabled))


class _Rank3(SingleProcess):
    @property
    def local_rank(self):
        return 3


def _fake_tf(monkeypatch, config):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(config=config))


def test_pin_gpu_picks_local_rank_modulo_gpus(monkeypatch):
    gpus = [types_gpu(i) for i in range(2)]
    config = _FakeConfig(gpus)
    _fake_tf(monkeypatch, config)
    assert _Rank3().pin_gpu() == "/physical_device:GPU:1"
    assert config.visible is gpus[1] and config.growth == [(gpus[1], True)]


def test_pin_gpu_without_gpus_is_none(monkeypatch):
    _fake_tf(monkeypatch, _FakeConfig([]))
    assert SingleProcess().pin_gpu() is None


def test_pin_gpu_too_late_says_when_to_call_it(monkeypatch):
    from mmarctl.errors import RuntimeFailure

    _fake_tf(monkeypatch, _FakeConfig([types_gpu(0)], frozen=True))
    with pytest.raises(RuntimeFailure, match="before building the model"):
        SingleProcess().pin_gpu()


def types_gpu(index):
    import types

    return types.SimpleNamespace(name=f"/physical_device:GPU:{index}")


def test_horovod_that_cannot_start_is_a_runtime_failure(monkeypatch):
    import sys
    import types

    from mmarctl.errors import RuntimeFailure

    def init():
        raise ValueError("Horovod has not been built with MPI support\nmore")

    fake = types.ModuleType("horovod.tensorflow")
    fake.init = init
    parent = types.ModuleType("horovod")
    parent.tensorflow = fake
    monkeypatch.setitem(sys.modules, "horovod", parent)
    monkeypatch.setitem(sys.modules, "horovod.tensorflow", fake)
    monkeypatch.setattr(distributed, "_BACKEND", None)
    with pytest.raises(RuntimeFailure) as info:
        get_backend("horovod")
    assert "Horovod could not start: Horovod has not been built with MPI support" in str(info.value)
    assert "--mpi" in str(info.value)


def _hooked(monkeypatch, argv=("mmarctl", "train")):
    import sys

    calls = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: calls.append(a))
    distributed.install_worker_excepthook(1, argv=list(argv))
    return sys.excepthook, calls


def test_worker_excepthook_peer_failure_is_one_line(monkeypatch, capsys):
    hook, previous = _hooked(monkeypatch)
    error = RuntimeError("[gloo/transport/tcp/pair.cc:589] Read error: Connection reset by peer\n"
                         "more lines")
    hook(RuntimeError, error, None)
    assert capsys.readouterr().err == (
        "error: rank 1: another worker stopped, so this one cannot go on (RuntimeError: "
        "[gloo/transport/tcp/pair.cc:589] Read error: Connection reset by peer; --debug shows "
        "the traceback)\n")
    assert previous == []


def test_worker_excepthook_other_errors_and_ctrl_c(monkeypatch, capsys):
    hook, previous = _hooked(monkeypatch)
    hook(ValueError, ValueError("bad shape"), None)
    assert capsys.readouterr().err.startswith("error: rank 1: stopped (ValueError: bad shape;")
    hook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert len(previous) == 1          # Ctrl-C keeps Python's own handling


def test_worker_excepthook_not_installed_with_debug(monkeypatch):
    import sys

    hook, _ = _hooked(monkeypatch, argv=("mmarctl", "--debug", "train"))
    assert hook is sys.excepthook and hook.__name__ == "<lambda>"


def test_attach_rank_filter_reaches_named_loggers_handlers():
    named = logging.getLogger("mmarctl.test.named_handlers")
    named.propagate = False
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    named.addHandler(handler)
    try:
        attach_rank_filter(_Ranked(2))
        named.warning("step %d", 1)
    finally:
        named.removeHandler(handler)
        for h in logging.getLogger().handlers:
            for f in [f for f in h.filters if isinstance(f, RankFilter)]:
                h.removeFilter(f)
    assert lines == ["[rank 2] step 1"]
