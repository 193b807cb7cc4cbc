"""models/learning_curves.png: which epochs the curves show, and the picture itself."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from history_records import record, train_run, write_history  # noqa: E402

from mmarctl.report import curves  # noqa: E402
from mmarctl.report.curves import lineage, read_curves, write_learning_curves  # noqa: E402

TAB_RED = np.array([214, 39, 40]) / 255  # the best-epoch marker and line


def _pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(str(path))[..., :3]


def _has_colour(image: np.ndarray, colour: np.ndarray, tolerance: float = 0.06) -> int:
    return int((np.abs(image - colour).max(axis=-1) < tolerance).sum())


def test_finetune_continues_the_curves_and_is_marked():
    records = (train_run(3, [0.5, 0.7, 0.6], seconds_per_epoch=10)
               + train_run(2, [0.72, 0.75], phase="finetune", lr=1e-4, seconds_per_epoch=5))
    shown = lineage(records)
    assert shown.epochs == [1, 2, 3, 4, 5]
    assert shown.phase_starts == [(4, "finetune")]
    assert shown.metrics["mean_dice"] == [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.72), (5, 0.75)]
    assert shown.learning_rate == [1e-3, 1e-3, 1e-3, 1e-4, 1e-4]
    assert shown.best == (5, 0.75)  # the finetune's best: what models/model.ckpt holds now
    assert shown.seconds == pytest.approx(30 + 10)


def test_resume_continues_the_same_run():
    first = train_run(2, [0.4, 0.5], seconds_per_epoch=10)
    resumed = train_run(2, [0.45, 0.6], start=3, seconds_per_epoch=7)
    for item in resumed:  # a resumed run restores the best it had
        if item["best_metric"] < 0.5:
            item["best_metric"], item["best_epoch"] = 0.5, 2
    shown = lineage(first + resumed)
    assert shown.epochs == [1, 2, 3, 4] and shown.phase_starts == []
    assert shown.best == (4, 0.6)
    assert shown.seconds == pytest.approx(20 + 14)  # each process's clock, added up


def test_fresh_train_replaces_the_old_curves():
    old = train_run(4, [0.1, 0.2, 0.3, 0.4]) + train_run(2, [0.5, 0.6], phase="finetune")
    new = train_run(2, [0.8, 0.7])
    shown = lineage(old + new)
    assert shown.epochs == [1, 2] and shown.best == (1, 0.8) and shown.phase_starts == []


def test_epochs_without_validation_have_no_metric_points():
    records = [record(1, loss=0.9), record(2, loss=0.8, metrics={"mean_dice": 0.3},
                                           best=(2, 0.3)),
               record(3, loss=float("nan"))]
    shown = lineage(records)
    assert shown.metrics == {"mean_dice": [(2, 0.3)]}
    assert shown.loss[:2] == [0.9, 0.8] and np.isnan(shown.loss[2])
    assert shown.best == (2, 0.3)


def test_no_history_draws_nothing(tmp_path):
    assert not read_curves(tmp_path)
    assert write_learning_curves(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_picture_has_a_panel_per_metric_and_marks_the_best(tmp_path):
    models = tmp_path / "exp" / "models"
    records = train_run(6, [0.2, 0.5, 0.65, 0.6, 0.62, 0.61])
    for item in records:
        item["metrics"]["mean_iou"] = item["metrics"]["mean_dice"] - 0.1
    write_history(models, records)
    path = write_learning_curves(models)
    assert path == models / "learning_curves.png"
    image = _pixels(path)
    # loss, learning rate, mean_dice, mean_iou: two columns of two rows at 72 dpi
    assert image.shape[:2] == (int((1.9 * 2 + 0.6) * curves.DPI), int(11.2 * curves.DPI))
    assert _has_colour(image, TAB_RED) > 20  # star, label and dotted lines (antialiased)
    # written through a temporary file that is renamed: nothing else is left
    assert sorted(p.name for p in models.iterdir()) == ["learning_curves.png",
                                                        "metrics_history.jsonl"]


def test_without_validation_nothing_is_marked_best(tmp_path):
    write_history(tmp_path, [record(1, loss=0.9), record(2, loss=0.5)])
    image = _pixels(write_learning_curves(tmp_path))
    assert image.shape[:2] == (int((1.9 * 2 + 0.6) * curves.DPI), int(5.6 * curves.DPI))
    assert _has_colour(image, TAB_RED) == 0


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    write_history(tmp_path, train_run(2, [0.3, 0.4]))
    (tmp_path / "learning_curves.png").mkdir()  # cannot be replaced by a file
    with pytest.raises(OSError):
        write_learning_curves(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["learning_curves.png",
                                                          "metrics_history.jsonl"]


def test_importing_the_module_does_not_import_matplotlib():
    import subprocess

    code = ("import sys, mmarctl.report.curves, mmarctl.report.compare; "
            "assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_epoch_is_a_visible_point_under_a_singular_title(tmp_path, monkeypatch):
    """One epoch: 'N: 1 epoch' (not '1 epochs'), and the loss and learning-rate panels show
    their one point (a line through one point draws nothing)."""
    models = tmp_path / "exp" / "models"
    write_history(models, train_run(1, [0.5]))
    titles = []
    draw = curves.draw_curves
    monkeypatch.setattr(curves, "draw_curves",
                        lambda c, path, title="": titles.append(title) or draw(c, path, title))
    png = write_learning_curves(models)
    assert titles[0].startswith("exp: 1 epoch ")
    blue = np.array([0x1f, 0x77, 0xb4]) / 255  # matplotlib's tab:blue, the loss point
    assert _has_colour(_pixels(png), blue) > 0


@pytest.mark.parametrize("rates", [
    [1e-3 * (1 - e / 22) ** 0.9 for e in range(22)],  # ReducePoly over 22 epochs: 16x
    [0.05, 0.03, 0.01, 0.004],                           # 12x: within two decades
    [1e-4, 9e-5, 6e-6],                                  # 16x, one decade tick
    [0.5, 1e-3, 1e-7],                                   # 7 decades
])
def test_the_log_scaled_learning_rate_axis_has_numbers(tmp_path, monkeypatch, rates):
    """Over 10x the rate panel turns log-scaled; its y ticks must carry labels (four linear
    bins used to replace the log ticks, and the log formatter labels none of those)."""
    seen = []
    monkeypatch.setattr(curves, "save_png", lambda figure, path: seen.append(figure) or path)
    models = tmp_path / "models"
    write_history(models, [record(e + 1, lr=rate) for e, rate in enumerate(rates)])
    write_learning_curves(models)
    figure = seen[0]
    figure.canvas.draw()
    ax = figure.axes[1]
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    labels = [t.get_text() for t in ax.get_yticklabels()
              if t.get_text() and low <= t.get_position()[1] <= high]
    assert len(labels) >= 2, labels
    assert all(float(text) > 0 for text in labels)  # plain numbers, not mathtext


def test_an_overlay_of_many_runs_keeps_them_apart_and_its_legend_in_the_picture(tmp_path):
    # an AutoML study's 40 trials: matplotlib's 10 colours repeated, the legend ran off
    runs = []
    for trial in range(40):
        folder = tmp_path / f"trial_{trial:03d}"
        folder.mkdir()
        write_history(folder, train_run(3, [0.3, 0.4 + trial / 100, 0.5 + trial / 200]))
        runs.append((f"trial_{trial:03d}", read_curves(folder)))
    styles = {(tuple(s["color"]), s["linestyle"])
              for s in (curves._overlay_style(i, 40) for i in range(40))}
    assert len(styles) == 40
    assert curves._overlay_style(3, 8) == {}  # a few runs keep matplotlib's own colours
    image = _pixels(curves.draw_overlay(runs, tmp_path / "all.png"))
    few = _pixels(curves.draw_overlay(runs[:3], tmp_path / "few.png"))
    assert image.shape[1] > few.shape[1] and image.shape[0] > few.shape[0]
    # the legend sits right of the panel, inside the picture: its text darkens the last columns
    right = image[:, int(image.shape[1] * 0.72):, :3]
    assert (right.mean(axis=2) < 0.5).sum() > 500
