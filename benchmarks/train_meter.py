"""What the training benchmarks share: train a workspace in this process with the engine's
counters read around a warm-up, and run such a measurement in a fresh process.

Used by ``training_throughput.py`` and ``cost_growth.py``. The counters are
``TFEngine``'s own (``wait_s``: time the loop waited for the next batch; ``step_s``: time
in the compiled step; ``samples_seen``), reset when the warm-up epochs end, so tracing and
cache filling stay out of the figures. Validation is switched off: these benchmarks
measure training alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmarctl.runtime.training.contract import Callback

RESULT = "RESULT "  # prefix of the one JSON line a measuring process prints


class Meter(Callback):
    """Resets the engine's counters after the warm-up epochs; times each epoch's loop.

    An epoch's loop time runs from ``on_epoch_begin`` to its last step (waiting for batches
    and stepping; checkpoint and summary writing at the epoch's end are left out).

    Args:
        engine: the run's ``TFEngine``.
        warmup: epochs before the counters start.
    """

    def __init__(self, engine: Any, warmup: int = 1) -> None:
        self.engine = engine
        self.warmup = warmup
        self.started: float | None = None  # end of the warm-up
        self.epoch_s: list[float] = []  # every epoch's loop time, warm-up included
        self.epoch_steps: list[int] = []
        self.step_ends: list[float] = []  # this epoch's step end times
        self._begun = 0.0

    def on_train_begin(self, state) -> None:
        if self.warmup <= 0:
            self.started = time.perf_counter()

    def on_epoch_begin(self, state) -> None:
        self._begun = time.perf_counter()
        self.step_ends = []

    def on_step_end(self, state, logs) -> None:
        self.step_ends.append(time.perf_counter())

    def on_epoch_end(self, state, logs) -> None:
        end = self.step_ends[-1] if self.step_ends else time.perf_counter()
        self.epoch_s.append(end - self._begun)
        self.epoch_steps.append(len(self.step_ends))
        if state.epoch == self.warmup - 1:
            self.engine.wait_s = self.engine.step_s = 0.0
            self.engine.samples_seen = 0
            self.started = time.perf_counter()

    def warmup_step_s(self) -> float | None:
        """Seconds per step of the last warm-up epoch, its first (tracing) step left out."""
        ends = self.step_ends
        return (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else None


@dataclass
class Measured:
    """One measured training run (figures over the epochs after the warm-up).

    Attributes:
        plan, engine: the run's ``TrainingPlan`` and ``TFEngine`` (for further figures).
        wall_s: seconds from the end of the warm-up to the end of the run.
        samples: training samples (patches) stepped after the warm-up.
        wait_s, step_s: the engine's counters after the warm-up.
        epoch_s, epoch_steps: every epoch's loop seconds and steps, warm-up first.
        steps_per_epoch: what the pipeline gives (before any cap).
        capped_steps: measured epochs stopped after this many steps (None: not capped).
    """

    plan: Any
    engine: Any
    wall_s: float
    samples: int
    wait_s: float
    step_s: float
    epoch_s: list[float] = field(default_factory=list)
    epoch_steps: list[int] = field(default_factory=list)
    steps_per_epoch: int = 0
    capped_steps: int | None = None

    @property
    def wait_share(self) -> float:
        """Time the loop waited for batches over waiting plus stepping."""
        return self.wait_s / max(self.wait_s + self.step_s, 1e-9)


def train_measured(workspace_dir: Path, *, epochs: int, warmup: int = 1, amp: bool = False,
                   jit: bool = False, config: str | None = None, seed: int = 0,
                   deadline: float | None = None, min_steps: int = 2) -> Measured:
    """Train ``warmup`` + ``epochs`` epochs of the workspace's config in this process.

    Args:
        epochs: measured epochs after the warm-up.
        amp, jit: ``--amp`` and ``--jit`` of ``mmarctl train``.
        config: the training config's file name (default: ``config_train.json``).
        deadline: a ``time.perf_counter()`` value: when the warm-up shows that the
            measured epochs would end later, each is stopped after as many steps as fit
            (at least ``min_steps``, from the warm-up's seconds per step);
            :attr:`Measured.capped_steps` says so.
    """
    from mmarctl.runtime.plan import TRAIN_CONFIG, TrainingPlan, TrainOptions
    from mmarctl.workspace import Workspace

    workspace = Workspace(Path(workspace_dir).resolve())
    overrides = {"epochs": epochs + warmup, "num_training_epoch_per_valid": 10_000}
    plan = TrainingPlan.build(workspace, TrainOptions(config=config or TRAIN_CONFIG, seed=seed,
                                                      overrides=overrides, jit=jit,
                                                      progress=False, amp=amp))
    engine = plan.engine()
    plan.engine = lambda: engine
    meter = Meter(engine, warmup)
    cap: dict[str, int | None] = {"steps": None}
    steps_per_epoch = plan.state.steps_per_epoch

    class Capping(Callback):  # decides the cap when the warm-up ends
        def on_epoch_end(self, state, logs):
            if deadline is None or state.epoch != warmup - 1:
                return
            per_step = meter.warmup_step_s() or meter.epoch_s[-1] / max(steps_per_epoch, 1)
            left = deadline - time.perf_counter()
            fits = int(left / max(per_step, 1e-9) / max(epochs, 1))
            if fits < steps_per_epoch:
                cap["steps"] = max(min_steps, fits)

    full_epoch = engine.train_epoch

    def train_epoch(epoch: int):
        for count, logs in enumerate(full_epoch(epoch), start=1):
            yield logs
            if epoch >= warmup and cap["steps"] is not None and count >= cap["steps"]:
                return

    engine.train_epoch = train_epoch
    plan.handlers = [meter, Capping()]
    plan.validation = None  # training alone
    engine.validator = None
    plan.run()
    return Measured(plan=plan, engine=engine, wall_s=time.perf_counter() - meter.started,
                    samples=engine.samples_seen, wait_s=engine.wait_s, step_s=engine.step_s,
                    epoch_s=meter.epoch_s, epoch_steps=meter.epoch_steps,
                    steps_per_epoch=steps_per_epoch, capped_steps=cap["steps"])


def run_child(command: list[str], *, what: str, env: dict[str, str] | None = None,
              timeout: float | None = None) -> dict:
    """Run a measuring process; its last ``RESULT {json}`` stdout line, parsed.

    ``env`` is the child's whole environment (default: this process's).

    Raises:
        SystemExit: the process failed or printed no result (its last lines shown).
    """
    env = dict(os.environ if env is None else env)  # the child's whole environment
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{what} run took over {timeout:.0f} s and was stopped") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"{what} run failed:\n" + "\n".join(tail))
    return json.loads(lines[-1][len(RESULT):])


def print_result(result: dict) -> None:
    """The measuring process's answer to :func:`run_child`."""
    print(RESULT + json.dumps(result))
    sys.stdout.flush()
