"""Collect what validate and infer --preview draw, one case at a time, from the eval loop.

The evaluation loop (``mmarctl.runtime.evaluation``) only feeds each case's post-transform
sample to a :class:`ReportCollector` (validate) or a :class:`PreviewWriter` (infer
``--preview``) and calls ``write`` once at the end. Both keep at most the planes of each case
(see :func:`mmarctl.report.overlays.take_view`), never volumes, and neither ever raises: a
picture that cannot be drawn or written is one warning line on the ``mmarctl.report`` logger
and the run goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mmarctl.report.overlays import CaseView, spatial, take_view

__all__ = ["ReportCollector", "PreviewWriter", "class_outcome", "describe_model",
           "lower_is_better", "REPORT_NAME", "PREVIEW_DIR"]

log = logging.getLogger("mmarctl.report")

REPORT_NAME = "report.html"
#: infer --preview writes ``<output>/preview/<case>_preview.png``.
PREVIEW_DIR = "preview"
#: Metric names (lower case) where smaller is better; all other metrics rank larger first.
LOWER_IS_BETTER = ("hausdorff", "distance", "loss", "error")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (surface distances, losses, errors)."""
    return any(word in metric.lower() for word in LOWER_IS_BETTER)


def describe_model(entry: Any) -> str:
    """``"CheckpointLoader (models)"``: a model_loader entry's name and the file it loads."""
    if not isinstance(entry, Mapping):
        return str(entry)
    args = entry.get("args") if isinstance(entry.get("args"), Mapping) else {}
    where = next((str(args[k]) for k in ("model_file_path", "checkpoint_dir", "ckpt_file")
                  if args.get(k)), "")
    name = str(entry.get("name") or entry.get("path") or "model_loader")
    return f"{name} ({where})" if where else name


