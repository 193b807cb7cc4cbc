"""WriteClassificationResult: one CSV row of class probabilities per evaluated case."""

from __future__ import annotations

import csv
import logging
import threading
from pathlib import Path

import numpy as np

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.component import Component
from mmarctl.runtime.transforms.base import Sample, sample_name
from mmarctl.runtime.writers.case_names import case_of

_LOG = logging.getLogger("mmarctl.writers")


class WriteClassificationResult(Component):
    """Append each case's prediction to ``<write_path>/preds_<field>.csv``.

    Implements Clara's ``WriteClassificationResult``. Columns: ``image`` (the source file
    name as given by the data list; ``~2`` ... after a file listed more than once) then
    ``class_0 .. class_{K-1}`` with the probabilities.
    The first write of a writer instance replaces an existing file (one file per run), with
    a warning naming how many earlier predictions it held (segmentation masks of other
    cases stay beside it; these rows would be lost without a word); later writes append.
    Writes are serialised so worker threads may share one writer.

    Args:
        field: the prediction field (default ``"model"``).
        write_path: output folder (``{MMAR_EVAL_OUTPUT_PATH}``); ``write(sample, out_dir)``
            may override it.
    """

    clara_name = "WriteClassificationResult"

    def __init__(self, field: str = "model", write_path: str | None = None) -> None:
        if not isinstance(field, str) or not field:
            raise ConfigError(f"{self.clara_name}: field must be a field name; Received: field={field!r}")
        if write_path is not None and not isinstance(write_path, str):
            raise ConfigError(f"{self.clara_name}: write_path must be a folder path; "
                              f"Received: write_path={write_path!r}")
        self.field, self.write_path = field, write_path
        self._started: dict[Path, int] = {}
        self._held: dict[str, list[tuple[str, list[float]]]] | None = None
        self._lock = threading.Lock()
        super().__init__(field=field, write_path=write_path)

    def write(self, sample: Sample, out_dir: str | Path | None = None) -> Path:
        """Add this sample's row; returns the CSV file."""
        root = out_dir if out_dir is not None else self.write_path
        if root is None:
            raise ConfigError(f"{self.clara_name}: no output folder (write_path is not set)",
                              hint="set write_path to {MMAR_EVAL_OUTPUT_PATH}")
        if self.field not in sample:
            raise DataError(f"{self.clara_name}: field {self.field!r} is missing",
                            file=sample_name(sample) or None)
        values = np.asarray(sample[self.field], np.float64).reshape(-1)
        path = Path(root) / f"preds_{self.field}.csv"
        with self._lock:
            first = path not in self._started
            if not first and self._started[path] != len(values):
                raise DataError(f"{self.clara_name}: case has {len(values)} classes but earlier "
                                f"cases had {self._started[path]}", file=sample_name(sample) or None)
            named = case_of(sample)  # a file listed twice gets its own row name
            image = named.key if named is not None else sample_name(sample)
            if self._held is not None:
                self._held.setdefault(str(path), []).append((image, values.tolist()))
                self._started[path] = len(values)
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            if first:
                warn_replaced(path)
            try:
                with path.open("w" if first else "a", newline="", encoding="utf-8") as handle:
                    rows = csv.writer(handle)
                    if first:
                        rows.writerow(["image"] + [f"class_{i}" for i in range(len(values))])
                    rows.writerow([image] + [f"{v:.6g}" for v in values])
            except OSError as error:
                raise DataError(f"cannot write CSV file: {error.strerror or error}",
                                file=str(path)) from error
            self._started[path] = len(values)
        return path

    def hold(self) -> None:
        """Keep rows in memory from now on instead of writing them: under validate/infer
        over several processes, ranks sharing one CSV would replace each other's rows;
        rank 0 writes every rank's :meth:`held` rows with :func:`write_table`."""
        self._held = {}

    def held(self) -> dict[str, list[tuple[str, list[float]]]]:
        """The rows kept since :meth:`hold`: CSV path -> (case, class scores) rows."""
        return dict(self._held or {})


def write_table(path: Path, rows: list[tuple[str, list[float]]]) -> Path:
    """Write a whole classification CSV at once (``image``, ``class_0`` ...), replacing an
    earlier run's file with :func:`warn_replaced`'s warning.

    Raises:
        DataError: the rows' class counts differ, or the file cannot be written.
    """
    counts = {len(scores) for _, scores in rows}
    if len(counts) > 1:
        raise DataError(f"cases have different numbers of classes ({sorted(counts)})",
                        file=str(path))
    warn_replaced(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            table = csv.writer(handle)
            table.writerow(["image"] + [f"class_{i}" for i in range(counts.pop() if counts
                                                                      else 0)])
            table.writerows([image] + [f"{v:.6g}" for v in scores] for image, scores in rows)
    except OSError as error:
        raise DataError(f"cannot write CSV file: {error.strerror or error}",
                        file=str(path)) from error
    return path


def warn_replaced(path: Path) -> None:
    """Warn that ``path``, holding an earlier run's predictions, is about to be replaced."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            earlier = [row[0] for row in list(csv.reader(handle))[1:] if row]
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # no file (the usual case), or one that is no CSV of ours
    if earlier:
        from mmarctl.runtime.writers.case_names import case_names

        # Named as the reports name cases: parent folders where file names collide.
        names = [case.shown for case in case_names([{"image": name} for name in earlier])]
        shown = ", ".join(names[:2]) + (" ..." if len(names) > 2 else "")
        _LOG.warning("%s held %d earlier prediction(s) (%s): replaced by this run's (one "
                     "file per run; write to another folder to keep them)", path,
                     len(earlier), shown)
