"""Case pictures: orthogonal slices of an image with ground-truth and prediction contours.

A picture is made in two steps, so that collecting many cases keeps memory flat:

* :func:`take_view` picks the slicing point (the label's centre of mass; the prediction's
  when the label is empty; the volume's centre when both are) and keeps only the planes
  through it: three for a 3D volume (axial, coronal, sagittal in the array's ``(x, y, z)``
  axes), one for a 2D image. Each plane holds the windowed image as ``uint8`` and the label
  and prediction class maps. The volumes can be dropped right after.
* :func:`render_png` draws a :class:`CaseView` with matplotlib's Agg canvas (a ``Figure``,
  no pyplot state) at a small dpi: grey image, one contour per class, ground truth in
  greens/cyans, prediction in reds/magentas, drawn thinner on top so both stay visible.

The window comes from the image itself: a CT soft-tissue window (level 40, width 400 HU)
when the values look like Hounsfield units, else the 1st to 99th percentile.
:func:`render_classification` draws ROC curves and a confusion matrix instead.

Arrays that cannot be drawn (a 4D image, label and image of different dimensionality)
raise :class:`~mmarctl.errors.DataError` with a one-line message.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mmarctl.errors import DataError

__all__ = ["GT_COLOURS", "PRED_COLOURS", "HU_WINDOW", "Panel", "CaseView", "spatial",
           "class_map", "window", "slice_point", "take_view", "render_png", "roc_curve",
           "render_classification"]

#: Contour colours per class (class 1 first): ground truth, then prediction.
GT_COLOURS = ("#00e000", "#00c8ff", "#ffe000", "#00ffa0", "#8080ff")
PRED_COLOURS = ("#ff2020", "#ff30ff", "#ff9000", "#c060ff", "#ff8080")
#: CT soft-tissue window in HU (level 40, width 400).
HU_WINDOW = (-160.0, 240.0)
#: Drawn size of one panel in inches; at the default dpi a panel is about 140 px wide.
PANEL_INCHES = 2.4
DEFAULT_DPI = 60


@dataclass
class Panel:
    """One plane of a case, ready to draw with ``imshow(origin=panel.origin)``.

    Attributes:
        title: e.g. ``"axial z=40"``.
        image: the windowed image, ``uint8`` (0 = window low, 255 = window high).
        label: ground-truth class map on the plane (``uint8``), or None.
        prediction: predicted class map on the plane (``uint8``), or None.
        aspect: height/width of one pixel (from the voxel spacing).
        origin: ``"lower"`` (rows bottom-up: the transposed planes of a volume) or
            ``"upper"`` (row 0 at the top: a 2-D picture drawn as stored, like a PNG).
    """

    title: str
    image: np.ndarray
    label: np.ndarray | None = None
    prediction: np.ndarray | None = None
    aspect: float = 1.0
    origin: str = "lower"


@dataclass
class CaseView:
    """The planes kept for one case and how they were chosen.

    Attributes:
        name: the case (image file name).
        panels: one panel (2D) or three (3D).
        point: the slicing point in the label's (else the image's) voxel indices.
        centred_on: ``"label"``, ``"prediction"`` or ``"centre"``.
        window: ``(low, high)`` image values mapped to black and white.
        window_kind: how the window was chosen.
        has_label: whether a label was given at all (infer previews have none).
    """

    name: str
    panels: list[Panel]
    point: tuple[int, ...]
    centred_on: str
    window: tuple[float, float]
    window_kind: str
    has_label: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def caption(self) -> str:
        """One line: where the slices go through, the window, and any empty-label note."""
        where = {"label": "through the label's centre",
                 "prediction": "through the prediction's centre",
                 "centre": "through the image centre"}[self.centred_on]
        if self.has_label and self.centred_on != "label":
            where = f"label empty: {where}"
        text = (f"{where} {self.point}; window {self.window[0]:.4g} to {self.window[1]:.4g} "
                f"({self.window_kind})")
        return "; ".join([text, *self.notes])


def spatial(array: Any, channel_axis: int | None = None, *, role: str) -> np.ndarray:
    """The spatial array of a sample field: 2D or 3D, channel axis removed.

    ``role="image"`` keeps the first channel. ``role="mask"`` (label, prediction): one
    channel is taken as is (the planes drawn are made class maps, see :func:`class_map`),
    several channels are reduced by argmax (probabilities or one-hot). Views are returned
    where possible: a large volume is not copied.

    Raises:
        DataError: the array has other than 2 or 3 spatial axes.
    """
    a = np.asarray(array)
    if channel_axis is not None and a.ndim >= 3:
        axis = int(channel_axis) % a.ndim
        if role == "image" or a.shape[axis] == 1:
            a = a[(slice(None),) * axis + (0,)]
        else:
            a = np.argmax(a, axis=axis)
    # Leading or trailing singleton axes (a (1, x, y, z) without meta, a (x, y, 1) slice).
    while a.ndim > 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and 1 in a.shape:
        a = a.squeeze(axis=a.shape.index(1))
    if a.ndim not in (2, 3):
        raise DataError(f"cannot draw a {a.ndim}D {role} (shape {tuple(np.shape(array))}); "
                        "pictures show 2D images or 3D volumes")
    return a


def class_map(plane: np.ndarray) -> np.ndarray:
    """A label or prediction plane as ``uint8`` class indices: class values as they are,
    probabilities (non-integer floats) thresholded at 0.5, NaN and negatives as 0."""
    plane = np.asarray(plane)
    if plane.dtype.kind == "f":
        plane = np.nan_to_num(plane)
        if not np.array_equal(plane, np.round(plane)):
            plane = plane > 0.5
    return np.clip(plane, 0, 255).astype(np.uint8)


def window(image: np.ndarray) -> tuple[float, float, str]:
    """``(low, high, kind)``: the soft-tissue window for CT in HU, else percentiles 1-99.

    Values look like HU when the darkest are air (below -500) and the brightest reach soft
    tissue or bone (above 100). A flat image gets a window one unit wide around its value.
    """
    image = np.asarray(image)
    # Percentiles of a strided subsample (about 200k voxels, no copy of the volume): the
    # same window within a grey level, far cheaper.
    step = max(1, int(np.ceil((image.size / 200_000) ** (1 / max(image.ndim, 1)))))
    values = image[(slice(None, None, step),) * image.ndim].astype(np.float32).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0, "no finite values"
    low, high = np.percentile(values, [1, 99])
    if values.min() < -500 and values.max() > 100 and high - low > 200:
        return HU_WINDOW[0], HU_WINDOW[1], "CT soft tissue, level 40 width 400 HU"
    if high <= low:
        low, high = float(values.min()), float(values.max())
        if high <= low:
            return low - 0.5, low + 0.5, "flat image"
    return float(low), float(high), "1st-99th percentile"


def slice_point(shape: Sequence[int], label: np.ndarray | None,
                prediction: np.ndarray | None) -> tuple[tuple[int, ...], str]:
    """The slicing point and what it is the centre of: ``"label"``, ``"prediction"``, ``"centre"``.

    The centre of mass of the label's foreground (any class above 0), else of the
    prediction's, else the middle of ``shape``; rounded to voxel indices.
    """
    for mask, source in ((label, "label"), (prediction, "prediction")):
        if mask is None:
            continue
        foreground = np.asarray(mask) > 0
        total = np.count_nonzero(foreground)
        if total:
            # Centre of mass from the projections on each axis: cheaper than np.nonzero.
            point = []
            for axis in range(foreground.ndim):
                others = tuple(k for k in range(foreground.ndim) if k != axis)
                weights = np.count_nonzero(foreground, axis=others)
                point.append(int(round(float(weights @ np.arange(weights.size)) / total)))
            return tuple(point), source
    return tuple(int(s) // 2 for s in shape), "centre"


def _plane(volume: np.ndarray, axis: int | None, index: int, ref_shape: tuple[int, ...]
           ) -> np.ndarray:
    """The plane of ``volume`` at ``index`` (in ``ref_shape`` voxels) along ``axis``,
    resampled (nearest) to the reference plane's shape when the volume's shape differs, as
    with an image resampled by the pre-transforms and a label in the original grid."""
    if axis is None:
        plane, target = volume, ref_shape
    else:
        i = index if volume.shape[axis] == ref_shape[axis] else int(
            index * volume.shape[axis] / ref_shape[axis])
        plane = np.take(volume, min(max(i, 0), volume.shape[axis] - 1), axis=axis)
        target = tuple(s for k, s in enumerate(ref_shape) if k != axis)
    if plane.shape != target:
        rows = np.linspace(0, plane.shape[0] - 1, target[0]).round().astype(int)
        cols = np.linspace(0, plane.shape[1] - 1, target[1]).round().astype(int)
        plane = plane[np.ix_(rows, cols)]
    return plane


def _aspect(spacing: Sequence[float] | None, row: int, col: int) -> float:
    if spacing is None:
        return 1.0
    try:
        aspect = float(spacing[row]) / float(spacing[col])
    except (IndexError, TypeError, ValueError, ZeroDivisionError):
        return 1.0
    return aspect if np.isfinite(aspect) and 0.05 < aspect < 20 else 1.0


def take_view(name: str, image: np.ndarray, label: np.ndarray | None = None,
              prediction: np.ndarray | None = None, *,
              spacing: Sequence[float] | None = None, as_stored: bool = False) -> CaseView:
    """The planes to draw for one case (spatial arrays from :func:`spatial`).

    The slicing point is chosen on the label's grid (the prediction's without a label);
    an image of another shape with the same number of axes is sampled proportionally.
    ``spacing`` (voxel sizes of that grid, e.g. ``meta["label"]["pixdim"]``) sets the
    pixel aspect ratio.

    Planes of a volume are shown transposed with the origin at the bottom (the first axis
    runs left to right, as the planes of ``(x, y, z)`` NIfTI volumes usually are). A 2-D
    image with ``as_stored`` (a PNG: ``(rows, cols)``, no geometry) is drawn as stored
    instead, row 0 at the top, so the picture looks like the file in any image viewer and
    like the mask WritePng writes for it.

    Raises:
        DataError: the arrays differ in their number of axes, or label and prediction in
            shape.
    """
    masks = [m for m in (label, prediction) if m is not None]
    ref = masks[0].shape if masks else image.shape
    for array, what in ((image, "image"), *((m, "prediction") for m in masks[1:])):
        if array.ndim != len(ref):
            raise DataError(f"cannot draw {name}: {what} shape {array.shape} does not match "
                            f"the label's {ref}")
    if len(masks) == 2 and masks[1].shape != ref:
        raise DataError(f"cannot draw {name}: prediction shape {masks[1].shape} differs from "
                        f"the label's {ref}")
    low, high, kind = window(image)
    point, source = slice_point(ref, label, prediction)
    scale = 255.0 / (high - low)

    def grey(plane: np.ndarray) -> np.ndarray:
        return (np.clip((plane.astype(np.float32) - low) * scale, 0, 255)).astype(np.uint8)

    stored = as_stored and len(ref) == 2
    if len(ref) == 2:
        planes = [("image", None, 0, 1) if stored else ("image", None, 1, 0)]
    else:
        x, y, z = point
        # (title, axis cut, row axis, column axis) of each plane, shown transposed.
        planes = [(f"axial z={z}", 2, 1, 0), (f"coronal y={y}", 1, 2, 0),
                  (f"sagittal x={x}", 0, 2, 1)]
    panels = []
    for title, axis, row, col in planes:
        index = 0 if axis is None else point[axis]
        if stored:
            take = lambda v: None if v is None else _plane(v, axis, index, ref)  # noqa: E731
        else:
            take = lambda v: None if v is None else _plane(v, axis, index, ref).T  # noqa: E731
        mask = lambda v: None if v is None else class_map(take(v))  # noqa: E731
        panels.append(Panel(title=title, image=grey(take(image)), label=mask(label),
                            prediction=mask(prediction), aspect=_aspect(spacing, row, col),
                            origin="upper" if stored else "lower"))
    return CaseView(name=name, panels=panels, point=point, centred_on=source,
                    window=(float(low), float(high)), window_kind=kind,
                    has_label=label is not None)


def _figure(width: float, height: float, dpi: int) -> Any:
    # Imported here: the CLI must start without matplotlib (tests/test_cli_imports.py).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any, dpi: int, facecolor: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor=facecolor)
    return buffer.getvalue()


def _contours(axes: Any, mask: np.ndarray | None, colours: Sequence[str], width: float) -> None:
    if mask is None:
        return
    for k in np.unique(mask):
        if k == 0:
            continue
        inside = mask == k
        if inside.all():  # no boundary on this plane
            continue
        axes.contour(inside.astype(np.uint8), levels=[0.5], colors=[colours[(k - 1) % len(colours)]],
                     linewidths=width)


def render_png(view: CaseView, *, dpi: int = DEFAULT_DPI, title: str | None = None) -> bytes:
    """The case's panels side by side as PNG bytes: grey image, ground truth contours
    (thick, greens), prediction contours (thin, reds) on top; ``title`` above them."""
    n = len(view.panels)
    figure = _figure(PANEL_INCHES * n, PANEL_INCHES + (0.55 if title else 0.3), dpi)
    axes_row = figure.subplots(1, n, squeeze=False)[0]
    for axes, panel in zip(axes_row, view.panels):
        axes.imshow(panel.image, cmap="gray", vmin=0, vmax=255, origin=panel.origin,
                    aspect=panel.aspect, interpolation="nearest")
        _contours(axes, panel.label, GT_COLOURS, 2.2)
        _contours(axes, panel.prediction, PRED_COLOURS, 1.1)
        axes.set_title(panel.title, color="white", fontsize=8, pad=2)
        axes.set_axis_off()
    if title:
        figure.suptitle(title, color="white", fontsize=8)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01,
                           top=0.80 if title else 0.88, wspace=0.03)
    return _png(figure, dpi, "black")


def roc_curve(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(false positive rate, true positive rate, AUC)`` of one class; NaN AUC when the
    truth holds a single value (no curve then: two empty arrays)."""
    scores = np.asarray(scores, np.float64).ravel()
    truth = np.asarray(truth).ravel() > 0.5
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return np.array([]), np.array([]), float("nan")
    order = np.argsort(-scores, kind="mergesort")
    scores, truth = scores[order], truth[order]
    # One point per distinct threshold.
    last = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1]
    tpr = np.r_[0.0, np.cumsum(truth)[last] / positives]
    fpr = np.r_[0.0, np.cumsum(~truth)[last] / negatives]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return fpr, tpr, auc


