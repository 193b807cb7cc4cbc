"""The trainer contract: the epoch loop, its callback hooks and the logs they receive.

Framework-neutral: no TensorFlow here. An *engine* (``tf_engine.TFEngine``) supplies the
compute; this module owns the order of events, which is the same for every engine::

    on_train_begin(state)
    for epoch in start_epoch .. epochs-1:
        on_epoch_begin(state)
        for each batch:       engine.train_epoch yields {"loss", "learning_rate", aux tags}
            on_step_end(state, logs)                  (loss checked finite first)
        if (epoch + 1) % num_training_epoch_per_valid == 0 or epoch is the last:
            metrics = engine.validate(epoch)          {"mean_dice": 0.91, ...}
            on_validation_end(state, metrics)         (state.best_* updated first)
        on_epoch_end(state, logs)                     {"loss": epoch mean, **metrics, "time_s"}
    on_train_end(state)                               (state.ending set first)

On Ctrl-C / SIGTERM (KeyboardInterrupt) ``on_interrupt(state)`` runs, with further interrupts
held until every callback's has run, and the interrupt propagates (also when it came back
disguised, see ``interrupts.disguised_interrupt``); ``state.last_finished_epoch`` says where ``--resume`` continues. Any other
exception, from the loop or from an ``on_train_end`` (the final saves), runs
``on_failure(state, error)`` of each callback and propagates. Callbacks run
in list order; Clara's ``train.handlers`` come after mmarctl's own (checkpoints,
summaries, progress).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from mmarctl.errors import RuntimeFailure
from mmarctl.runtime.interrupts import disguised_interrupt, interrupts_held


@dataclass
class TrainState:
    """Where training stands; callbacks read it and the checkpoint saver persists part of it."""

    epochs: int
    start_epoch: int = 0
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    last_finished_epoch: int = -1
    #: ``step`` when epoch ``last_finished_epoch`` ended: where ``--resume``, which redoes an
    #: unfinished epoch, sets the step count and the optimizer's iterations back to.
    finished_steps: int = 0
    key_metric: str | None = None
    best_metric: float = -math.inf
    best_epoch: int = -1
    improved: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Every epoch ran; ``on_train_end`` (the final saves) is under way.
    ending: bool = False


class Callback:
    """A training hook (Clara handlers are callbacks); every method is optional."""

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, state: TrainState) -> None:
        """Before an epoch's first step."""

    def on_step_end(self, state: TrainState, logs: dict[str, float]) -> None:
        """After each step: ``logs`` has ``loss`` and ``learning_rate``."""

    def on_validation_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """After validation: one value per metric name."""

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        """After an epoch (and its validation, if any)."""

    def on_train_end(self, state: TrainState) -> None:
        """After the last epoch."""

    def on_interrupt(self, state: TrainState) -> None:
        """Ctrl-C or SIGTERM arrived; the interrupt is re-raised afterwards."""

    def on_failure(self, state: TrainState, error: Exception) -> None:
        """The run stopped on ``error`` (a NaN loss, a bad case ...), re-raised afterwards."""


class Engine(Protocol):
    """What the loop needs from the compute side."""

    def train_epoch(self, epoch: int) -> Iterable[dict[str, float]]: ...

    def validate(self, epoch: int) -> dict[str, float]: ...

    def nonfinite_weights(self) -> list[str]:
        """Names of the model's weights that hold a NaN or an infinity."""


def _call(callbacks: list[Callback], hook: str, *args: Any) -> None:
    for callback in callbacks:
        getattr(callback, hook)(*args)


def is_validation_epoch(epoch: int, epochs: int, every: int) -> bool:
    """Validation runs every ``every`` epochs and after the last one."""
    return (epoch + 1) % every == 0 or epoch == epochs - 1


