"""compare --plot: runs whose bests lie close together keep readable labels (none drawn over
another), and every legend entry says its run's best value and epoch."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from history_records import train_run, write_history  # noqa: E402

from mmarctl.report import curves  # noqa: E402
from mmarctl.report.curves import read_curves  # noqa: E402


def test_close_bests_do_not_overlap_and_the_legend_has_the_values(tmp_path, monkeypatch):
    runs = []
    for name, dice in (("a", [0.0623, 0.05]), ("b", [0.0617]),
                       ("g", [0.1, 0.12, 0.15, 0.16, 0.1726, 0.17]),
                       ("r", [0.1, 0.12, 0.15, 0.1707, 0.16, 0.15, 0.14, 0.13, 0.12])):
        folder = tmp_path / name
        folder.mkdir()
        write_history(folder, train_run(len(dice), dice))
        runs.append((name, read_curves(folder)))
    figures = []
    original = curves.save_png
    monkeypatch.setattr(curves, "save_png",
                        lambda figure, path: (figures.append(figure), original(figure, path))[1])
    curves.draw_overlay(runs, tmp_path / "curves.png")
    ax = figures[0].axes[0]
    figures[0].canvas.draw()
    boxes = [text.get_window_extent() for text in ax.texts]
    assert len(boxes) >= 2
    for i, one in enumerate(boxes):
        for other in boxes[i + 1:]:
            assert not one.overlaps(other), [t.get_text() for t in ax.texts]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["a: 0.0623 @ 1", "b: 0.0617 @ 1", "g: 0.1726 @ 5", "r: 0.1707 @ 4"]