def _meta(sample: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    props = sample.get("meta", {}).get(field) if isinstance(sample.get("meta"), Mapping) else None
    return props if isinstance(props, Mapping) else {}


def _spacing(sample: Mapping[str, Any], grid: np.ndarray) -> Sequence[float] | None:
    """Voxel sizes of the grid the slices are cut on (the label's, else the prediction's)."""
    for field in ("label", "model"):
        pixdim = _meta(sample, field).get("pixdim")
        if pixdim is not None and len(pixdim) >= grid.ndim:
            return list(pixdim)[:grid.ndim]
    image = _meta(sample, "image")
    same = tuple(image.get("original_shape") or ())[-grid.ndim:] == grid.shape
    pixdim = image.get("original_pixdim" if same else "pixdim")
    return list(pixdim)[:grid.ndim] if pixdim is not None and len(pixdim) >= grid.ndim else None


def _case_view(case: str, sample: Mapping[str, Any], *, with_label: bool) -> CaseView:
    """The planes of one case from its sample fields ``image``, ``label``, ``model``."""
    axis = lambda field: _meta(sample, field).get("channel_axis")  # noqa: E731
    image = spatial(sample["image"], axis("image"), role="image")
    prediction = spatial(sample["model"], axis("model"), role="mask")
    label = (spatial(sample["label"], axis("label"), role="mask")
             if with_label and sample.get("label") is not None else None)
    # A PNG (LoadPng: rows, cols, no geometry) is drawn as stored, like any viewer shows it.
    png = str(_meta(sample, "image").get("filename") or "").lower().endswith(".png")
    return take_view(case, image, label, prediction,
                     spacing=_spacing(sample, label if label is not None else prediction),
                     as_stored=png)


def class_outcome(model: Any, label: Any) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """A classification case's scores, one-hot label and ``{truth, predicted, score}``.

    One sigmoid output: truth and prediction are whether the label and the score are above
    0.5 (as the confusion matrix cuts them), ``score`` the output. Several outputs and a
    one-hot label (one class per case): the label's and the scores' argmax, ``score`` the
    highest output. A label that is a class index is made one-hot, as ComputeAUC reads it.
    Several outputs and a multi-label label (several findings, or none, e.g. ``[1, 1]`` or
    ``[0, 0]``): an argmax would call both "class 0", so truth and prediction are the
    findings, the outputs whose label and score are above 0.5, as ``"0;1"`` (``"none"``
    for no finding), and ``score`` the highest output.

    Raises:
        ValueError: the label has another number of values than the outputs.
    """
    scores = np.asarray(model, np.float64).ravel()
    label = np.asarray(label, np.float64).ravel()
    if label.size == 1 and scores.size > 1:
        label = np.eye(scores.size)[int(round(label[0]))]
    if label.size != scores.size:
        raise ValueError(f"label has {label.size} values for {scores.size} outputs")
    if scores.size == 1:
        return scores, label, {"truth": int(label[0] > 0.5), "predicted": int(scores[0] > 0.5),
                               "score": float(scores[0])}
    if int((label > 0.5).sum()) != 1:
        return scores, label, {"truth": _findings(label), "predicted": _findings(scores),
                               "score": float(scores.max())}
    return scores, label, {"truth": int(label.argmax()), "predicted": int(scores.argmax()),
                           "score": float(scores.max())}


def _findings(values: np.ndarray) -> str:
    """The outputs above 0.5 of a multi-label case, ``"0;2"``; ``"none"`` when none is."""
    return ";".join(str(i) for i in np.flatnonzero(values > 0.5)) or "none"


def _stem(case: str) -> str:
    name = case.replace("\\", "/").rsplit("/", 1)[-1]
    name = name[:-3] if name.endswith(".gz") else name
    return name.rsplit(".", 1)[0] if "." in name else name


class ReportCollector:
    """Gathers a validation run's cases and writes ``report.html`` (validate).

    Args:
        metrics: the validation metric components (``name``, ``is_key_metric``); the key
            metric (the first when none is marked) ranks the cases.
        classification: the network classifies (ROC and confusion matrix, no slices).
        per_side: with more than ``2 * per_side`` cases, only the ``per_side`` worst and
            ``per_side`` best cases by the key metric get a picture.
        dpi: resolution of the case pictures.
    """

    def __init__(self, metrics: Sequence[Any], *, classification: bool, per_side: int = 5,
                 dpi: int | None = None) -> None:
        self.names = [str(m.name) for m in metrics]
        marked = [str(m.name) for m in metrics if getattr(m, "is_key_metric", False)]
        self.key = (marked or self.names or [None])[0]
        self.classification = classification
        self.per_side = per_side
        self.dpi = dpi
        self.rows: list[tuple[str, dict[str, object]]] = []
        self.views: dict[str, CaseView] = {}
        self.key_values: dict[str, float] = {}
        self.scores: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.failed: list[str] = []
        self.empty_labels = 0
        self.shown: dict[str, str] = {}  # case -> the name the page shows, when given
        self.skipped: dict[str, str] = {}  # case -> why skip_bad_cases left it out

    def _fail(self, what: str, error: BaseException) -> None:
        # First failure in full, the others counted in the page and one line at the end.
        if not self.failed:
            log.warning("report: %s: %s", what, error)
        self.failed.append(f"{what}: {error}")

    def add(self, case: str, sample: Mapping[str, Any], values: Sequence[float], *,
            shown: str | None = None) -> None:
        """Record one case: its metric values and its planes (or class scores).

        ``shown`` is the name the page gives the case (the run's name, which keeps two
        ``ct.nii.gz`` of different folders apart); default: ``case``'s file name.
        """
        row: dict[str, object] = dict(zip(self.names, (float(v) for v in values)))
        self.rows.append((case, row))
        if shown:
            self.shown[case] = shown
        if self.key is not None:
            self.key_values[case] = float(row.get(self.key, math.nan))
        try:
            # A score vector is a classification output whatever the loader told evaluate.
            if self.classification or np.ndim(sample.get("model")) <= 1:
                self.classification = True
                self._add_scores(row, sample)
                return
            view = _case_view(case, sample, with_label=True)
        except Exception as error:  # noqa: BLE001 - a picture never stops validation
            self._fail(f"no picture of {_stem(case)}", error)
            return
        self.empty_labels += view.centred_on != "label"
        self.views[case] = view
        self._prune()

    def skip(self, case: str, reason: str, *, shown: str | None = None) -> None:
        """Record a case ``skip_bad_cases`` left out and why: the page counts and lists it
        (its summary is over the other cases)."""
        self.skipped[case] = reason
        if shown:
            self.shown[case] = shown

    #: What :meth:`add` and :meth:`skip` gathered; :meth:`state` hands it on.
    _SHARED = ("rows", "views", "key_values", "scores", "labels", "failed", "empty_labels",
               "shown", "skipped", "classification")

    def state(self) -> dict[str, Any]:
        """What this collector gathered, picklable (at most ``2 * per_side`` cases' planes):
        validate over several processes gathers every rank's to rank 0."""
        return {name: getattr(self, name) for name in self._SHARED}

    def absorb(self, states: Sequence[Mapping[str, Any]], order: Mapping[str, int]) -> None:
        """Hold every rank's cases (``states``: each rank's :meth:`state`, this one's too),
        rows in the datalist's ``order`` (case -> place), as if one process had seen them."""
        self.rows, self.views, self.key_values = [], {}, {}
        self.scores, self.labels, self.failed = [], [], []
        self.empty_labels = 0
        self.shown, self.skipped = {}, {}
        for state in states:
            self.rows += state["rows"]
            self.views.update(state["views"])
            self.key_values.update(state["key_values"])
            self.scores += state["scores"]
            self.labels += state["labels"]
            self.failed += state["failed"]
            self.empty_labels += state["empty_labels"]
            self.shown.update(state["shown"])
            self.skipped.update(state["skipped"])
            self.classification = self.classification or state["classification"]
        last = len(order)
        self.rows.sort(key=lambda row: order.get(row[0], last))
        self.skipped = dict(sorted(self.skipped.items(),
                                   key=lambda item: order.get(item[0], last)))
        self._prune()

    def _add_scores(self, row: dict[str, object], sample: Mapping[str, Any]) -> None:
        scores, label, outcome = class_outcome(sample["model"], sample["label"])
        self.scores.append(scores)
        self.labels.append(label)
        row.update(outcome)

    def summary(self, results: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """Per metric: the run's ``value`` and min/max/mean/count of the finite case values.
        A run-level metric (an AUC: no per-case value, a value over the run) counts the
        cases its value is over."""
        out = {}
        for name in self.names:
            finite = [float(r[name]) for _, r in self.rows
                      if isinstance(r.get(name), float) and math.isfinite(r[name])]
            value = float(results.get(name, math.nan))
            run_level = not finite and math.isfinite(value)
            out[name] = {"value": value,
                         "min": min(finite, default=math.nan),
                         "max": max(finite, default=math.nan),
                         "mean": sum(finite) / len(finite) if finite else math.nan,
                         "count": len(self.rows) if run_level else len(finite)}
        return out

    def _pick(self, cases: list[str]) -> list[str]:
        """Of ``cases`` (in row order), the ones to draw worst first: all of them up to
        ``2 * per_side``, else the ``per_side`` worst and best with a finite key value."""
        if self.key is None:
            return cases[:2 * self.per_side]
        sign = 1.0 if lower_is_better(self.key) else -1.0
        value = self.key_values
        ranked = sorted(cases, key=lambda c: (math.isnan(value[c]),
                                              0.0 if math.isnan(value[c]) else -sign * value[c]))
        if len(ranked) <= 2 * self.per_side:
            return ranked
        scored = [c for c in ranked if not math.isnan(value[c])] or ranked
        n = min(self.per_side, len(scored) // 2) or 1
        return scored[:n] + [c for c in scored[-n:] if c not in scored[:n]]

    def _prune(self) -> None:
        # Planes of a case that can no longer be among the worst or best are dropped, so
        # memory stays at about 2 * per_side cases however long the validation list.
        if len(self.views) > 2 * self.per_side:
            keep = set(self._pick([case for case, _ in self.rows if case in self.views]))
            self.views = {case: view for case, view in self.views.items() if case in keep}

    def chosen(self) -> tuple[list[str], str]:
        """The cases to draw, worst first by the key metric, and a sentence saying which."""
        picked = self._pick([case for case, _ in self.rows if case in self.views])
        if self.key is None:
            return picked, ""
        if len(self.rows) <= 2 * self.per_side:
            return picked, f"every case, worst first by {self.key}"
        n = len(picked) - len(picked) // 2
        return picked, (f"the {n} worst and {len(picked) - n} best of {len(self.rows)} cases "
                        f"by {self.key}, worst first")

    def write(self, output_dir: Path, *, results: Mapping[str, float], model: str,
              mmar: Path | str) -> Path | None:
        """Render the chosen cases and write ``output_dir/report.html``; None (and one warning
        line) when it cannot be written."""
        from mmarctl.report.html import Picture, ReportPage, render_page
        from mmarctl.report.overlays import DEFAULT_DPI, render_classification, render_png

        try:
            pictures = []
            picture_note = ""
            if self.classification and self.scores:
                try:
                    pictures.append(Picture("ROC curve and confusion matrix",
                                            f"{len(self.scores)} cases",
                                            render_classification(np.stack(self.scores),
                                                                  np.stack(self.labels))))
                except Exception as error:  # noqa: BLE001 - never stops validation
                    self._fail("no ROC picture", error)
            else:
                cases, picture_note = self.chosen()
                for index, case in enumerate(cases):
                    view = self.views[case]
                    try:
                        png = render_png(view, dpi=self.dpi or DEFAULT_DPI)
                    except Exception as error:  # noqa: BLE001 - never stops validation
                        self._fail(f"no picture of {_stem(case)}", error)
                        continue
                    pictures.append(Picture(case, view.caption, png, anchor=f"case-{index}"))
            notes = []
            if self.failed:
                notes.append(f"{len(self.failed)} picture(s) could not be drawn; first: "
                             f"{self.failed[0]}")
                if len(self.failed) > 1:
                    log.warning("report: %d more picture(s) could not be drawn",
                                len(self.failed) - 1)
            if self.empty_labels:
                notes.append(f"{self.empty_labels} case(s) have an empty label; their slices "
                             "go through the prediction's centre (or the image centre)")
            columns = list(self.names)
            if self.classification:
                columns += [c for c in ("truth", "predicted", "score")
                            if any(c in r for _, r in self.rows)]
            page = ReportPage(
                mmar=str(mmar), model=model, cases=len(self.rows),
                date=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                metrics=self.names, key_metric=self.key, summary=self.summary(results),
                columns=columns, rows=self.rows, pictures=pictures,
                picture_note=picture_note, notes=notes, shown=dict(self.shown),
                skipped=dict(self.skipped))
            return _write_atomic(Path(output_dir) / REPORT_NAME, render_page(page))
        except Exception as error:  # noqa: BLE001 - the metrics are written already
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            log.warning("report: %s not written: %s", Path(output_dir) / REPORT_NAME, reason)
            return None


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a hidden partial file (no half-written page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


class PreviewWriter:
    """Writes ``<folder>/<case>_preview.png`` per inferred case: the prediction's contours
    over the image (infer ``--preview``), straight away, so nothing accumulates.

    Args:
        folder: where the PNGs go (``<output>/preview``).
        dpi: their resolution.
    """

    def __init__(self, folder: Path, *, dpi: int | None = None) -> None:
        self.folder = Path(folder)
        self.dpi = dpi
        self.written: list[Path] = []
        self.cases: list[str] = []  # the case of each written preview
        self.failed = 0
        self._names: set[str] = set()

    def add(self, case: str, sample: Mapping[str, Any], *, name: str | None = None
            ) -> Path | None:
        """Draw and write one case's preview; None (one warning line, the first time) when
        it cannot be drawn or written.

        ``name`` is the run's name of the case (``p1/ct`` when two cases share ``ct``: the
        preview is then ``p1/ct_preview.png``); default: ``case``'s file name.
        """
        from mmarctl.report.overlays import DEFAULT_DPI, render_png

        try:
            view = _case_view(case, sample, with_label=False)
            name = name or _stem(case)
            png = render_png(view, dpi=self.dpi or DEFAULT_DPI, title=name)
            while name in self._names:  # the same file given twice without a run's names
                name += "_"
            self._names.add(name)
            path = self.folder / f"{name}_preview.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        except Exception as error:  # noqa: BLE001 - a preview never stops inference
            if not self.failed:
                log.warning("preview: no picture of %s: %s", _stem(case), error)
            self.failed += 1
            return None
        self.written.append(path)
        self.cases.append(case)
        return path

    def finish(self) -> None:
        """One line for the failures after the first."""
        if self.failed > 1:
            log.warning("preview: %d more case(s) without a preview", self.failed - 1)
