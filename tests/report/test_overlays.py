"""The case renderer on synthetic arrays: slice choice, empty labels, 2D, 4D, colours, ROC."""

from __future__ import annotations

import io

import numpy as np
import pytest

from mmarctl.errors import DataError
from mmarctl.report.overlays import (GT_COLOURS, HU_WINDOW, PRED_COLOURS, class_map,
                                     confusion, render_classification, render_png,
                                     roc_curve, slice_point, spatial, take_view, window)


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], np.float32)


def pixels(png: bytes) -> np.ndarray:
    from matplotlib.image import imread

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(io.BytesIO(png), format="png")[..., :3] * 255


def count(image: np.ndarray, hex_colour: str, tolerance: float = 40) -> int:
    return int((np.abs(image - rgb(hex_colour)).max(axis=-1) < tolerance).sum())


def box(shape, lo, hi, value=1) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[tuple(slice(a, b) for a, b in zip(lo, hi))] = value
    return mask


@pytest.fixture
def volume() -> np.ndarray:
    return np.random.default_rng(0).normal(0.5, 0.1, (40, 32, 24)).astype(np.float32)


def test_slices_go_through_the_labels_centre_of_mass(volume):
    label = box(volume.shape, (10, 4, 6), (20, 12, 10))  # centre (14.5, 7.5, 7.5)
    prediction = box(volume.shape, (25, 20, 15), (30, 25, 20))
    view = take_view("case", volume, label, prediction)
    assert view.centred_on == "label"
    assert view.point == (14, 8, 8)  # rounded half to even, as NumPy does
    assert [p.title for p in view.panels] == ["axial z=8", "coronal y=8", "sagittal x=14"]
    # Planes are shown transposed (rows = the later axis): axial (y, x), coronal (z, x).
    assert [p.image.shape for p in view.panels] == [(32, 40), (24, 40), (24, 32)]
    assert all(p.label.any() for p in view.panels)
    assert all(p.image.dtype == np.uint8 and p.image.ndim == 2 for p in view.panels)
    assert "through the label's centre (14, 8, 8)" in view.caption


def test_empty_label_centres_on_the_prediction_and_says_so(volume):
    empty = np.zeros(volume.shape, np.uint8)
    prediction = box(volume.shape, (30, 2, 2), (34, 6, 6))
    view = take_view("case", volume, empty, prediction)
    assert view.centred_on == "prediction" and view.point == (32, 4, 4)
    assert view.caption.startswith("label empty: through the prediction's centre")
    both = take_view("case", volume, empty, np.zeros_like(empty))
    assert both.centred_on == "centre" and both.point == (20, 16, 12)
    assert both.caption.startswith("label empty: through the image centre")
    assert slice_point((4, 6), None, None) == ((2, 3), "centre")


def test_2d_image_is_one_panel():
    image = np.linspace(0, 1, 30 * 20, dtype=np.float32).reshape(30, 20)
    label = box(image.shape, (5, 5), (15, 10))
    view = take_view("film", spatial(image[None], 0, role="image"),
                     spatial(label[None], 0, role="mask"), None)
    assert len(view.panels) == 1 and view.panels[0].title == "image"
    assert view.panels[0].image.shape == (20, 30)
    assert view.panels[0].prediction is None
    image_png = pixels(render_png(view))
    assert count(image_png, GT_COLOURS[0]) > 0 and count(image_png, PRED_COLOURS[0]) == 0


def test_4d_image_is_refused_with_one_line():
    with pytest.raises(DataError) as caught:
        spatial(np.zeros((1, 4, 5, 6, 7), np.float32), 0, role="image")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("cannot draw a 4D image (shape (1, 4, 5, 6, 7))")


def test_spatial_removes_channels_and_makes_class_maps():
    probabilities = np.zeros((3, 4, 4, 4), np.float32)
    probabilities[0] = 0.6
    probabilities[2, :2] = 0.9
    classes = spatial(probabilities, 0, role="mask")
    assert classes.shape == (4, 4, 4)
    assert set(np.unique(classes)) == {0, 2} and (classes[:2] == 2).all()
    sigmoid = spatial(np.full((1, 4, 4), 0.7, np.float32), 0, role="mask")
    assert sigmoid.shape == (4, 4)
    assert class_map(sigmoid).dtype == np.uint8 and (class_map(sigmoid) == 1).all()
    assert class_map(np.array([[0.0, 2.0], [np.nan, -1.0]])).tolist() == [[0, 2], [0, 0]]
    # A volume saved as (x, y, 1) is a 2D image; channels last are honoured.
    assert spatial(np.zeros((5, 6, 1)), None, role="image").shape == (5, 6)
    assert spatial(np.zeros((5, 6, 7, 2)), -1, role="image").shape == (5, 6, 7)


