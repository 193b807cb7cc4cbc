"""WritePng: a 2-D PNG input's mask written as a PNG on the input's own pixel grid (a
WriteNifti mask of a PNG stores its rows along NIfTI's x axis: viewers show it transposed)."""

from __future__ import annotations

import numpy as np
import pytest

from mmarctl.errors import ConfigError
from mmarctl.runtime.registry import lookup
from mmarctl.runtime.transforms import _png
from mmarctl.runtime.writers.png import WritePng


def _sample(model, name="/data/imagesTr/spine_001.png"):
    return {"image": np.zeros((5, 7), np.float32), "model": model,
            "meta": {"image": {"filename": name, "channel_axis": None}}}


def test_the_mask_reads_back_as_loadpng_reads_its_image(tmp_path):
    mask = np.zeros((1, 5, 7), np.float32)  # channels first, as post_transforms give it
    mask[0, 1, 4] = 1  # row 1, column 4: not symmetric, so a transpose would show
    mask[0, 3, 0:2] = 2
    path = WritePng("model").write(_sample(mask), tmp_path)
    assert path == tmp_path / "spine_001" / "spine_001_model.png"
    back = _png.read_png(path)
    assert back.shape == (5, 7) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, mask[0])
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(path)), mask[0])  # any viewer
    assert not list(tmp_path.rglob(".*partial"))


def test_sixteen_bits_and_the_catalogue(tmp_path):
    writer = lookup("writers", "WritePng")(field="model", dtype="uint16")
    mask = np.full((1, 3, 4), 300.0)
    np.testing.assert_array_equal(_png.read_png(writer.write(_sample(mask), tmp_path)),
                                  mask[0])


@pytest.mark.parametrize("model, words", [
    (np.full((2, 5, 7), 0.5, np.float32), "2 channels"),
    (np.full((1, 5, 7), 0.4, np.float32), "not class indices"),
    (np.zeros((1, 5, 7, 3), np.float32), "a PNG holds a 2-D mask"),
    (np.array([0.7], np.float32), "a PNG holds a 2-D mask"),
])
def test_what_is_no_2d_mask_is_refused_with_the_fix(tmp_path, model, words):
    with pytest.raises(ConfigError, match=words):
        WritePng("model").write(_sample(model), tmp_path)
    assert not any(tmp_path.rglob("*.png"))
