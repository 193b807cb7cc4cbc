"""Whole images (TFSimpleInferer) held to the network's size divisor before any compute.

The spleen scaffold's U-Net takes sizes that are multiples of 16; its synthetic cases here
are 24^3. Given whole, validate used to stop at the first image, and train at its first
validation, after a round of training; check said nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from broken_mmars import (edit_json, rewrite_image, run_verb, with_checkpoint,
                          without_tensorflow)
from broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check import check_mmar
from mmarctl.workspace import Workspace

def _whole_images(section: dict, keep_sizes: bool = True) -> None:
    section["inferer"] = {"name": "TFSimpleInferer"}
    if keep_sizes:
        # the resampling steps: by name here, by reference to train's in config_train.json
        section["pre_transforms"] = [
            step for step in section["pre_transforms"]
            if not step.get("name", "").startswith("ScaleByResolution")
            and step.get("ref") not in ("ScaleImg", "ScaleLb")]


def _problems(root: Path) -> list[str]:
    return [str(p) for p in check_mmar(Workspace(root)).problems]


def _line(config: str, at: str, image: str) -> str:
    return (f"config/{config}: {at}: TFSimpleInferer gives the network each image whole, "
            "and the network of config/config_train.json takes only spatial sizes that are "
            f"multiples of 16; 1 of the 1 'validation' images of data/dataset_0.json are "
            f"not: {image} (use TFScanWindowInferer with a roi_size of multiples of 16)")


def test_a_validation_config_giving_whole_images_of_other_sizes(mmar):
    edit_json(mmar / "config" / "config_validation.json", _whole_images)
    assert _problems(mmar) == [_line("config_validation.json", "inferer",
                                     _validation_image(mmar))]


def test_train_holds_its_validation_to_the_network_too(mmar):
    edit_json(mmar / "config" / "config_train.json", lambda c: _whole_images(c["validate"]))
    assert _problems(mmar) == [_line("config_train.json", "validate.inferer",
                                     _validation_image(mmar))]


def test_sizes_that_fit_the_divisor_or_a_chain_that_resizes_say_nothing(mmar):
    # a resampling step decides the size itself: nothing is known before running
    edit_json(mmar / "config" / "config_validation.json",
              lambda c: _whole_images(c, keep_sizes=False))
    assert _problems(mmar) == []
    # the case padded to 32^3 with its label: a multiple of 16
    edit_json(mmar / "config" / "config_validation.json", _whole_images)
    assert _problems(mmar) != []
    item = _validation_item(mmar)
    for field in ("image", "label"):
        rewrite_image(mmar / "data" / item[field], data=lambda image: np.pad(
            np.asarray(image.dataobj), [(0, 32 - n) for n in image.shape]))
    assert _problems(mmar) == []


def test_validate_and_train_refuse_what_check_reports_before_tensorflow(mmar, tmp_path):
    """The verbs' pre-flights read the same headers: one line, exit 1, TensorFlow never
    imported (a stand-in that raises is on the path), nothing computed or written."""
    with_checkpoint(mmar)
    edit_json(mmar / "config" / "config_validation.json", _whole_images)
    edit_json(mmar / "config" / "config_train.json", lambda c: _whole_images(c["validate"]))
    env = without_tensorflow(tmp_path / "no_tf")
    for verb, config in (("validate", "config_validation.json"), ("train", "config_train.json")):
        run = run_verb(verb, mmar, env=env)
        assert run.returncode == 1, run.stdout + run.stderr
        errors = [line for line in run.stderr.splitlines() if line.startswith("error")]
        assert len(errors) == 1 and f"config/{config}" in errors[0] and \
            "TFSimpleInferer gives the network each image whole" in errors[0], run.stderr
    assert not (mmar / "eval").exists() or not any((mmar / "eval").iterdir())
    assert not list((mmar / "models").glob("events.out.tfevents.*"))


def _validation_item(root: Path) -> dict:
    return json.loads((root / "data" / "dataset_0.json").read_text())["validation"][0]


def _validation_image(root: Path) -> str:
    """The validation case as the line names it: its path and header size."""
    name = _validation_item(root)["image"]
    shape = nib.load(str(root / "data" / name)).shape
    return f"{name} ({' x '.join(str(n) for n in shape)})"


def test_the_axes_compared_are_the_networks_and_a_cases_first_modality_stands_for_it():
    """A 2-D network is held to the first two header axes (a third of size 1, or channels,
    is not spatial); a case of several files (BraTS modalities on one grid) by its first;
    a file whose header was not read (missing: reported by the file checks) is skipped."""
    from types import SimpleNamespace

    from mmarctl.check.whole_images import WholeImageRule, whole_image_problem

    base = Path("/data")
    geometries = {base / "a.nii": SimpleNamespace(shape=(64, 48, 1)),
                  base / "b.nii": SimpleNamespace(shape=(64, 64, 3)),
                  base / "c.nii": SimpleNamespace(shape=(64, 64, 32)),
                  base / "t1.nii": SimpleNamespace(shape=(32, 33, 32)),
                  base / "gone.nii": None}
    rule = WholeImageRule(16, 2, ("config/config_validation.json", "inferer"),
                          "config/config_train.json")
    items = [{"image": "a.nii"}, "b.nii", {"image": "gone.nii"}, {"label": "x.nii"}]
    assert whole_image_problem(items, base, rule, geometries, "validation", "d.json") is None
    rule = WholeImageRule(16, 3, rule.inferer, rule.network_file)
    items = [{"image": ["t1.nii", "t2.nii"]}, {"image": "c.nii"}]
    problem = whole_image_problem(items, base, rule, geometries, "validation", "d.json")
    assert (problem.file, problem.json_path) == ("config/config_validation.json", "inferer")
    assert "1 of the 2 'validation' images of d.json are not: t1.nii (32 x 33 x 32) (" in \
        problem.message


def test_png_images_are_held_by_their_ihdr_size(tmp_path):
    """PNG files (LoadPng, always 2-D) have no NIfTI header: their IHDR gives the size, as
    LoadPng gives it (rows, cols)."""
    from mmarctl.check.whole_images import WholeImageRule, whole_image_problem
    from mmarctl.synth_files import png_bytes

    (tmp_path / "fits.png").write_bytes(png_bytes(np.zeros((64, 32), np.uint8)))
    (tmp_path / "wide.png").write_bytes(png_bytes(np.zeros((64, 40), np.uint8)))
    (tmp_path / "broken.png").write_bytes(b"not a png")  # the file checks report it
    rule = WholeImageRule(16, 2, ("config/config_validation.json", "inferer"),
                          "config/config_train.json")
    items = [{"image": "fits.png"}, {"image": "broken.png"}]
    assert whole_image_problem(items, tmp_path, rule, {}, "validation", "d.json") is None
    problem = whole_image_problem(items + [{"image": "wide.png"}], tmp_path, rule, {},
                                  "validation", "d.json")
    assert "1 of the 3 'validation' images of d.json are not: wide.png (64 x 40) (" in \
        problem.message
