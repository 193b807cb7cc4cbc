"""Learning curves from ``models/metrics_history.jsonl``: ``models/learning_curves.png``.

No TensorFlow; matplotlib (Agg, a :class:`~matplotlib.figure.Figure` of its own, never
pyplot's global state) is imported only when a picture is drawn, so importing this module
is cheap.

The history file holds every epoch record a workspace ever wrote: a ``finetune`` or a
``train --resume`` appends to it, and so does a fresh ``train`` over old models/. The
curves show the *current lineage*: the last fresh training run (a ``train`` record whose
epoch does not follow the previous record's), then every run after it. A resumed run
continues the epoch count by itself; a finetune run restarts at epoch 1, so its epochs are
shifted to follow on, and its start is marked. The best epoch is the one the current run's
``models/model.ckpt`` holds (the last record's ``best_epoch``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mmarctl.run_records import read_history
from mmarctl.staging import temporary_beside

#: The picture's name in models/.
PNG = "learning_curves.png"

#: Small on purpose: drawing runs inside training and must stay well under 1 % of an epoch.
DPI = 72


@dataclass
class Curves:
    """One lineage of epoch records, ready to draw.

    Attributes:
        epochs: x of each record (1-based; finetune epochs follow on from the run before).
        loss: the training loss per epoch (NaN where not finite).
        learning_rate: the learning rate at each epoch's last step (NaN where unknown).
        metrics: per validation metric, its ``(x, value)`` points (validation epochs only).
        key_metric: the metric that chooses ``model.ckpt``, or None.
        best: ``(x, value)`` of the best key metric, or None before any validation.
        phase_starts: ``(x, phase)`` where a later run (finetune) starts.
        seconds: wall time of the lineage's runs added up.
    """

    epochs: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    key_metric: str | None = None
    best: tuple[int, float] | None = None
    phase_starts: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.epochs)

    def key_points(self) -> list[tuple[int, float]]:
        """The key metric's points (the first metric's when no key metric is named)."""
        name = self.key_metric if self.key_metric in self.metrics else next(iter(self.metrics),
                                                                            None)
        return self.metrics.get(name, []) if name else []


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _runs(records: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split records into runs: a record whose epoch does not follow on starts a new run;
    a resumed run's epochs follow on, so it stays in the run it continues."""
    runs: list[list[dict[str, Any]]] = []
    previous = None
    for record in records:
        epoch = record.get("epoch")
        if not isinstance(epoch, int):
            continue
        if previous is None or epoch <= previous:
            runs.append([])
        runs[-1].append(record)
        previous = epoch
    return runs


def lineage(records: Sequence[dict[str, Any]]) -> Curves:
    """The current lineage of ``records`` (see the module docstring) as :class:`Curves`."""
    runs = _runs(records)
    start = 0
    for index, run in enumerate(runs):
        if run[0].get("phase", "train") != "finetune":
            start = index  # a fresh train run: what came before no longer matters
    runs = runs[start:]
    curves = Curves()
    offset = 0
    for index, run in enumerate(runs):
        if index:
            curves.phase_starts.append((offset + run[0]["epoch"], str(run[0].get("phase"))))
        # seconds restart with each process (a resume too): add each stretch's last value
        stretch = 0.0
        for record in run:
            x = offset + record["epoch"]
            seconds = _number(record.get("seconds"))
            if not math.isnan(seconds):
                if seconds < stretch:
                    curves.seconds += stretch
                stretch = seconds
            curves.epochs.append(x)
            curves.loss.append(_number(record.get("loss")))
            curves.learning_rate.append(_number(record.get("learning_rate")))
            for name, value in (record.get("metrics") or {}).items():
                curves.metrics.setdefault(name, []).append((x, _number(value)))
        curves.seconds += stretch
        offset = curves.epochs[-1]
    if not curves:
        return curves
    last = runs[-1][-1]
    curves.key_metric = last.get("key_metric") or next(iter(curves.metrics), None)
    curves.best = _best(curves, runs[-1], offset - runs[-1][-1]["epoch"], last)
    return curves


