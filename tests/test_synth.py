"""`mmarctl data synth`: deterministic, CT-like, MSD-shaped data that the scaffolds read."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from mmarctl import synth
from mmarctl.cli import app
from mmarctl.errors import UsageError, WorkspaceError
from mmarctl.workspace import Workspace

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def arrays(root: Path) -> dict[str, np.ndarray]:
    """Every image and label array of a synthetic set, by relative path."""
    return {str(p.relative_to(root)): np.asarray(nib.load(p).dataobj)
            for p in sorted(root.glob("*/*.nii.gz"))}


@pytest.fixture(scope="module")
def ct_set(tmp_path_factory) -> Path:
    """Six small CT-like cases (48..60 voxels per axis, seed 7)."""
    root = tmp_path_factory.mktemp("synth") / "data"
    synth.synthesize(root, cases=6, size=48, seed=7, show_progress=False)
    return root


def cases(root: Path):
    datalist = json.loads((root / "dataset_0.json").read_text())
    for item in datalist["training"] + datalist["validation"]:
        yield nib.load(root / item["image"]), nib.load(root / item["label"])


# -- determinism ---------------------------------------------------------------------------

def test_same_seed_gives_identical_arrays_and_files(ct_set, tmp_path):
    again = tmp_path / "again"
    synth.synthesize(again, cases=6, size=48, seed=7, show_progress=False)
    first, second = arrays(ct_set), arrays(again)
    assert first.keys() == second.keys() and len(first) == 12
    for name in first:
        assert first[name].tobytes() == second[name].tobytes(), name
    assert (ct_set / "imagesTr" / "spleen_1.nii.gz").read_bytes() == \
        (again / "imagesTr" / "spleen_1.nii.gz").read_bytes()
    assert (ct_set / "dataset_0.json").read_text() == (again / "dataset_0.json").read_text()


def test_other_seed_gives_other_arrays(ct_set, tmp_path):
    other = tmp_path / "other"
    synth.synthesize(other, cases=2, size=48, seed=8, show_progress=False)
    name = "imagesTr/spleen_1.nii.gz"
    assert arrays(ct_set)[name].tobytes() != arrays(other)[name].tobytes()


# -- CT realism ------------------------------------------------------------------------------

def test_volumes_are_ct_like(ct_set):
    for image, label in cases(ct_set):
        hu = np.asarray(image.dataobj)
        seg = np.asarray(label.dataobj)
        assert hu.dtype == np.int16 and seg.dtype == np.uint8
        assert hu.shape == seg.shape
        assert all(48 <= n <= 60 for n in hu.shape)  # size..1.25*size
        assert abs(np.median(hu[hu < -500]) + 1000) < 20  # air
        assert (hu > 500).sum() > 0  # bone
        body = (hu > -200) & (seg == 0)
        assert 25 < np.median(hu[body]) < 70  # soft tissue near 40 HU
        assert 50 <= hu[seg == 1].mean() <= 110  # inside the -57..164 window
        assert set(np.unique(seg)) == {0, 1}


def test_spacing_is_anisotropic_and_in_the_affine(ct_set):
    for image, _ in cases(ct_set):
        zooms = np.array(image.header.get_zooms())
        assert 1.5 <= zooms[0] == zooms[1] <= 1.8 and zooms[2] in (2.0, 2.5)
        assert np.allclose(np.abs(np.diag(image.affine)[:3]), zooms)
        assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
        assert image.header.get_xyzt_units()[0] == "mm"
        assert int(image.header["sform_code"]) == 1


def test_spleen_is_one_smooth_blob_that_moves(ct_set):
    centroids = []
    for image, label in cases(ct_set):
        seg = np.asarray(label.dataobj)
        _, components = ndimage.label(seg)
        assert components == 1
        fraction = seg.mean()
        assert 0.005 < fraction < 0.06
        centroid = np.array(ndimage.center_of_mass(seg))
        # Patient's left (-x in RAS, the low-index half of axis 0) and posterior (low y).
        assert centroid[0] < seg.shape[0] / 2 and centroid[1] < seg.shape[1] / 2
        centroids.append(centroid / seg.shape)
    spread = np.ptp(np.array(centroids), axis=0)
    assert spread.max() > 0.03  # position varies per case


# -- datalist ----------------------------------------------------------------------------------

def test_datalist_is_msd_shaped(ct_set):
    datalist = json.loads((ct_set / "dataset_0.json").read_text())
    for key in ("name", "description", "labels", "licence", "modality", "numTraining",
                "numTest", "reference", "release", "tensorImageSize"):
        assert key in datalist, key
    assert datalist["labels"] == {"0": "background", "1": "spleen"}
    assert datalist["modality"] == {"0": "CT"} and datalist["tensorImageSize"] == "3D"
    assert len(datalist["training"]) == 5 and len(datalist["validation"]) == 1
    assert datalist["numTraining"] == 6
    for item in datalist["training"] + datalist["validation"]:
        assert item["image"].startswith("imagesTr/") and item["label"].startswith("labelsTr/")
        assert (ct_set / item["image"]).is_file() and (ct_set / item["label"]).is_file()


def test_spleen_workspace_finds_the_data(tmp_path):
    exp = tmp_path / "my-exp"
    assert invoke("clone", "spleen", exp).exit_code == 0
    result = invoke("data", "synth", exp / "data", "--cases", "2", "--size", "16")
    assert result.exit_code == 0, result.output
    env = Workspace.locate(exp).environment()
    datalist = json.loads(Path(env["DATASET_JSON"]).read_text())
    for item in datalist["training"] + datalist["validation"]:
        assert (Path(env["DATA_ROOT"]) / item["image"]).is_file()


# -- an exact shape ---------------------------------------------------------------------------

def test_shape_option_gives_every_case_that_shape(tmp_path):
    root = tmp_path / "d"
    result = invoke("data", "synth", root, "--cases", "3", "--shape", "40x24,17",
                    "--no-compress", "--seed", "2")
    assert result.exit_code == 0, result.output
    datalist = json.loads((root / "dataset_0.json").read_text())
    assert datalist["synthetic"] == {"task": "segmentation", "kind": "spleen", "seed": 2,
                                     "shape": [40, 24, 17]}
    for image, label in cases(root):
        assert image.get_filename().endswith(".nii") and label.get_filename().endswith(".nii")
        assert image.shape == label.shape == (40, 24, 17)
    assert not list(root.glob("*/*.nii.gz"))
    # The same phantom generator as --size: CT-like, with a spleen.
    again = synth.synthesize(tmp_path / "again", cases=3, shape=(40, 24, 17), seed=2,
                             show_progress=False)
    assert again.files[0].name == "spleen_1.nii.gz"
    assert (np.asarray(nib.load(again.files[0]).dataobj).tobytes()
            == np.asarray(nib.load(root / "imagesTr" / "spleen_1.nii").dataobj).tobytes())


def test_large_volumes_are_drawn_coarse_and_interpolated(tmp_path, monkeypatch):
    # What a 512 x 512 x 160 volume goes through, on a small one (threshold lowered).
    monkeypatch.setattr(synth, "COARSE_VOXELS", 20_000)
    image, label, affine = synth.ct_case(np.random.default_rng(4), 16, shape=(96, 80, 40))
    assert image.shape == label.shape == (96, 80, 40)
    assert image.dtype == np.int16 and label.dtype == np.uint8
    assert abs(np.median(image[image < -500]) + 1000) < 20
    assert (image > 500).sum() > 0
    assert 25 < np.median(image[(image > -200) & (label == 0)]) < 70
    assert 50 <= image[label == 1].mean() <= 110
    _, components = ndimage.label(label)
    assert components == 1 and 0.005 < label.mean() < 0.06
    # Noise is added at full resolution: neighbouring voxels are not interpolated copies.
    soft = image[40:56, 30:50, 15:25].astype(float)
    assert np.abs(np.diff(soft, axis=0)).mean() > 5
    zooms = np.abs(np.diag(affine)[:3])
    assert 1.5 <= zooms[0] == zooms[1] <= 1.8 and zooms[2] in (2.0, 2.5)


# -- classification ------------------------------------------------------------------------

def test_classification_set(tmp_path):
    root = tmp_path / "cls"
    result = synth.synthesize(root, task="classification", cases=8, size=32, seed=1,
                              show_progress=False)
    assert (result.training, result.validation) == (6, 2)
    datalist = json.loads((root / "dataset_0.json").read_text())
    assert datalist["label_format"] == [1] and datalist["tensorImageSize"] == "2D"
    labels = [item["label"] for item in datalist["training"] + datalist["validation"]]
    assert labels.count([1]) == labels.count([0]) == 4
    assert sorted(item["label"][0] for item in datalist["validation"]) == [0, 1]
    image = nib.load(root / datalist["training"][0]["image"])
    assert image.shape == (32, 32) and image.get_data_dtype() == np.uint8
    assert not (root / "labelsTr").exists()


def test_classes_differ_by_a_bright_nodule():
    negative = synth.film_case(np.random.default_rng(5), 64, positive=False).astype(int)
    positive = synth.film_case(np.random.default_rng(5), 64, positive=True).astype(int)
    difference = positive - negative
    changed = np.abs(difference) > 20
    assert 10 <= changed.sum() <= 200  # a small disc
    assert difference[changed].mean() > 60  # much brighter than the lung around it
    _, blobs = ndimage.label(changed)
    assert blobs == 1


# -- CLI and bad input ----------------------------------------------------------------------

def test_cli_shows_progress_and_summary(tmp_path):
    result = invoke("data", "synth", tmp_path / "d", "--cases", "2", "--size", "16",
                    "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "synthesizing segmentation cases: 2/2" in result.output
    assert "wrote 1 training and 1 validation segmentation cases" in result.output


def test_help_has_an_example():
    result = invoke("data", "synth", "--help")
    assert result.exit_code == 0 and "Example: mmarctl clone spleen my-exp" in result.output


@pytest.mark.parametrize("args,fragment", [
    (["--cases", "1"], "--cases must be at least 2"),
    (["--cases", "3", "--task", "classification"], "--cases must be at least 4"),
    (["--size", "8"], "--size must be in 16..512"),
])
def test_bad_numbers_are_usage_errors(tmp_path, args, fragment):
    result = invoke("data", "synth", tmp_path / "d", *args)
    assert result.exit_code == 2
    assert fragment in result.output and "Received:" in result.output
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("value", ["512,512", "512,512,160,1", "8,64,64", "64,64,600",
                                   "a,b,c", ""])
def test_bad_shape_is_a_one_line_usage_error(tmp_path, value):
    result = invoke("data", "synth", tmp_path / "d", "--shape", value)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "--shape must be three voxel counts like 512,512,160, each in 16..512" in lines[0]
    assert f"Received: shape={value!r}" in lines[0]
    assert not (tmp_path / "d").exists()


def test_shape_is_refused_for_classification(tmp_path):
    result = invoke("data", "synth", tmp_path / "d", "--task", "classification",
                    "--shape", "32,32,32")
    assert result.exit_code == 2 and "--shape is for 3-D volumes" in result.output
    assert not (tmp_path / "d").exists()


def test_unknown_task_is_refused(tmp_path):
    result = invoke("data", "synth", tmp_path / "d", "--task", "detection")
    assert result.exit_code == 2
    assert not (tmp_path / "d").exists()
    with pytest.raises(UsageError, match="unknown task"):
        synth.synthesize(tmp_path / "d", task="detection", show_progress=False)


def test_non_empty_destination_is_refused(tmp_path):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "keep.nii.gz").write_bytes(b"x")
    result = invoke("data", "synth", dest, "--cases", "2", "--size", "16")
    assert result.exit_code == 1
    assert "not empty" in result.output
    assert [p.name for p in dest.iterdir()] == ["keep.nii.gz"]
    with pytest.raises(WorkspaceError):
        synth.synthesize(dest, cases=2, size=16, show_progress=False)


# -- a workspace as DEST ------------------------------------------------------------------------

@pytest.mark.parametrize("task,marker", [("segmentation", "labelsTr"),
                                         ("classification", "imagesTr")])
def test_workspace_dest_fills_its_data_root_with_its_task(tmp_path, task, marker):
    exp = tmp_path / "exp"
    assert invoke("init", exp, "--task", task).exit_code == 0
    result = invoke("data", "synth", exp, "--cases", "4", "--size", "16")
    assert result.exit_code == 0, result.output
    assert f"validation {task} cases" in result.output
    assert (exp / "data" / marker).is_dir() and (exp / "data" / "dataset_0.json").is_file()
    assert invoke("check", exp).exit_code == 0


def test_workspace_dest_with_an_unrelated_datalist_is_refused(tmp_path):
    exp = tmp_path / "exp"
    assert invoke("clone", "spleen", exp).exit_code == 0
    env_path = exp / "config" / "environment.json"
    env = json.loads(env_path.read_text())
    env["DATASET_JSON"] = "config/dataset_0.json"
    env_path.write_text(json.dumps(env))
    result = invoke("data", "synth", exp, "--cases", "2", "--size", "16")
    assert result.exit_code == 1
    assert "DATASET_JSON" in result.output and "DATA_ROOT/dataset_0.json" in result.output
    assert not (exp / "data").exists()


def test_clone_dest_names_the_data_root_its_environment_took_from_the_source(tmp_path):
    """A clone's DATA_ROOT names its source's data: the refusal says so and how to write
    the clone's own data, rather than only "<source>/data: not empty" (D2)."""
    source, clone = tmp_path / "ws", tmp_path / "wc"
    assert invoke("clone", "classification", source).exit_code == 0
    assert invoke("data", "synth", source, "--cases", "8", "--size", "16").exit_code == 0
    assert invoke("clone", source, clone).exit_code == 0
    before = sorted(p.name for p in (source / "data").iterdir())
    result = invoke("data", "synth", clone, "--cases", "8", "--size", "16")
    assert result.exit_code == 1
    line = " ".join(result.output.split())
    assert "config/environment.json: DATA_ROOT: names " in line
    assert f"(the data of {source.resolve()}, which this MMAR was cloned from)" in line
    assert "not empty" in line and f"mmarctl data synth {clone / 'data'}" in line
    assert "synthesizing" not in result.output  # refused before any case is drawn
    assert sorted(p.name for p in (source / "data").iterdir()) == before
    assert not (clone / "data").exists()


def test_workspace_dest_without_data_root_is_refused(tmp_path):
    exp = tmp_path / "exp"
    (exp / "config").mkdir(parents=True)
    (exp / "config" / "environment.json").write_text("{}")
    result = invoke("data", "synth", exp)
    assert result.exit_code == 1 and "DATA_ROOT and DATASET_JSON" in result.output
