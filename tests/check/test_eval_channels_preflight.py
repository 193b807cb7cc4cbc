"""validate and infer refuse a validation image with the wrong channel count as `check`
does, before TensorFlow: a validation config has no pipeline of its own, so its list's
images are held against the channels the network takes (the training pipeline's
``output_image_channels``)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from broken_mmars import (NO_TENSORFLOW, check_line, datalist_file, make_spleen, run_verb,
                          without_tensorflow, written)


@pytest.fixture(scope="module")
def no_tf(tmp_path_factory) -> dict[str, str]:
    return without_tensorflow(tmp_path_factory.mktemp("no_tensorflow"))


def _two_channels(path: Path) -> None:
    """Rewrite a NIfTI image as a 4-D file of 2 channels (the same volume twice)."""
    image = nib.load(str(path))
    array = np.asarray(image.dataobj, dtype=np.float32)
    nib.save(nib.Nifti1Image(np.stack([array, array], -1), image.affine), str(path))


@pytest.mark.parametrize("verb", ["validate", "infer"])
def test_a_two_channel_validation_image_is_refused_with_checks_line(tmp_path, no_tf, verb):
    root = make_spleen(tmp_path / "spleen")
    image = datalist_file(root, "validation", 0, "image")
    _two_channels(image)
    line = check_line(root)
    assert "channel count other than output_image_channels=1" in line and image.name in line

    done = run_verb(verb, root, env=no_tf)

    assert done.returncode == 1, done.stderr
    assert line in done.stderr and "Traceback" not in done.stderr
    assert NO_TENSORFLOW not in done.stderr  # refused before TensorFlow
    assert written(root / "eval") == []
