"""An MMAR whose models/ holds only Clara TF1 artifacts: check, validate, infer, export, finetune."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parent / "runtime"))

import tf1_artifacts  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mmarctl.cli import app  # noqa: E402

LOADERS = {
    "ckpt": {"name": "CheckpointLoader", "args": {"checkpoint_dir": "{MMAR_CKPT_DIR}"}},
    "trt": {"name": "FrozenGraphModelLoader",
            "args": {"model_file_path": "{MMAR_CKPT_DIR}/model.trt.pb"}},
}


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def validation_config(loader: dict, roi: list[int]) -> dict:
    return {"pre_transforms": [
                {"name": "LoadNifti", "args": {"fields": "image"}},
                {"name": "ConvertToChannelsFirst", "args": {"fields": "image"}},
                {"name": "ScaleIntensityRange", "args": {"fields": "image", "a_min": -57,
                 "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True}}],
            "label_transforms": [
                {"name": "LoadNifti", "args": {"fields": "label"}},
                {"name": "ConvertToChannelsFirst", "args": {"fields": "label"}}],
            "post_transforms": [{"name": "ArgmaxAcrossChannels", "args": {"fields": "model"}}],
            "val_metrics": [{"name": "ComputeAverageDice", "args": {
                "name": "mean_dice", "field": "model", "label_field": "label"}}],
            "writers": [{"name": "WriteNifti", "args": {"field": "model", "dtype": "uint8",
                                                        "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}],
            "inferer": {"name": "TFScanWindowInferer", "args": {"roi_size": roi}},
            "model_loader": loader}


@pytest.fixture(scope="module")
def mmar(tmp_path_factory) -> Path:
    """Synthetic CT cases; models/ holds a Clara-like channels-first TF1 checkpoint (meta graph
    with Adam) and its frozen graph, nothing of mmarctl's."""
    from mmarctl.synth import synthesize

    root = tmp_path_factory.mktemp("clara") / "mmar"
    synthesize(root / "data", cases=2, size=24, seed=4, show_progress=False)
    write(root / "config" / "environment.json", {
        "DATA_ROOT": "data", "DATASET_JSON": "data/dataset_0.json", "MMAR_CKPT_DIR": "models",
        "MMAR_EVAL_OUTPUT_PATH": "eval"})
    write(root / "config" / "config_train.json", {
        "epochs": 1, "learning_rate": 1e-3, "dynamic_input_shape": True,
        "train": {"model": {"name": "Unet", "args": {"num_classes": 2, "nf_enc": "4,8",
                                                     "nf_dec": "8,8,4"}},
                  "loss": {"name": "Dice"},
                  "pre_transforms": [
                      {"name": "LoadNifti", "args": {"fields": ["image", "label"]}},
                      {"name": "ConvertToChannelsFirst", "args": {"fields": ["image", "label"]}}],
                  "image_pipeline": {"name": "SegmentationImagePipeline", "args": {
                      "data_list_file_path": "{DATASET_JSON}", "data_file_base_dir":
                      "{DATA_ROOT}", "data_list_key": "training",
                      "output_crop_size": [16, 16, 16]}}},
        "validate": {"metrics": [], "image_pipeline": {"name": "SegmentationImagePipeline",
                     "args": {"data_list_file_path": "{DATASET_JSON}",
                              "data_file_base_dir": "{DATA_ROOT}",
                              "data_list_key": "validation"}}}})
    for tag, loader in LOADERS.items():
        write(root / "config" / f"config_validation_{tag}.json",
              validation_config(loader, [16, 16, 16]))
    tf1_artifacts.build(root / "models", dims=3, channels=1, classes=2, seed=5)
    return root


def invoke(*args: str):
    return CliRunner().invoke(app, [*args])


def run(root: Path, verb: str, tag: str, *extra: str) -> Path:
    out = root / f"{verb}_{tag}{'_'.join(extra)}"
    result = invoke(verb, str(root), "-c", f"config_validation_{tag}.json", *extra,
                    "--set", f"MMAR_EVAL_OUTPUT_PATH={out}")
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output and "deprecated" not in result.output, result.output
    return out


def dice(out: Path) -> dict[str, float]:
    rows = json.loads((out / "metrics.json").read_text())["per_case"]
    return {row["case"]: row["mean_dice"] for row in rows}


def test_check_lists_the_tf1_files_and_what_each_verb_does(mmar):
    # This training config is deliberately minimal (check reports its missing keys); the
    # model notes come regardless and never count as problems.
    result = invoke("check", str(mmar))
    assert "models/model" not in "".join(l for l in result.output.splitlines()
                                         if ": note: " not in l)
    lines = {line.split(": note: ")[0]: line for line in result.output.splitlines()
             if ": note: " in line}
    assert "TF1 Saver checkpoint (Clara)" in lines["models/model.ckpt"]
    assert "channels_first" in lines["models/model.ckpt"]
    assert "CheckpointLoader runs its graph NV_MODEL_INPUT -> NV_MODEL_OUTPUT" in lines[
        "models/model.ckpt"]
    assert "FrozenGraphModelLoader" in lines["models/model.fzn.pb"]


