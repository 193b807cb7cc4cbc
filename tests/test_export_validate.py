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