def confusion(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The confusion matrix (rows: truth, columns: prediction) and its class names.

    One output (sigmoid) or several labels per case: positive at 0.5, a 2x2 matrix of the
    first class (named ``class 0 negative/positive`` when there are several outputs, so it
    does not read as the whole case's). One label per case among several outputs: argmax,
    K x K.
    """
    scores, labels = np.atleast_2d(scores), np.atleast_2d(labels)
    k = scores.shape[1]
    if k > 1 and np.allclose(labels.sum(axis=1), 1):
        truth, predicted, names = labels.argmax(1), scores.argmax(1), [str(i) for i in range(k)]
    else:
        truth, predicted = (labels[:, 0] > 0.5).astype(int), (scores[:, 0] > 0.5).astype(int)
        names = ["negative", "positive"] if k == 1 else ["class 0 negative", "class 0 positive"]
        k = 2
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix, names


def render_classification(scores: np.ndarray, labels: np.ndarray, *,
                          dpi: int = 80) -> bytes:
    """ROC curve per class (AUC in the legend) and the confusion matrix, as PNG bytes.

    Args:
        scores: ``(cases, K)`` network outputs.
        labels: ``(cases, K)`` 0/1 labels.
    """
    scores, labels = np.atleast_2d(scores), np.atleast_2d(labels)
    figure = _figure(7.0, 3.2, dpi)
    roc_axes, matrix_axes = figure.subplots(1, 2)
    for k in range(scores.shape[1]):
        fpr, tpr, auc = roc_curve(scores[:, k], labels[:, k])
        if fpr.size:
            roc_axes.plot(fpr, tpr, color=PRED_COLOURS[k % len(PRED_COLOURS)], lw=1.5,
                          label=f"class {k}: AUC {auc:.3f}")
        else:
            roc_axes.plot([], [], label=f"class {k}: one label value only, no curve")
    roc_axes.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--")
    roc_axes.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate",
                 ylabel="true positive rate", title="ROC")
    roc_axes.legend(loc="lower right", fontsize=7)
    matrix, names = confusion(scores, labels)
    matrix_axes.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        matrix_axes.text(j, i, str(count), ha="center", va="center", fontsize=9,
                         color="white" if count > matrix.max() / 2 else "black")
    matrix_axes.set(xticks=range(len(names)), yticks=range(len(names)),
                    xticklabels=names, yticklabels=names, xlabel="predicted", ylabel="truth",
                    title="confusion matrix")
    figure.tight_layout()
    return _png(figure, dpi, "white")
