"""Study scalars for TensorBoard in ``automl/<run_id>/study/`` (Clara's MMARTensorboardHandler).

Per trial number: the trial's key metric (``automl/metric``), the best so far
(``automl/best_metric``), its seconds, and each searched value (``params/<name>``, booleans as
0/1), so TensorBoard's scalar view shows how the search moved. Each trial's own training
curves are in ``automl/<run_id>/trial_NNN/models/``: ``tensorboard --logdir automl/<run_id>``
shows both. Written with TensorBoard's own event writer, without TensorFlow; when TensorBoard
is not installed the study says so once and goes on.
"""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path
from typing import Any


def _without_tensorflow() -> None:
    """Make TensorBoard use its TensorFlow stub in this process.

    TensorBoard's writer imports TensorFlow when it is installed (2 s and its C++ start-up
    lines, in a study process that never needs it); the presence of a module named
    ``tensorboard.compat.notf`` is TensorBoard's own switch for its stub instead.
    """
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType(
            "tensorboard.compat.notf"))


class StudyScalars:
    """Appends study scalars to an event file; a no-op after one warning if it cannot."""

    def __init__(self, log_dir: Path, warn: Any = None) -> None:
        self.log_dir = Path(log_dir)
        self.warn = warn or (lambda message: None)
        self._writer: Any = None
        self._failed = False
        self._best: float | None = None

    def _open(self) -> Any:
        if self._writer is None and not self._failed:
            try:
                _without_tensorflow()
                from tensorboard.summary.writer.event_file_writer import EventFileWriter

                self.log_dir.mkdir(parents=True, exist_ok=True)
                self._writer = EventFileWriter(str(self.log_dir))
            except Exception as error:  # ImportError, or an unwritable folder
                self._failed = True
                self.warn(f"study scalars for TensorBoard are not written ({error})")
        return self._writer

    def trial(self, number: int, metric: float | None, seconds: float,
              params: dict[str, Any]) -> None:
        """Record one finished trial."""
        writer = self._open()
        if writer is None:
            return
        from tensorboard.compat.proto import event_pb2, summary_pb2

        values: dict[str, float] = {"automl/seconds": float(seconds)}
        if metric is not None:
            values["automl/metric"] = float(metric)
            self._best = metric if self._best is None else max(self._best, metric)
        if self._best is not None:
            values["automl/best_metric"] = float(self._best)
        for name, value in params.items():
            if isinstance(value, bool):
                values[f"params/{name}"] = float(value)
            elif isinstance(value, (int, float)):
                values[f"params/{name}"] = float(value)
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=v)
                                             for tag, v in values.items()])
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=number, summary=summary))
        writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