@pytest.mark.slow
def test_validate_and_infer_from_checkpoint_and_frozen_graph_agree(mmar):
    import nibabel as nib

    reference = dice(run(mmar, "validate", "ckpt"))
    assert reference and all(0.0 <= v <= 1.0 for v in reference.values())
    # config_validation_trt names model.trt.pb, absent: model.fzn.pb beside it is used.
    assert dice(run(mmar, "validate", "trt")) == pytest.approx(reference, abs=1e-3)
    assert dice(run(mmar, "validate", "ckpt", "--model", "fzn")) == pytest.approx(
        reference, abs=1e-3)

    out = run(mmar, "infer", "ckpt")
    written = sorted(out.rglob("*.nii*"))
    assert written
    for path in written:
        image = nib.load(mmar / "data" / "imagesTr" / f"{path.parent.name}.nii.gz")
        mask = nib.load(path)
        np.testing.assert_allclose(mask.affine, image.affine, atol=1e-5)
        assert mask.shape[:3] == image.shape[:3]
        assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}


@pytest.mark.slow
def test_export_every_format_verified_against_the_tf1_graph(mmar, tmp_path):
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root)
    (root / "models" / "model.fzn.pb").unlink()  # made again from the checkpoint
    result = invoke("export", str(root), "--format", "fzn,savedmodel,onnx,triton")
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output and "deprecated" not in result.output, result.output
    manifest = json.loads((root / "models" / "export.json").read_text())
    assert manifest["source"]["format"] == "tf1_checkpoint"
    assert manifest["layout"] == "channels_first"
    assert manifest["input"]["shape"] == [None, 1, None, None, None]
    assert manifest["input"]["axes"] == "N,C,X,Y,Z"
    # The graph has a float16 section: the verification tolerance is float16's (2e-3).
    assert manifest["verification"]["tolerance"] == 2e-3
    for fmt in ("fzn", "savedmodel"):
        assert manifest["formats"][fmt]["max_abs_diff"] <= 1e-4, fmt
    for fmt in ("onnx", "triton"):
        assert manifest["formats"][fmt]["max_abs_diff"] <= 2e-3, fmt

    # Independent check of the written frozen graph and ONNX file against the NumPy twin.
    from mmarctl.runtime.export.frozen_graph import load_frozen_graph
    from mmarctl.runtime.export.onnx_model import load_onnx_model

    weights = tf1_artifacts.make_weights(3, 1, 2, seed=5)
    batch = np.random.default_rng(9).standard_normal((1, 1, 16, 16, 16)).astype("f")
    expected = tf1_artifacts.twin(weights, batch)
    frozen = load_frozen_graph(root / "models" / "model.fzn.pb")(batch)
    onnx_out = load_onnx_model(root / "models" / "model.onnx",
                               providers=["CPUExecutionProvider"])(batch)
    np.testing.assert_allclose(frozen, expected, atol=3e-3)
    np.testing.assert_allclose(onnx_out, expected, atol=3e-3)

    # The re-made frozen graph, with export.json beside it, validates as the checkpoint does.
    assert dice(run(root, "validate", "ckpt", "--model", "fzn")) == pytest.approx(
        dice(run(root, "validate", "ckpt")), abs=1e-3)


def test_finetune_from_a_tf1_checkpoint_refuses_in_one_line(mmar):
    result = invoke("finetune", str(mmar), "--epochs", "1")
    assert result.exit_code == 1
    lines = [l for l in result.output.splitlines() if l.strip()]
    error = [l for l in lines if l.startswith("error")]
    assert len(error) == 1, result.output
    assert "models/model.ckpt.index: cannot finetune from a TF1 checkpoint: the network's " \
           "variable" in error[0]
    assert "validate, infer and export run the TF1 model" in error[0]
    assert "Traceback" not in result.output and "WARNING" not in result.output


def test_tensorrt_graph_without_frozen_graph_is_one_line(mmar, tmp_path):
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root)
    models = root / "models"
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((models / "model.fzn.pb").read_bytes())
    node = graph_def.node.add()
    node.name, node.op = "TRTEngineOp_0", "TRTEngineOp"
    (models / "model.trt.pb").write_bytes(graph_def.SerializeToString())
    (models / "model.fzn.pb").unlink()
    result = invoke("validate", str(root), "-c", "config_validation_trt.json")
    assert result.exit_code == 1
    assert "models/model.trt.pb: a TF-TRT graph (TRTEngineOp): TF-TRT no longer exists" in \
        result.output
    assert "make model.fzn.pb with `mmarctl export`" in result.output
    assert "Traceback" not in result.output
    # check says it first, in the same words
    checked = invoke("check", str(root), "--config", "config_validation_trt.json")
    assert checked.exit_code == 1
    assert result.output.strip().removeprefix("error: ") in checked.output.splitlines()