def _best(curves: Curves, run: list[dict[str, Any]], offset: int,
          last: dict[str, Any]) -> tuple[int, float] | None:
    best_epoch, best_metric = last.get("best_epoch"), _number(last.get("best_metric"))
    if isinstance(best_epoch, int) and not math.isnan(best_metric):
        if any(record["epoch"] == best_epoch for record in run):
            return offset + best_epoch, best_metric
    points = [(x, v) for x, v in curves.key_points() if not math.isnan(v)]
    return max(points, key=lambda p: p[1]) if points else None


def read_curves(models_dir: Path) -> Curves:
    """The current lineage of ``models_dir/metrics_history.jsonl`` (empty when none)."""
    return lineage(read_history(Path(models_dir)))


# -- drawing ------------------------------------------------------------------------------
def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)  # Agg, whatever backend pyplot elsewhere may have chosen
    return figure


def save_png(figure: Any, path: Path) -> Path:
    """Write ``figure`` to ``path`` atomically: a temporary file beside it, then a rename,
    so a viewer never reads half a PNG."""
    path = Path(path)
    fd, tmp = temporary_beside(path)  # also removes those of killed writers
    try:
        with os.fdopen(fd, "wb") as handle:
            figure.savefig(handle, format="png", dpi=DPI)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a PNG is for anyone to look at
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _style(ax: Any, title: str, log: bool = False) -> None:
    """Title, few ticks and a light grid. An explicit title ``y`` and four tick bins keep
    matplotlib from measuring and making many tick labels, most of a draw's time. A log
    y axis keeps the ticks :func:`_log_scale` gave it (four linear bins would put ticks
    between the decades, which the log formatter leaves unlabelled: an axis without numbers)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, loc="left", fontsize=8, y=1.0, pad=3)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    if not log:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.tick_params(labelsize=7)
    ax.grid(True, linewidth=0.4, alpha=0.5)


def _log_scale(ax: Any, low: float, high: float) -> None:
    """A log y axis for a learning rate spanning ``low..high`` (over 10x), every major tick
    labelled as a plain number (``0.001``, ``5e-05``): decades only over a wide range,
    1-2-5 steps within two decades, where the decades alone may be one tick or none."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    subs = (1.0, 2.0, 5.0) if high / low <= 100 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=6))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _mark_phases(ax: Any, curves: Curves, label: bool) -> None:
    for x, phase in curves.phase_starts:
        ax.axvline(x - 0.5, color="0.45", linestyle="--", linewidth=1)
        if label:
            ax.annotate(phase, (x - 0.5, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -10), textcoords="offset points", fontsize=7, color="0.3")


def _annotate_best(ax: Any, curves: Curves, text: str, color: str) -> None:
    """The best point's label, on the side with room (left of a best near the end)."""
    x, value = curves.best
    right = x > (curves.epochs[0] + curves.epochs[-1]) / 2
    ax.annotate(text, (x, value), xytext=(-6 if right else 6, -12), textcoords="offset points",
                fontsize=7, color=color, ha="right" if right else "left")


def _place_best_labels(ax: Any, figure: Any, labels: list[tuple[Curves, str, Any]]) -> None:
    """Write each best label beside its star (best first) where it covers no label already
    written: tried below the star, then further down and above; a label with no free place
    is left out (its legend entry says the same)."""
    ax.autoscale_view()
    scale = figure.dpi / 72.0  # points -> pixels
    placed: list[tuple[float, float, float, float]] = []
    for curves, text, color in sorted(labels, key=lambda item: -item[0].best[1]):
        x, value = curves.best
        right = x > (curves.epochs[0] + curves.epochs[-1]) / 2
        px, py = ax.transData.transform((x, value))
        width, height = len(text) * 7 * 0.62 * scale, 9 * scale
        for dy in (-12, -22, 6, -32, 16):
            dx = -6 if right else 6
            left = px + dx * scale - (width if right else 0)
            bottom = py + dy * scale - height / 2
            box = (left, bottom, left + width, bottom + height)
            if all(box[2] < o[0] or box[0] > o[2] or box[3] < o[1] or box[1] > o[3]
                   for o in placed):
                placed.append(box)
                ax.annotate(text, (x, value), xytext=(dx, dy), textcoords="offset points",
                            fontsize=7, color=color, ha="right" if right else "left",
                            va="center")
                break