def test_window_is_soft_tissue_for_hu_else_percentiles():
    rng = np.random.default_rng(1)
    ct = rng.normal(40, 20, (32, 32, 8))
    ct[:4] = -1000
    ct[-2:] = 700
    low, high, kind = window(ct)
    assert (low, high) == HU_WINDOW and "soft tissue" in kind
    scaled = rng.uniform(0, 1, (32, 32, 8))
    low, high, kind = window(scaled)
    assert low == pytest.approx(np.percentile(scaled, 1), abs=0.02)
    assert high == pytest.approx(np.percentile(scaled, 99), abs=0.02)
    assert kind == "1st-99th percentile"
    assert window(np.full((4, 4), 3.0))[:2] == (2.5, 3.5)


def test_png_has_truth_and_prediction_colours_per_class(volume):
    label = box(volume.shape, (8, 8, 4), (20, 20, 12))
    label[24:32, 20:28, 4:12] = 2
    prediction = box(volume.shape, (10, 8, 4), (22, 20, 12))
    view = take_view("case", volume, label, prediction)
    view.panels = view.panels[:1]  # the axial plane holds both classes
    image = pixels(render_png(view, dpi=60))
    assert count(image, GT_COLOURS[0]) > 10  # class 1 truth
    assert count(image, GT_COLOURS[1]) > 10  # class 2 truth
    assert count(image, PRED_COLOURS[0]) > 10  # class 1 prediction
    assert count(image, PRED_COLOURS[1]) == 0  # no class 2 predicted


def test_image_of_another_grid_is_sampled_to_the_labels(volume):
    label = box((20, 16, 12), (5, 5, 5), (10, 10, 10))
    view = take_view("case", volume, label, label)  # image twice the label's size
    assert [p.image.shape for p in view.panels] == [(16, 20), (12, 20), (12, 16)]
    with pytest.raises(DataError, match="does not match"):
        take_view("case", volume[:, :, 0], label, None)


def test_spacing_sets_the_pixel_aspect(volume):
    view = take_view("case", volume, None, None, spacing=[1.0, 1.0, 2.5])
    assert [p.aspect for p in view.panels] == [1.0, 2.5, 2.5]


def test_roc_curve_and_auc():
    fpr, tpr, auc = roc_curve(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 1, 0, 0]))
    assert auc == 1.0 and fpr[0] == 0 and tpr[-1] == 1
    _, _, auc = roc_curve(np.array([0.9, 0.2, 0.6, 0.4]), np.array([1, 1, 0, 0]))
    assert auc == pytest.approx(0.5)  # pairs (0.9>0.6, 0.9>0.4, 0.2<0.6, 0.2<0.4): 2 of 4
    fpr, tpr, auc = roc_curve(np.array([0.3, 0.4]), np.array([1, 1]))
    assert np.isnan(auc) and fpr.size == 0


def test_confusion_matrix():
    matrix, names = confusion(np.array([[0.9], [0.2], [0.7], [0.1]]),
                              np.array([[1], [1], [0], [0]]))
    assert names == ["negative", "positive"]
    assert matrix.tolist() == [[1, 1], [1, 1]]
    matrix, names = confusion(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]),
                              np.array([[1, 0, 0], [0, 1, 0]]))
    assert names == ["0", "1", "2"] and matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]


def test_classification_picture_is_a_png():
    rng = np.random.default_rng(2)
    image = pixels(render_classification(rng.random((20, 1)), (rng.random((20, 1)) > 0.5)))
    assert count(image, PRED_COLOURS[0]) > 10  # the ROC curve


def test_png_is_drawn_as_stored_row_zero_at_the_top():
    """A 2-D PNG (rows, cols) looks like the file: not transposed, not flipped (D3)."""
    from mmarctl.report.collector import _case_view

    image = np.zeros((30, 20), np.float32)
    image[:8, :] = 1.0  # a bright band across the top rows of the file
    label = box(image.shape, (20, 2), (28, 8))  # below the band, near the left edge
    sample = {"image": image, "model": np.zeros_like(label), "label": label,
              "meta": {"image": {"filename": "/d/spine_007.png", "pixdim": [1.0, 1.0]}}}
    view = _case_view("spine_007.png", sample, with_label=True)
    panel = view.panels[0]
    assert panel.origin == "upper" and panel.image.shape == (30, 20)
    assert (panel.label == label).all()
    drawn = pixels(render_png(view, dpi=60))
    green_rows, _ = np.nonzero(np.abs(drawn - rgb(GT_COLOURS[0])).max(axis=-1) < 40)
    bright_rows, bright_cols = np.nonzero(drawn.min(axis=-1) > 200)
    # The band is drawn across (wider than tall) and at the top, the label under it.
    assert np.ptp(bright_cols) > np.ptp(bright_rows)
    assert green_rows.size and green_rows.mean() > bright_rows.mean()
    # A NIfTI slice keeps the transposed, origin-at-the-bottom drawing of volumes.
    sample["meta"]["image"]["filename"] = "/d/film.nii.gz"
    assert _case_view("film", sample, with_label=True).panels[0].origin == "lower"


def test_multi_label_confusion_names_the_class_it_is_of():
    matrix, names = confusion(np.array([[0.7, 0.6], [0.2, 0.9]]), np.array([[1, 1], [0, 0]]))
    assert names == ["class 0 negative", "class 0 positive"]
    assert matrix.tolist() == [[1, 0], [0, 1]]