def test_fixed_shape_graph_checks_the_roi(tmp_path, mmar):
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root, ignore=shutil.ignore_patterns("models"))
    tf1_artifacts.build(root / "models", dims=3, channels=1, classes=2, size=(16, 16, 16))
    write(root / "config" / "config_validation_roi.json",
          validation_config(LOADERS["ckpt"], [8, 8, 8]))
    result = invoke("validate", str(root), "-c", "config_validation_roi.json")
    assert result.exit_code == 1
    assert ("inferer.args.roi_size: model.ckpt takes a fixed input of [16, 16, 16] "
            "(dynamic_input_shape false) but the inferer's roi_size is [8, 8, 8]") in result.output


def test_a_corrupt_meta_is_one_line_from_check_validate_infer_and_export(mmar, tmp_path):
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root)
    (root / "models" / "model.ckpt.meta").write_text("this is not a meta graph\n")
    expected = "models/model.ckpt.meta: corrupt: not a TF1 MetaGraphDef (unsupported wire type 4)"
    result = invoke("check", str(root))
    assert result.exit_code == 1
    assert any(line.startswith(expected) for line in result.output.splitlines()), result.output
    for verb in ("validate", "infer", "export"):
        args = [] if verb == "export" else ["-c", "config_validation_ckpt.json"]
        result = invoke(verb, str(root), *args)
        assert result.exit_code == 1, (verb, result.output)
        errors = [l for l in result.output.splitlines() if l.startswith("error")]
        assert len(errors) == 1 and expected in errors[0], (verb, result.output)
        assert "Traceback" not in result.output and "WireError" not in result.output
    assert not (root / "models" / "export.json").exists()


def test_a_meta_of_another_network_is_one_line_from_check_validate_infer_and_export(mmar,
                                                                                   tmp_path):
    """A .meta whose Saver reads tensors the .index/.data pair lacks (here its last layer is
    named conv9): check refuses it before compute, and the verbs say which tensor, not
    TensorFlow's "a Variable name or other graph key that is missing"."""
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root)
    meta = root / "models" / "model.ckpt.meta"
    meta_graph = tf.compat.v1.MetaGraphDef()
    meta_graph.ParseFromString(meta.read_bytes())
    for node in meta_graph.graph_def.node:
        if node.name.endswith("RestoreV2/tensor_names"):
            names = node.attr["value"].tensor.string_val
            names[:] = [name.replace(b"conv2/", b"conv9/") for name in names]
    meta.write_bytes(meta_graph.SerializeToString())
    expected = ("its .meta graph restores conv9/bias, conv9/bias/Adam, "
                "conv9/bias/Adam_1 and 3 more, which the checkpoint does not hold; it holds "
                "conv2/bias, conv2/bias/Adam, conv2/bias/Adam_1 and 3 more, which the graph "
                "does not restore")
    result = invoke("check", str(root))
    assert result.exit_code == 1
    assert any(line.startswith(f"models/model.ckpt: {expected}")
               for line in result.output.splitlines()), result.output
    for verb in ("validate", "infer", "export"):
        args = [] if verb == "export" else ["-c", "config_validation_ckpt.json"]
        result = invoke(verb, str(root), *args)
        assert result.exit_code == 1, (verb, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("error")]
        assert len(errors) == 1 and expected in errors[0], (verb, result.output)
        assert "copy the .meta saved with this .index/.data pair" in errors[0]
        assert "Traceback" not in result.output and "Restoring from" not in result.output
    assert not (root / "models" / "export.json").exists()


def test_check_finds_a_graph_made_for_other_channels(mmar, tmp_path):
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root, ignore=shutil.ignore_patterns("models"))
    tf1_artifacts.build(root / "models", dims=3, channels=2, classes=2, frozen=None)
    result = invoke("check", str(root))
    assert result.exit_code == 1
    assert ("models/model.ckpt: the graph's input NV_MODEL_INPUT takes 2 channels but the "
            "training config's output_image_channels is 1") in result.output