def draw_curves(curves: Curves, path: Path, title: str = "") -> Path:
    """Draw ``curves`` into ``path`` (PNG): loss, learning rate and one panel per
    validation metric; the best epoch marked in every panel and annotated on the key
    metric's; finetune starts as dashed lines."""
    names = ["loss", "learning rate", *curves.metrics]
    columns = 1 if len(names) <= 3 else 2
    rows = -(-len(names) // columns)
    height = 1.9 * rows + 0.6  # inches; fixed margins, no layout engine (it costs time)
    figure = _new_figure(5.6 * columns, height)
    axes = figure.subplots(rows, columns, sharex=True, squeeze=False).ravel()
    figure.subplots_adjust(left=0.09 if columns == 1 else 0.06, right=0.98,
                           top=1 - 0.55 / height, bottom=0.45 / height, hspace=0.4, wspace=0.18)
    best_x = curves.best[0] if curves.best else None
    # One epoch is one point: a line through it draws nothing, a marker shows it.
    lone = {"marker": "o", "markersize": 3} if len(curves.epochs) < 2 else {}
    for index, (ax, name) in enumerate(zip(axes, names)):
        if name == "loss":
            ax.plot(curves.epochs, curves.loss, color="tab:blue", linewidth=1.2, **lone)
        elif name == "learning rate":
            ax.plot(curves.epochs, curves.learning_rate, color="tab:orange", linewidth=1.2,
                    **lone)
            rates = [r for r in curves.learning_rate if r > 0]
            if rates and max(rates) > 10 * min(rates):
                _log_scale(ax, min(rates), max(rates))
        else:
            xs, ys = zip(*curves.metrics[name])
            ax.plot(xs, ys, color="tab:green", linewidth=1.2, marker="o", markersize=2.5)
            if name == curves.key_metric and curves.best:
                ax.plot(*curves.best, marker="*", color="tab:red", markersize=10)
                _annotate_best(ax, curves, f"best {curves.best[1]:.4f} @ epoch "
                                           f"{curves.best[0]}", "tab:red")
        _style(ax, name + (" (key)" if name == curves.key_metric else ""),
               log=ax.get_yscale() == "log")
        if best_x is not None:
            ax.axvline(best_x, color="tab:red", linestyle=":", linewidth=0.9)
        _mark_phases(ax, curves, label=index == 0)
    if lone:  # else matplotlib spans 0.96..1.04 around the one epoch
        axes[0].set_xlim(curves.epochs[0] - 1, curves.epochs[0] + 1)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    for ax in axes[max(len(names) - columns, 0):len(names)]:
        ax.set_xlabel("epoch", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9, x=0.02, ha="left")
    return save_png(figure, path)


def write_learning_curves(models_dir: Path, path: Path | None = None) -> Path | None:
    """Draw ``models_dir/learning_curves.png`` from its history; None when there is no
    epoch record yet."""
    models_dir = Path(models_dir)
    curves = read_curves(models_dir)
    if not curves:
        return None
    best = (f"  best {curves.key_metric} {curves.best[1]:.4f} @ epoch {curves.best[0]}"
            if curves.best and curves.key_metric else "")
    return draw_curves(curves, path or models_dir / PNG,
                       title=f"{models_dir.resolve().parent.name}: {len(curves.epochs)} "
                             f"epoch{'' if len(curves.epochs) == 1 else 's'}{best}")


#: Runs in the overlay's legend; the rest are counted in its last entry.
LEGEND_RUNS = 30
#: Runs whose best point is labelled with its value (the best ones): more would overlap.
LABELLED_BEST = 5


def draw_overlay(runs: Sequence[tuple[str, Curves]], path: Path) -> Path:
    """One panel: each run's key metric against epoch, its best marked (``mmarctl
    compare --plot``). Runs without validation points are left out.

    Up to 10 runs get matplotlib's own colours; more (an AutoML study's trials) get colours
    spread over a colour map and four line styles, so no two runs look alike, and the legend
    moves beside the panel (best first: :data:`LEGEND_RUNS` runs, then a count). Only the
    :data:`LABELLED_BEST` best runs have their best value written beside the star, where it
    does not cover another's (stars close together: the label moves down, or is left to the
    legend); every legend entry says its run's best value and epoch (``g: 0.1726 @ 5``)."""
    drawn = [(label, curves) for label, curves in runs if curves.key_points()]
    many = len(drawn) > 10
    figure = _new_figure(7.0 + (3.0 if many else 0.0), 4.0 + (2.0 if len(drawn) > 20 else 0.0))
    ax = figure.subplots()
    figure.subplots_adjust(left=0.1 if not many else 0.07, right=0.98 if not many else 0.68,
                           top=0.92, bottom=0.13)
    ranked = sorted((c.best[1] for _, c in drawn if c.best), reverse=True)
    labelled_from = ranked[min(LABELLED_BEST, len(ranked)) - 1] if ranked else None
    names = set()
    labels_to_place = []
    for index, (label, curves) in enumerate(drawn):
        name = curves.key_metric or "metric"
        names.add(name)
        xs, ys = zip(*curves.key_points())
        style = _overlay_style(index, len(drawn))
        best = f"{curves.best[1]:.4f} @ {curves.best[0]}" if curves.best else None
        line, = ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.2,
                        label=f"{label}: {best}" if best else label, **style)
        if curves.best:
            # a smaller star over a larger one: two runs best at the same point both show
            ax.plot(*curves.best, marker="*", markersize=max(11 - 2 * index, 6) if not many
                    else 11, color=line.get_color())
            if not many or curves.best[1] >= labelled_from:
                labels_to_place.append((curves, best, line.get_color()))
        _mark_phases(ax, curves, label=False)
    _place_best_labels(ax, figure, labels_to_place)
    _style(ax, "validation: key metric per epoch (* best)")
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel(" / ".join(sorted(names)), fontsize=8)
    if not many:
        ax.legend(fontsize=7, loc="lower right")
    else:
        handles, labels = ax.get_legend_handles_labels()
        # best first: with more runs than the legend holds, the ones it names are the best
        bests = [c.best[1] if c.best else float("-inf") for _, c in drawn]
        order = sorted(range(len(handles)), key=lambda i: -bests[i])
        handles, labels = [handles[i] for i in order], [labels[i] for i in order]
        if len(handles) > LEGEND_RUNS:
            from matplotlib.lines import Line2D

            rest = len(handles) - LEGEND_RUNS + 1
            handles = [*handles[:LEGEND_RUNS - 1], Line2D([], [], linestyle="none")]
            labels = [*labels[:LEGEND_RUNS - 1], f"and {rest} more"]
        ax.legend(handles, labels, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  ncol=1 if len(handles) <= 15 else 2, frameon=False)
    return save_png(figure, path)


def _overlay_style(index: int, count: int) -> dict[str, Any]:
    """The line colour and style of run ``index`` of ``count``: matplotlib's default cycle
    for up to 10 runs; beyond, colours spread over a colour map, each with one of four line
    styles in turn, so neighbouring runs differ in both."""
    if count <= 10:
        return {}
    from matplotlib import colormaps

    styles = ("-", "--", ":", "-.")
    if count <= 20:
        return {"color": colormaps["tab20"](index), "linestyle": styles[index // 10 % 4]}
    return {"color": colormaps["turbo"](0.05 + 0.9 * index / (count - 1)),
            "linestyle": styles[index % 4]}
