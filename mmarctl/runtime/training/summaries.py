"""TensorBoard event files in ``models/``: loss, learning rate and every validation metric.

Step scalars are buffered and written at each epoch's end, so a run that fails in its first
epoch (bad label, NaN loss) leaves ``models/`` untouched. Those of an epoch a Ctrl-C (or
another worker's failure) stopped are dropped: ``--resume`` redoes that epoch and writes its
steps then, so TensorBoard never gets the same step twice from one run.

A fresh ``train`` (no ``--resume``) or a ``finetune`` into a models/ that holds an earlier
run's event files moves them into ``previous_runs/<their last write, UTC>/`` when it writes
its own first epoch: TensorBoard shows each folder of a log dir as its own run, so the new
run is drawn alone and the earlier ones stay to compare. (TF2's summary writers cannot write
the ``SessionLog.START`` record TensorBoard would purge by.) ``--resume`` writes beside the
stopped run's file, which is the same run.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from mmarctl.runtime.training.contract import Callback, TrainState

#: Where a fresh run moves the earlier runs' event files (one folder per run).
PREVIOUS_RUNS = "previous_runs"
EVENT_FILES = "events.out.tfevents.*"


def scalar_metadata() -> bytes:
    """TensorBoard's scalar-plugin metadata, built without the ``tensorboard`` package.

    ``tensorflow-cpu`` does not depend on tensorboard, so ``tf.summary.scalar`` is not
    available; ``tf.summary.write`` with this metadata produces the same event records.
    """
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR).SerializeToString()


class TensorBoardSummaries(Callback):
    """Writes ``train/loss``, ``train/learning_rate`` and ``train/<aux tag>`` every
    ``interval`` steps (Clara's ``train_summary_recording_interval``), and ``epoch/loss``
    plus ``validation/<metric>`` per epoch."""

    def __init__(self, log_dir: Path, interval: int = 1, *, fresh: bool = False) -> None:
        """``fresh``: a new run (not ``--resume``): earlier runs' event files are moved to
        :data:`PREVIOUS_RUNS` before this run writes its first."""
        self.log_dir = Path(log_dir)
        self.interval = max(1, int(interval))
        self.fresh = fresh
        self._writer: Any = None
        self._pending: list[tuple[str, float, int]] = []

    def on_step_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if state.step % self.interval == 0:
            for name, value in logs.items():  # loss, learning_rate and aux-op tags
                self._pending.append((f"train/{name}", float(value), state.step))

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        epoch = state.epoch + 1
        for name, value in logs.items():
            if name == "time_s":
                continue
            tag = "epoch/loss" if name == "loss" else f"validation/{name}"
            self._pending.append((tag, float(value), epoch))
        self.flush()

    def flush(self) -> None:
        """Write the buffered scalars."""
        import tensorflow as tf

        if not self._pending:
            return
        if self._writer is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            if self.fresh:
                set_aside_earlier_runs(self.log_dir)
                self.fresh = False
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        metadata = scalar_metadata()
        with self._writer.as_default():
            for tag, value, step in self._pending:
                tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                                 metadata=metadata)
        self._writer.flush()
        self._pending.clear()

    def on_train_end(self, state: TrainState) -> None:
        self.close()

    def on_interrupt(self, state: TrainState) -> None:
        # The unfinished epoch's steps: --resume writes them when it redoes that epoch.
        self._pending.clear()
        self.close()

    def on_failure(self, state: TrainState, error: Exception) -> None:
        from mmarctl.runtime.distributed import is_peer_failure

        if is_peer_failure(error):  # a resume state is kept (CheckpointSaver): as Ctrl-C
            self._pending.clear()

    def close(self) -> None:
        """Flush and close; scalars of a first epoch that never finished are dropped, so a
        run that fails early leaves no event file."""
        if self._writer is not None:
            self.flush()
            self._writer.close()
            self._writer = None
        self._pending.clear()


def set_aside_earlier_runs(log_dir: Path) -> Path | None:
    """Move the event files in ``log_dir`` into ``previous_runs/<newest one's mtime>/``
    (UTC, ``20261206-223601``; ``-2``, ``-3`` when taken); returns that folder, or None when
    there was none. A file that cannot be moved is left with a warning: summaries never
    stop a run."""
    earlier = sorted(log_dir.glob(EVENT_FILES))
    if not earlier:
        return None
    newest = max(path.stat().st_mtime for path in earlier)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(newest))
    folder, number = log_dir / PREVIOUS_RUNS / stamp, 1
    # A folder without events is the same run's (a finetune's kept starting checkpoint)
    while any(folder.glob(EVENT_FILES)):
        number += 1
        folder = log_dir / PREVIOUS_RUNS / f"{stamp}-{number}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path in earlier:
            os.replace(path, folder / path.name)
    except OSError as error:
        logging.getLogger("mmarctl.train").warning(
            "could not move the earlier run's TensorBoard events to %s (%s): TensorBoard "
            "will draw both runs as one", folder, error.strerror or error)
        return None
    logging.getLogger("mmarctl.train").info(
        "earlier TensorBoard events moved to %s", folder)
    return folder
