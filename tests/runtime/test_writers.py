"""WriteNifti and WriteClassificationResult, writing into tmp_path."""

from __future__ import annotations

import csv
import threading

import nibabel as nib
import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime import registry
from mmarctl.runtime.transforms.loaders import LoadNifti
from mmarctl.runtime.transforms.channels import ConvertToChannelsFirst
from mmarctl.runtime.transforms.labels import ArgmaxAcrossChannels, CopyProperties
from mmarctl.runtime.writers import NAMES
from mmarctl.runtime.writers.classification import WriteClassificationResult
from mmarctl.runtime.writers.nifti import WriteNifti

RNG = np.random.default_rng(0)


@pytest.fixture
def evaluated(tmp_path):
    """A loaded case with a two-class prediction in "model" (channels first)."""
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    affine[:3, 3] = [-100, -120, 30]
    image = np.random.default_rng(0).integers(-1000, 1000, (8, 7, 5)).astype(np.int16)
    nib.save(nib.Nifti1Image(image, affine), str(tmp_path / "spleen_12.nii.gz"))
    sample = {"image": str(tmp_path / "spleen_12.nii.gz")}
    LoadNifti("image")(sample, RNG)
    ConvertToChannelsFirst("image")(sample, RNG)
    truth = (sample["image"][0] > 0).astype(np.float32)
    sample["model"] = np.stack([1 - truth, truth])
    return sample, truth, affine


def test_write_nifti_writes_a_label_map_aligned_with_the_image(evaluated, tmp_path):
    sample, truth, affine = evaluated
    ArgmaxAcrossChannels("model")(sample, RNG)
    CopyProperties("model", from_field="image", properties=["affine"])(sample, RNG)
    path = WriteNifti(field="model", dtype="uint8", write_path=str(tmp_path / "eval")).write(sample)
    assert path == tmp_path / "eval" / "spleen_12" / "spleen_12_model.nii.gz"
    written = nib.load(path)
    assert written.shape == (8, 7, 5) and written.get_data_dtype() == np.uint8
    np.testing.assert_allclose(written.affine, affine)
    np.testing.assert_array_equal(np.asarray(written.dataobj), truth)
    np.testing.assert_allclose(written.header.get_zooms(), [0.8, 0.8, 2.5], rtol=1e-6)


def test_out_dir_overrides_write_path_and_channels_go_last(evaluated, tmp_path):
    sample, truth, _ = evaluated
    writer = WriteNifti(field="model", dtype="float32", write_path=str(tmp_path / "unused"))
    path = writer.write(sample, tmp_path / "other")
    assert path.parent.parent == tmp_path / "other"
    data = np.asarray(nib.load(path).dataobj)
    assert data.shape == (8, 7, 5, 2)
    np.testing.assert_array_equal(data[..., 1], truth)


def test_integer_dtype_rounds_rather_than_truncates(evaluated, tmp_path):
    sample, _, _ = evaluated
    sample["model"] = np.full((1, 8, 7, 5), 1.9999, np.float32)
    path = WriteNifti("model", dtype="uint8", write_path=str(tmp_path)).write(sample)
    assert np.asarray(nib.load(path).dataobj).max() == 2


def test_write_nifti_errors(evaluated, tmp_path):
    sample, _, _ = evaluated
    with pytest.raises(DataError, match="WriteNifti: field 'pred' is missing"):
        WriteNifti("pred", write_path=str(tmp_path)).write(sample)
    with pytest.raises(ConfigError, match="no output folder"):
        WriteNifti("model").write(sample)
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises((DataError, OSError)):
        WriteNifti("model", write_path=str(tmp_path / "blocked")).write(sample)


@pytest.mark.parametrize("args, message", [
    ({"field": "model", "dtype": "uint3"}, "Received: dtype='uint3'"),
    ({"field": ""}, "Received: field=''"),
    ({"field": "model", "write_path": 3}, "Received: write_path=3"),
])
def test_write_nifti_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        WriteNifti(**args)


def classification_sample(name, probabilities):
    return {"image": np.zeros((4, 4)), "model": np.array(probabilities, np.float32),
            "meta": {"image": {"filename": name}}}


def test_classification_csv_one_row_per_case(tmp_path):
    writer = WriteClassificationResult(field="model", write_path=str(tmp_path))
    writer.write(classification_sample("cxr/a.png", [0.1, 0.9]))
    path = writer.write(classification_sample("cxr/b.png", [0.75, 0.25]))
    rows = list(csv.reader(path.open()))
    assert path.name == "preds_model.csv"
    assert rows == [["image", "class_0", "class_1"], ["cxr/a.png", "0.1", "0.9"],
                    ["cxr/b.png", "0.75", "0.25"]]


def test_a_new_writer_replaces_the_previous_run(tmp_path):
    WriteClassificationResult("model", str(tmp_path)).write(classification_sample("a.png", [1.0]))
    path = WriteClassificationResult("model", str(tmp_path)).write(classification_sample("b.png", [0.0]))
    assert len(path.read_text().splitlines()) == 2


def test_threads_share_one_classification_writer(tmp_path):
    writer = WriteClassificationResult("model", str(tmp_path))
    threads = [threading.Thread(target=writer.write, args=(classification_sample(f"{i}.png", [0.5, 0.5]),))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len((tmp_path / "preds_model.csv").read_text().splitlines()) == 17


def test_classification_errors(tmp_path):
    writer = WriteClassificationResult("model", str(tmp_path))
    writer.write(classification_sample("a.png", [0.1, 0.9]))
    with pytest.raises(DataError, match="3 classes but earlier cases had 2"):
        writer.write(classification_sample("b.png", [0.1, 0.2, 0.7]))
    with pytest.raises(DataError, match="field 'model' is missing"):
        writer.write({"image": np.zeros(2), "meta": {}})
    with pytest.raises(ConfigError, match="no output folder"):
        WriteClassificationResult("model").write(classification_sample("a.png", [1.0]))
    with pytest.raises(ConfigError, match="Received: field=None"):
        WriteClassificationResult(field=None)


@pytest.mark.parametrize("cls, args", [
    (WriteNifti, {"field": "model", "dtype": "uint8", "write_path": "eval"}),
    (WriteClassificationResult, {"field": "model", "write_path": "eval"}),
])
def test_get_config_round_trip(cls, args):
    w = cls(**args)
    assert w.get_config() == args and cls(**w.get_config()).get_config() == args


def test_names_table_resolves():
    for name in NAMES:
        assert registry.lookup("writers", name).clara_name == name
