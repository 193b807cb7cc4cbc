"""MergeBatchDims, SaveAsNifti, and the transforms name table as a whole."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError, RuntimeFailure
from mmarctl.runtime import registry
from mmarctl.runtime.builder import ComponentBuilder
from mmarctl.runtime.transforms import NAMES
from mmarctl.runtime.transforms.base import Transform
from mmarctl.runtime.transforms.batch import MergeBatchDims
from mmarctl.runtime.transforms.debug import SaveAsNifti

RNG = np.random.default_rng(0)


def test_merge_batch_dims():
    batch = {"image": np.zeros((2, 3, 1, 4, 4)), "label": np.ones((2, 3, 1, 4, 4)), "n": 5}
    out = MergeBatchDims(["image", "label"])(batch, RNG)
    assert out["image"].shape == (6, 1, 4, 4) and out["label"].shape == (6, 1, 4, 4)
    assert out["n"] == 5


def test_merge_batch_dims_keeps_order():
    batch = {"image": np.arange(6).reshape(2, 3)}
    np.testing.assert_array_equal(MergeBatchDims("image")(batch, RNG)["image"], np.arange(6))


def test_merge_batch_dims_errors():
    with pytest.raises(DataError, match="needs a batch and a patch axis"):
        MergeBatchDims("image")({"image": np.zeros(4)}, RNG)
    with pytest.raises(DataError, match="MergeBatchDims: field 'label' is missing"):
        MergeBatchDims(["label"])({"image": np.zeros((1, 1))}, RNG)


def test_save_as_nifti_writes_each_field_with_a_counter(tmp_path):
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    sample = {"image": np.random.default_rng(0).random((1, 4, 5, 6)).astype(np.float32),
              "label": np.ones((1, 4, 5, 6), np.float32),
              "meta": {"image": {"affine": affine, "channel_axis": 0, "filename": "/d/spleen_2.nii.gz"},
                       "label": {"affine": affine, "channel_axis": 0}}}
    debug = SaveAsNifti(["image", "label"], out_dir=str(tmp_path / "dbg"))
    debug(sample, RNG)
    debug(sample, RNG)
    names = sorted(p.name for p in (tmp_path / "dbg").iterdir())
    assert names == ["spleen_2_image_0.nii.gz", "spleen_2_image_1.nii.gz",
                     "spleen_2_label_0.nii.gz", "spleen_2_label_1.nii.gz"]
    image = nib.load(tmp_path / "dbg" / "spleen_2_image_0.nii.gz")
    assert image.shape == (4, 5, 6)
    np.testing.assert_allclose(image.affine, affine)
    np.testing.assert_allclose(np.asarray(image.dataobj), sample["image"][0], rtol=1e-6)


def test_save_as_nifti_interrupt_stops_the_run(tmp_path):
    sample = {"image": np.zeros((1, 2, 2, 2), np.float32), "meta": {}}
    with pytest.raises(RuntimeFailure, match="interrupt is true"):
        SaveAsNifti("image", out_dir=str(tmp_path), interrupt=True)(sample, RNG)
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("args, message", [
    ({"fields": "image", "out_dir": ""}, "Received: out_dir=''"),
    ({"fields": "image", "out_dir": "x", "interrupt": "no"}, "Received: interrupt='no'"),
])
def test_save_as_nifti_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        SaveAsNifti(**args)


def test_every_name_resolves_to_a_documented_transform_class():
    for name in NAMES:
        cls = registry.lookup("transforms", name)
        assert issubclass(cls, Transform) and cls.clara_name == name
        doc = cls.__doc__ or ""
        assert f"``{name}" in doc and "Clara" in doc and "Args:" in doc, \
            f"{name} docstring must name the Clara component and list Args"


def test_transforms_do_not_import_tensorflow():
    """The input pipeline runs transforms in worker threads; they must stay NumPy-only."""
    code = ("import sys\n"
            "from mmarctl.runtime import registry\n"
            "from mmarctl.runtime.transforms import NAMES\n"
            "for name in NAMES: registry.lookup('transforms', name)\n"
            "for name in ('WriteNifti', 'WriteClassificationResult'): registry.lookup('writers', name)\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'horovod') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_builder_builds_the_spleen_pre_transforms_with_aliases_and_refs():
    builder = ComponentBuilder("config/config_train.json")
    train = builder.build_list("transforms", [
        {"name": "LoadNifti", "args": {"fields": ["image", "label"]}},
        {"name": "ConvertToChannelsFirst", "args": {"fields": ["image", "label"]}},
        {"name": "ScaleByResolution#ScaleImg", "args": {"fields": ["image"],
                                                        "target_resolution": [1.0, 1.0, 1.0]}},
        {"name": "ScaleByResolution#ScaleLb", "args": {"fields": ["label"], "is_label": True,
                                                       "target_resolution": [1.0, 1.0, 1.0]}},
        {"name": "ScaleIntensityRange", "args": {"fields": "image", "a_min": -57, "a_max": 164,
                                                 "b_min": 0.0, "b_max": 1.0, "clip": True}},
        {"name": "RandomZoom", "disabled": True, "args": {"image_field": "image"}},
        {"name": "FastCropByPosNegRatio", "args": {"size": [96, 96, 96], "fields": "image",
                                                   "label_field": "label", "pos": 1, "neg": 1,
                                                   "batch_size": 3, "batches_to_gen_at_once": 48}},
    ], "train.pre_transforms")
    assert [type(t).__name__ for t in train] == ["LoadNifti", "ConvertToChannelsFirst",
                                                 "ScaleByResolution", "ScaleByResolution",
                                                 "ScaleIntensityRange", "FastCropByPosNegRatio"]
    validate = builder.build_list("transforms", [{"ref": "LoadNifti"}, {"ref": "ScaleLb"}],
                                  "validate.pre_transforms")
    assert validate[1] is train[3]


def test_builder_reports_bad_transform_args_with_json_path():
    builder = ComponentBuilder("config/config_train.json")
    with pytest.raises(ConfigError) as info:
        builder.build("transforms", {"name": "ScaleIntensityRange",
                                     "args": {"fields": "image", "a_min": 5, "a_max": 1}},
                      "train.pre_transforms[4]")
    assert info.value.json_path == "train.pre_transforms[4]"
    assert "Received: a_min=5, a_max=1" in info.value.message