def run(engine: Engine, state: TrainState, callbacks: list[Callback], *,
        validate_every: int = 1, has_validation: bool = True) -> TrainState:
    """Run epochs ``state.start_epoch .. state.epochs - 1``.

    Raises:
        RuntimeFailure: the loss became NaN or infinite (naming epoch and step), or a
            weight did while the loss stayed finite (checked after each epoch's steps,
            before validation and any checkpoint).
        KeyboardInterrupt: after ``on_interrupt`` ran.
    """
    _call(callbacks, "on_train_begin", state)
    try:
        for epoch in range(state.start_epoch, state.epochs):
            state.epoch = epoch
            started = time.monotonic()
            _call(callbacks, "on_epoch_begin", state)
            total, count = 0.0, 0
            for logs in engine.train_epoch(epoch):
                state.step += 1
                loss = float(logs["loss"])
                if not math.isfinite(loss):
                    raise RuntimeFailure(
                        f"the loss became {loss} at epoch {epoch + 1}, step {count + 1}",
                        hint="lower learning_rate, check the intensity scaling of the images, "
                             "or disable use_amp")
                total += loss
                count += 1
                _call(callbacks, "on_step_end", state, logs)
            _require_finite_weights(engine, epoch)
            epoch_logs: dict[str, float] = {"loss": total / max(count, 1)}
            state.improved = False
            if has_validation and is_validation_epoch(epoch, state.epochs, validate_every):
                metrics = engine.validate(epoch)
                _note_best(state, metrics)
                epoch_logs.update(metrics)
                _call(callbacks, "on_validation_end", state, metrics)
            epoch_logs["time_s"] = time.monotonic() - started
            with interrupts_held():  # the epoch is recorded everywhere, or nowhere
                state.last_finished_epoch = epoch
                state.finished_steps = state.step
                state.history.append({"epoch": epoch + 1, **epoch_logs})
                _call(callbacks, "on_epoch_end", state, epoch_logs)
        # Inside the same handlers: a failure of the end-of-run saves (a full disk at
        # model_final.ckpt) is recorded as the run's failure like any other, never left
        # behind a previous run's "finished" summary.
        state.ending = True
        _call(callbacks, "on_train_end", state)
    except KeyboardInterrupt:
        _save_interrupted(callbacks, state)
        raise
    except Exception as error:
        if disguised_interrupt(error):  # a Ctrl-C while the step's graph was traced
            _save_interrupted(callbacks, state)
            raise KeyboardInterrupt from error
        _record_failure(callbacks, state, error)
        raise
    return state


def _save_interrupted(callbacks: list[Callback], state: TrainState) -> None:
    """``on_interrupt`` of each callback. The resume state (checkpoint, then run.json) and
    the "interrupted" summary are written whole: a second Ctrl-C ("it did not stop") waits
    for them, else it left a run.json without its checkpoint and a summary saying
    "running"."""
    with interrupts_held(told="mmarctl: still saving the resumable state; the run stops "
                              "when it is written"):
        _call(callbacks, "on_interrupt", state)


def _record_failure(callbacks: list[Callback], state: TrainState, error: Exception) -> None:
    """``on_failure`` of each callback that has it; a callback failing here is logged, so
    that the run's own error is the one the user sees."""
    for callback in callbacks:
        hook = getattr(callback, "on_failure", None)
        if hook is None:
            continue
        try:
            hook(state, error)
        except Exception:  # noqa: BLE001 - the original error matters more
            logging.getLogger("mmarctl.train").warning(
                "%s could not record the failure", type(callback).__name__, exc_info=True)


def _require_finite_weights(engine: Engine, epoch: int) -> None:
    # The loss is computed before the update, so the last step of an epoch can leave NaN
    # weights behind a finite loss; saved as "best", they would validate to Dice 0.
    bad = engine.nonfinite_weights()
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise RuntimeFailure(
            f"the weights became NaN or infinite in epoch {epoch + 1} while the loss stayed "
            f"finite ({bad[0]}{more}); nothing of this epoch was saved",
            hint="lower learning_rate, or disable use_amp (--no-amp)")


def _note_best(state: TrainState, metrics: dict[str, float]) -> None:
    if state.key_metric is None and metrics:
        state.key_metric = next(iter(metrics))
    value = metrics.get(state.key_metric) if state.key_metric else None
    if value is not None and math.isfinite(value) and value > state.best_metric:
        state.best_metric = float(value)
        state.best_epoch = state.epoch
        state.improved = True
