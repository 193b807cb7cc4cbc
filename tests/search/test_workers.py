"""Trial slots from --workers and Clara's workers spec; Clara's --set study keys."""

from __future__ import annotations

import pytest

from mmarctl.errors import UsageError
from mmarctl.search.automl import split_clara_keys
from mmarctl.search.workers import Slot, parse_worker_gpus, plan_slots


def test_clara_workers_spec():
    assert parse_worker_gpus("0:0:1:1") == [(0,), (0,), (1,), (1,)]
    assert parse_worker_gpus("0,1:2,3") == [(0, 1), (2, 3)]
    for bad in ("", "0::1", "a", "0,0", "-1"):
        with pytest.raises(UsageError, match="--worker-gpus: expected GPU numbers"):
            parse_worker_gpus(bad)


def test_gpus_round_robin_and_cpu_cores_shared():
    assert [s.gpus for s in plan_slots(3, None, gpu_count=2)] == [(0,), (1,), (0,)]
    assert plan_slots(2, None, gpu_count=0, cores=8) == [Slot(0, None, 4), Slot(1, None, 4)]
    assert plan_slots(None, None, gpu_count=0, cores=2) == [Slot(0, None, 2)]
    assert [s.gpus for s in plan_slots(None, "0,1:1", gpu_count=2)] == [(0, 1), (1,)]
    with pytest.raises(UsageError, match="names GPU 2 but this machine has 2 GPU"):
        plan_slots(None, "0:2", gpu_count=2)
    with pytest.raises(UsageError, match="not both"):
        plan_slots(2, "0", gpu_count=1)


def test_clara_set_keys_become_study_options():
    clara, rest = split_clara_keys(["run_id=trn_autoML", "trainconf=trn_autoML.json",
                                    "workers=0:0", "traceout=console", "epochs=2"])
    assert clara == {"run_id": "trn_autoML", "trainconf": "trn_autoML.json",
                     "workers": "0:0", "traceout": "console"}
    assert rest == ["epochs=2"]
