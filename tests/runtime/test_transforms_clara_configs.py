"""The transform and writer sections of the real Clara 3.x configs build and run.

Reads ../shared/compat/clara (skipped when absent; nothing is copied into the project).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from mmarctl.runtime.builder import ComponentBuilder
from mmarctl.runtime.transforms import NAMES


def clara_configs(root: Path):
    """(file, {section: specs}) for every parseable 3.x train or validation config."""
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue  # the corpus holds deliberately broken JSON
        if not isinstance(data, dict):
            continue
        if isinstance(data.get("train"), dict) and "pre_transforms" in data["train"]:
            yield path, {"train.pre_transforms": data["train"].get("pre_transforms"),
                         "train.batch_transforms": data["train"].get("batch_transforms"),
                         "validate.pre_transforms": data.get("validate", {}).get("pre_transforms")}
        elif "model_loader" in data:
            yield path, {k: data.get(k) for k in ("pre_transforms", "label_transforms",
                                                  "post_transforms", "writers")}


def implemented(spec: dict, built: dict) -> bool:
    if "path" in spec:
        return False  # BYOC code is not in the corpus copy
    if "ref" in spec:
        return spec["ref"] in built
    return spec.get("name", "").split("#")[0] in NAMES or spec.get("name") in (
        "WriteNifti", "WriteClassificationResult")


def test_every_3x_transform_and_writer_entry_builds(clara_compat):
    count = 0
    for path, sections in clara_configs(clara_compat):
        builder = ComponentBuilder(str(path))
        for section, specs in sections.items():
            family = "writers" if section == "writers" else "transforms"
            for i, spec in enumerate(specs or []):
                if implemented(spec, builder.built):
                    builder.build(family, spec, f"{section}[{i}]")
                    count += 1
    assert count > 400  # the corpus has ~500 such entries


def synthetic_case(folder: Path, name: str = "spleen_8") -> dict:
    """A CT-like volume in Hounsfield units with an ellipsoid 'organ' label."""
    shape = (48, 44, 20)
    grid = np.indices(shape, dtype=np.float32)
    centre = np.array([24, 20, 10], np.float32)[:, None, None, None]
    radius = np.array([10, 8, 5], np.float32)[:, None, None, None]
    organ = (((grid - centre) / radius) ** 2).sum(axis=0) <= 1
    rng = np.random.default_rng(0)
    ct = np.where(organ, 50, -100) + rng.normal(0, 20, shape)
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    nib.save(nib.Nifti1Image(ct.astype(np.int16), affine), str(folder / f"{name}.nii.gz"))
    nib.save(nib.Nifti1Image(organ.astype(np.uint8), affine), str(folder / f"{name}_seg.nii.gz"))
    return {"image": str(folder / f"{name}.nii.gz"), "label": str(folder / f"{name}_seg.nii.gz")}


def run_chain(transforms, samples, rng):
    for transform in transforms:
        produced = []
        for sample in samples:
            out = transform(sample, rng)
            produced.extend(out if isinstance(out, list) else [out])
        samples = produced
    return samples


SPLEEN = "fzbuzz__Clara-Train-Spleen__clara_ct_seg_spleen/config"


def test_spleen_training_pre_transforms_run_on_a_synthetic_case(clara_compat, tmp_path):
    config = json.loads((clara_compat / SPLEEN / "config_train.json").read_text())
    builder = ComponentBuilder("config_train.json")
    transforms = builder.build_list("transforms", config["train"]["pre_transforms"], "train.pre_transforms")
    patches = run_chain(transforms, [synthetic_case(tmp_path)], np.random.default_rng(0))
    assert len(patches) == 3  # FastCropByPosNegRatio batch_size
    for patch in patches:
        assert patch["image"].shape == (1, 96, 96, 96) and patch["label"].shape == (1, 96, 96, 96)
        assert patch["image"].dtype == np.float32 and patch["image"].max() <= 1.1 + 1e-6
        assert set(np.unique(patch["label"])) <= {0.0, 1.0}


def test_spleen_validation_config_writes_aligned_predictions(clara_compat, tmp_path):
    config = json.loads((clara_compat / SPLEEN / "config_validation.json").read_text())
    builder = ComponentBuilder("config_validation.json")
    pre = builder.build_list("transforms", config["pre_transforms"], "pre_transforms")
    labels = builder.build_list("transforms", config["label_transforms"], "label_transforms")
    post = builder.build_list("transforms", config["post_transforms"], "post_transforms")
    writers = builder.build_list("writers", config["writers"], "writers")
    (sample,) = run_chain(pre + labels, [synthetic_case(tmp_path)], np.random.default_rng(0))
    assert sample["image"].shape == (1, 48, 44, 20) and "label_class1" in sample
    truth = sample["label"][0]
    sample["model"] = np.stack([1 - truth, truth]).astype(np.float32)  # a perfect "network"
    (sample,) = run_chain(post, [sample], np.random.default_rng(0))
    written = [w.write(sample, tmp_path / "eval") for w in writers]
    assert [p.name for p in written] == ["spleen_8_model.nii.gz", "spleen_8_pred_class0.nii.gz",
                                         "spleen_8_pred_class1.nii.gz"]
    model = nib.load(written[0])
    np.testing.assert_allclose(model.affine, np.diag([0.9, 0.9, 3.0, 1.0]))
    np.testing.assert_array_equal(np.asarray(model.dataobj), truth)


def test_chexpert_classification_chain_runs_on_a_png(clara_compat, tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = np.random.default_rng(0).integers(0, 256, (40, 30)).astype(np.uint8)
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    (tmp_path / "cxr.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30, 40, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    folder = clara_compat / "mdai__model-deploy__classificationfl_chexpert_v4/config"
    config = json.loads((folder / "config_validation.json").read_text())
    builder = ComponentBuilder("config_validation.json")
    pre = builder.build_list("transforms", config["pre_transforms"], "pre_transforms")
    post = builder.build_list("transforms", config["post_transforms"], "post_transforms")
    writers = builder.build_list("writers", config["writers"], "writers")
    (sample,) = run_chain(pre, [{"image": str(tmp_path / "cxr.png")}], np.random.default_rng(0))
    assert sample["image"].shape == (256, 256, 3)
    assert abs(float(sample["image"].mean())) < 1e-4 and abs(float(sample["image"].std()) - 1) < 1e-3
    sample["model"] = np.linspace(0, 1, 15, dtype=np.float32)[None]
    (sample,) = run_chain(post, [sample], np.random.default_rng(0))
    path = writers[0].write(sample, tmp_path / "eval")
    header, row = path.read_text().splitlines()
    assert header.startswith("image,class_0") and row.startswith(str(tmp_path / "cxr.png"))


def test_brats_validation_chain_on_four_modalities(clara_compat, tmp_path):
    folder = clara_compat / "ddayzzz__clara_demo__clara_seg_ct_brats/config"
    config = json.loads((folder / "config_validation.json").read_text())
    builder = ComponentBuilder("config_validation.json")
    chain = {k: builder.build_list("transforms", config[k], k)
             for k in ("pre_transforms", "label_transforms", "post_transforms")}
    writers = builder.build_list("writers", config["writers"], "writers")
    rng = np.random.default_rng(0)
    shape, affine = (12, 10, 8), np.diag([1.0, 1.0, 1.0, 1.0])
    modalities = []
    for name in ("t1ce", "t1", "t2", "flair"):
        data = np.zeros(shape, np.float32)
        data[2:10, 2:8, 1:7] = rng.random((8, 6, 6)) * 500 + 100
        nib.save(nib.Nifti1Image(data, affine), str(tmp_path / f"BraTS_7_{name}.nii.gz"))
        modalities.append(str(tmp_path / f"BraTS_7_{name}.nii.gz"))
    label = np.zeros(shape, np.uint8)
    label[3:9, 3:7, 2:6], label[4:8, 4:6, 3:5], label[5:7, 4:5, 3:4] = 2, 1, 4
    nib.save(nib.Nifti1Image(label, affine), str(tmp_path / "BraTS_7_seg.nii.gz"))
    (sample,) = run_chain(chain["pre_transforms"] + chain["label_transforms"],
                          [{"image": modalities, "label": str(tmp_path / "BraTS_7_seg.nii.gz")}], rng)
    assert sample["image"].shape == (4,) + shape
    assert sample["label"].shape == (3,) + shape and sample["WT_label"].sum() == 6 * 4 * 4
    sample["model"] = sample["label"] * 0.9  # a confident, correct sigmoid output
    (sample,) = run_chain(chain["post_transforms"], [sample], rng)
    np.testing.assert_array_equal(sample["ET"], sample["ET_label"])
    paths = [w.write(sample, tmp_path / "eval") for w in writers]
    assert [p.name for p in paths] == ["BraTS_7_TC.nii.gz", "BraTS_7_WT.nii.gz",
                                       "BraTS_7_ET.nii.gz"]
    np.testing.assert_array_equal(np.asarray(nib.load(paths[1]).dataobj), sample["WT_label"][0])
