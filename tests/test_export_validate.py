"""Validate and infer from the exported frozen graph and ONNX model: the checkpoint's results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner  # noqa: E402

from mmarctl.cli import app  # noqa: E402

PATCH = [16, 16, 16]
LOADERS = {
    "ckpt": {"name": "CheckpointLoader", "args": {"checkpoint_dir": "{MMAR_CKPT_DIR}"}},
    # As Clara configs write it: model.trt.pb, which falls back to the exported model.fzn.pb.
    "fzn": {"name": "FrozenGraphModelLoader",
            "args": {"model_file_path": "{MMAR_CKPT_DIR}/model.trt.pb"}},
    "onnx": {"name": "OnnxModelLoader",
             "args": {"model_file_path": "{MMAR_CKPT_DIR}/model.onnx"}},
}


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


@pytest.fixture(scope="module")
def mmar(tmp_path_factory) -> Path:
    """Synthetic CT cases, a small Unet checkpoint and one validation config per loader."""
    from mmarctl.runtime.checkpoint import save_checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.synth import synthesize
    from mmarctl.workspace import Workspace

    root = tmp_path_factory.mktemp("validate") / "mmar"
    synthesize(root / "data", cases=3, size=24, seed=4, show_progress=False)
    write(root / "config" / "environment.json", {
        "DATA_ROOT": "data", "DATASET_JSON": "data/dataset_0.json", "MMAR_CKPT_DIR": "models",
        "MMAR_EVAL_OUTPUT_PATH": "eval"})
    write(root / "config" / "config_train.json", {
        "epochs": 1, "learning_rate": 1e-3, "dynamic_input_shape": False,
        "train": {"model": {"name": "Unet", "args": {"num_classes": 2, "nf_enc": "4,8",
                                                     "nf_dec": "8,8,4"}},
                  "image_pipeline": {"name": "SegmentationImagePipeline",
                                     "args": {"output_crop_size": PATCH}}}})
    for tag, loader in LOADERS.items():
        write(root / "config" / f"config_validation_{tag}.json", {
            "pre_transforms": [
                {"name": "LoadNifti", "args": {"fields": "image"}},
                {"name": "ConvertToChannelsFirst", "args": {"fields": "image"}},
                {"name": "ScaleIntensityRange", "args": {"fields": "image", "a_min": -57,
                 "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True}}],
            "label_transforms": [
                {"name": "LoadNifti", "args": {"fields": "label"}},
                {"name": "ConvertToChannelsFirst", "args": {"fields": "label"}}],
            "post_transforms": [{"name": "ArgmaxAcrossChannels", "args": {"fields": "model"}}],
            "val_metrics": [{"name": "ComputeAverageDice",
                             "args": {"name": "mean_dice", "field": "model",
                                      "label_field": "label"}}],
            "writers": [{"name": "WriteNifti", "args": {"field": "model", "dtype": "uint8",
                                                        "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}],
            "inferer": {"name": "TFScanWindowInferer", "args": {"roi_size": PATCH}},
            "model_loader": loader})
    tf.keras.utils.set_random_seed(7)
    _, model = build_network(Workspace(root).resolve("config_train.json"), root)
    # Bias the foreground logit so that the untrained network predicts some foreground.
    bias = model.get_layer("logits").bias
    bias.assign([0.0, 0.05])
    save_checkpoint(root / "models" / "model.ckpt", model)
    return root


def run(root: Path, verb: str, tag: str) -> Path:
    out = root / f"{verb}_{tag}"
    result = CliRunner().invoke(app, [verb, str(root), "-c", f"config_validation_{tag}.json",
                                      "--set", f"MMAR_EVAL_OUTPUT_PATH={out}"])
    assert result.exit_code == 0, result.output
    return out


def dice_per_case(root: Path, tag: str) -> dict[str, float]:
    metrics = json.loads((run(root, "validate", tag) / "metrics.json").read_text())
    return {row["case"]: row["mean_dice"] for row in metrics["per_case"]}


def segmentations(root: Path, tag: str) -> dict[str, object]:
    import nibabel as nib

    out = run(root, "infer", tag)
    return {p.relative_to(out).as_posix(): np.asarray(nib.load(p).dataobj)
            for p in sorted(out.rglob("*.nii*"))}


@pytest.mark.slow
def test_frozen_graph_and_onnx_give_the_checkpoint_results(mmar):
    exported = CliRunner().invoke(app, ["export", str(mmar), "-f", "fzn,onnx"])
    assert exported.exit_code == 0, exported.output
    assert not (mmar / "models" / "model.trt.pb").exists()

    reference = dice_per_case(mmar, "ckpt")
    assert reference
    assert all(0.0 < v < 1.0 for v in reference.values()), reference  # not a trivial output
    masks = segmentations(mmar, "ckpt")
    assert masks and any(m.any() for m in masks.values())
    for tag in ("fzn", "onnx"):
        assert dice_per_case(mmar, tag) == pytest.approx(reference, abs=1e-6), tag
        got = segmentations(mmar, tag)
        assert got.keys() == masks.keys()
        for name, mask in masks.items():
            # Probabilities agree to ~1e-7; an argmax may flip only on an exact tie.
            assert np.mean(got[name] != mask) < 1e-4, (tag, name)


def run_model(root: Path, verb: str, config_tag: str, model: str) -> Path:
    """``verb`` with ``--model`` overriding config_validation_<config_tag>.json's loader."""
    out = root / f"{verb}_{config_tag}_as_{model}"
    result = CliRunner().invoke(app, [verb, str(root), "-c", f"config_validation_{config_tag}.json",
                                      "--model", model,
                                      "--set", f"MMAR_EVAL_OUTPUT_PATH={out}"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_model_option_picks_checkpoint_frozen_graph_or_onnx(mmar):
    if not ((mmar / "models" / "model.fzn.pb").is_file()
            and (mmar / "models" / "model.onnx").is_file()):
        exported = CliRunner().invoke(app, ["export", str(mmar), "-f", "fzn,onnx"])
        assert exported.exit_code == 0, exported.output

    def dice(out: Path) -> dict[str, float]:
        rows = json.loads((out / "metrics.json").read_text())["per_case"]
        return {row["case"]: row["mean_dice"] for row in rows}

    # The ONNX config run as the checkpoint, the checkpoint config run as fzn and onnx.
    reference = dice(run_model(mmar, "validate", "onnx", "ckpt"))
    assert reference and all(0.0 < v < 1.0 for v in reference.values()), reference
    for model in ("fzn", "onnx"):
        assert dice(run_model(mmar, "validate", "ckpt", model)) == pytest.approx(
            reference, abs=1e-6), model
    masks = {p.name: np.asarray(__import__("nibabel").load(p).dataobj)
             for p in run_model(mmar, "infer", "ckpt", "onnx").rglob("*.nii*")}
    expected = {p.name: np.asarray(__import__("nibabel").load(p).dataobj)
                for p in run_model(mmar, "infer", "fzn", "ckpt").rglob("*.nii*")}
    assert masks.keys() == expected.keys() and masks
    for name, mask in masks.items():
        assert np.mean(mask != expected[name]) < 1e-4, name


@pytest.mark.parametrize("verb", ["validate", "infer"])
@pytest.mark.parametrize("model", ["fzn", "onnx"])
def test_model_option_without_the_export_says_how_to_make_it(mmar, tmp_path, verb, model):
    import shutil

    copy = tmp_path / "mmar"
    shutil.copytree(mmar, copy, ignore=shutil.ignore_patterns("model.fzn.pb", "model.onnx",
                                                              "model.trt.pb"))
    result = CliRunner().invoke(app, [verb, str(copy), "-c", "config_validation_ckpt.json",
                                      "--model", model])
    assert result.exit_code == 1
    name = "model.fzn.pb" if model == "fzn" else "model.onnx"
    assert f"--model {model}: no models/{name}" in result.output
    assert f"mmarctl export {copy} --format {model}" in result.output
    assert "Traceback" not in result.output


def test_model_option_rejects_other_values(mmar):
    result = CliRunner().invoke(app, ["validate", str(mmar), "--model", "trt"])
    assert result.exit_code == 2
    assert "--model must be one of ckpt, fzn, onnx (got trt)" in result.output
