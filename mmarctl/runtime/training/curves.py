"""Redraws ``models/learning_curves.png`` during training (chief only).

The picture is drawn beside the trainer, not inside it: this callback only decides *when*
(after each validation epoch's history line is written, at the end, on interrupt);
:mod:`mmarctl.report.curves` reads ``models/metrics_history.jsonl`` and draws. It comes
after :class:`~mmarctl.runtime.training.history.HistoryWriter` in the callback list, so the
epoch it is called for is already in the file. A failure to draw (unwritable models/,
matplotlib missing) is logged once, in one line, and never reaches training.

Cost: a draw takes a few hundred milliseconds of CPU (matplotlib lays out every tick and
label), which is well under 1 % of a real epoch but not of a toy one. So a redraw waits
until the time since the last one is ``1 / max_share`` times what that one cost (100 times
with the default 1 %): on epochs of a minute every validation redraws; a run of 2-second
epochs redraws every half minute or so. The end of training draws whatever epochs the last
picture lacks, so the final picture has every epoch; a picture that already has them (the
last epoch validated and was drawn) is not drawn again, which is a third of a short run's
drawing (the first draw, with matplotlib's import and font cache, costs the most).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mmarctl.runtime.training.contract import Callback, TrainState

log = logging.getLogger("mmarctl.train")

#: Epoch logs keys that are not validation metrics.
_NOT_METRICS = {"loss", "time_s"}


class LearningCurvesWriter(Callback):
    """Draws ``learning_curves.png`` in ``models_dir`` from the run's history.

    Args:
        models_dir: the MMAR's models/ folder (where ``metrics_history.jsonl`` is).
        max_share: the share of training time drawing may take (0.01); None redraws after
            every validation whatever it costs.
    """

    def __init__(self, models_dir: Path, max_share: float | None = 0.01) -> None:
        self.models_dir = Path(models_dir)
        self.max_share = max_share
        self.failed = False
        self.draws = 0
        self.draw_seconds: list[float] = []
        self._next_at = 0.0  # time.monotonic() before which a redraw waits
        self._drawn_through: int | None = None  # last finished epoch the picture shows

    def draw(self, state: TrainState) -> None:
        """Draw now; after a first failure, warn once and stop drawing."""
        if self.failed:
            return
        try:
            # imported before the clock starts: a run pays the import once, not per draw
            import matplotlib.backends.backend_agg  # noqa: F401

            from mmarctl.report.curves import write_learning_curves

            started = time.monotonic()
            if write_learning_curves(self.models_dir) is not None:
                self.draws += 1
                self._drawn_through = state.last_finished_epoch
            cost = time.monotonic() - started
        except Exception as error:  # a picture never stops training
            self.failed = True
            # only a module not installed is "missing": an import cut short (a signal while
            # importing, a partly initialised module) says what it is
            if isinstance(error, ModuleNotFoundError) and error.name \
                    and not error.name.startswith("mmarctl"):
                reason = f"the {error.name.split('.')[0]} package is missing"
            else:
                reason = str(error) or type(error).__name__
            log.warning("learning curves not drawn (%s); training goes on without "
                        "learning_curves.png", " ".join(reason.split()))
            return
        self.draw_seconds.append(cost)
        if self.max_share:
            self._next_at = time.monotonic() + cost / self.max_share

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if set(logs) - _NOT_METRICS and time.monotonic() >= self._next_at:
            self.draw(state)  # a validation epoch, and drawing is within its time share

    def on_train_end(self, state: TrainState) -> None:
        self._draw_what_is_missing(state)

    def on_interrupt(self, state: TrainState) -> None:
        self._draw_what_is_missing(state)

    def _draw_what_is_missing(self, state: TrainState) -> None:
        """Draw unless the picture already shows every finished epoch."""
        if self._drawn_through != state.last_finished_epoch:
            self.draw(state)