def test_train_keeps_the_clara_pretrained_checkpoint(mmar, tmp_path, caplog):
    """train replaces models/model.ckpt: Clara's TF1 checkpoint is kept whole in previous_runs/
    (its .meta with it), and no .meta is left beside the new weights."""
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root)
    models = root / "models"
    originals = {path.name: path.read_bytes() for path in models.glob("model.ckpt.*")}
    assert "model.ckpt.meta" in originals
    config = json.loads((root / "config" / "config_train.json").read_text())
    config["train"]["pre_transforms"].append({"name": "CropSubVolumeCenter", "args": {
        "fields": ["image", "label"], "size": [16, 16, 16]}})
    config["validate"]["pre_transforms"] = config["train"]["pre_transforms"]
    write(root / "config" / "config_train.json", config)
    with caplog.at_level(logging.WARNING, logger="mmarctl.train"):
        result = invoke("train", str(root), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert not (models / "model.ckpt.meta").exists()
    assert (models / "model.ckpt.index").read_bytes() != originals["model.ckpt.index"]
    kept = list((models / "previous_runs").glob("*/model.ckpt.meta"))
    assert len(kept) == 1, result.output
    assert {path.name: path.read_bytes() for path in kept[0].parent.glob("model.ckpt.*")} \
        == originals
    told = [r.getMessage() for r in caplog.records if "Clara's pretrained model" in r.getMessage()]
    assert told == [f"{models / 'model.ckpt'} was a TF1 checkpoint (Clara's pretrained model): "
                    f"kept as {kept[0].parent / 'model.ckpt'}, with its .meta graph; this run's "
                    "model replaces it"]
    # The kept checkpoint still runs as the TF1 model it was.
    out = root / "eval_kept"
    result = invoke("validate", str(root), "-c", "config_validation_ckpt.json", "--set",
                    f"MMAR_CKPT_DIR={kept[0].parent}", "--set", f"MMAR_EVAL_OUTPUT_PATH={out}")
    assert result.exit_code == 0, result.output
    assert (out / "metrics.json").is_file()


@pytest.mark.parametrize("graph, roi, expected", [
    (dict(size=(16, 16, 16)), [8, 8, 8],
     "model.ckpt takes a fixed input of [16, 16, 16] (dynamic_input_shape false) but the "
     "inferer's roi_size is [8, 8, 8] (set roi_size to [16, 16, 16])"),
    (dict(dims=2), [16, 16, 16],
     "model.ckpt takes 2D images (input NV_MODEL_INPUT (?, 1, ?, ?)) but the inferer's "
     "roi_size [16, 16, 16] is 3D (use a 3D model, or the 2D configs this model was trained "
     "with)"),
])
def test_check_holds_a_tf1_graph_to_the_roi_as_validate_does(tmp_path, mmar, graph, roi,
                                                              expected):
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root, ignore=shutil.ignore_patterns("models"))
    tf1_artifacts.build(root / "models", frozen=None, **graph)
    write(root / "config" / "config_validation_ckpt.json",
          validation_config(LOADERS["ckpt"], roi))
    line = f"config/config_validation_ckpt.json: inferer.args.roi_size: {expected}"
    checked = invoke("check", str(root), "--config", "config_validation_ckpt.json")
    assert checked.exit_code == 1 and line in checked.output.splitlines(), checked.output
    refused = invoke("validate", str(root), "-c", "config_validation_ckpt.json")
    assert refused.exit_code == 1 and refused.output.strip() == f"error: {line}"


def _rename_node(meta: Path, old: str, new: str) -> None:
    """Rename a node of a TF1 meta graph, and every input that reads it."""
    meta_graph = tf.compat.v1.MetaGraphDef()
    meta_graph.ParseFromString(meta.read_bytes())
    for node in meta_graph.graph_def.node:
        if node.name == old:
            node.name = new
        for index, name in enumerate(node.input):
            if name.lstrip("^").split(":")[0] == old:
                node.input[index] = name.replace(old, new, 1)
    meta.write_bytes(meta_graph.SerializeToString())


def test_check_says_a_tf1_graph_without_nv_model_input_as_validate_does(tmp_path, mmar):
    root = tmp_path / "mmar"
    shutil.copytree(mmar, root, ignore=shutil.ignore_patterns("models"))
    tf1_artifacts.build(root / "models", frozen=None)
    _rename_node(root / "models" / "model.ckpt.meta", "NV_MODEL_INPUT", "input_1")
    line = ("models/model.ckpt.meta: the graph has no input node 'NV_MODEL_INPUT' (its "
            "placeholders: input_1, label; name one with input_node_names)")
    checked = invoke("check", str(root), "--config", "config_validation_ckpt.json")
    assert checked.exit_code == 1 and line in checked.output.splitlines(), checked.output
    refused = invoke("validate", str(root), "-c", "config_validation_ckpt.json")
    assert refused.exit_code == 1 and refused.output.strip() == f"error: {line}"
    # Named by the loader's input_node_names, it runs.
    config = json.loads((root / "config" / "config_validation_ckpt.json").read_text())
    config["model_loader"]["args"]["input_node_names"] = "input_1"
    write(root / "config" / "config_validation_ckpt.json", config)
    assert invoke("check", str(root), "--config", "config_validation_ckpt.json").exit_code == 0
