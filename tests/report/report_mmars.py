"""Small MMARs with an untrained checkpoint, for the report and preview tests.

* :func:`segmentation_mmar`: synthetic CT volumes (HU) and a BYOC one-voxel "network" that
  thresholds the scaled intensity (spleen, liver edge and bone come out as foreground: an
  imperfect but deterministic segmentation with visible contours); every case is in the
  validation list and the last case's label is emptied (the report must centre it on the
  prediction and say so).
* :func:`classification_mmar`: synthetic 2D films with [0]/[1] labels and a BYOC network of
  two layers (sigmoid), so no DenseNet is built.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PATCH = [16, 16, 16]

THRESHOLD_NET = '''
import numpy as np
from mmarctl.runtime.component import Component


class Threshold(Component):
    """Softmax of k * (x - level) against 0: foreground where the scaled image > level."""
    final_activation = "softmax"

    def __init__(self, num_classes=2, level=0.6, k=40.0):
        super().__init__(num_classes=num_classes, level=level, k=k)
        self.num_classes, self.level, self.k = num_classes, level, k

    def build(self, spatial_dims, in_channels):
        import keras
        inputs = keras.Input((None,) * spatial_dims + (in_channels,))
        conv = keras.layers.Conv3D(2, 1, name="logits")
        outputs = keras.layers.Activation("softmax", dtype="float32")(conv(inputs))
        conv.set_weights([np.array([-self.k, self.k], np.float32).reshape(1, 1, 1, 1, 2),
                          np.array([self.k * self.level, -self.k * self.level], np.float32)])
        return keras.Model(inputs, outputs)
'''

TINY_CLASSIFIER = '''
from mmarctl.runtime.component import Component


class TinyCls(Component):
    """Mean-pooled 3x3 convolution and a sigmoid unit."""
    final_activation = "sigmoid"

    def __init__(self, num_classes=1):
        super().__init__(num_classes=num_classes)
        self.num_classes = num_classes

    def build(self, spatial_dims, in_channels):
        import keras
        inputs = keras.Input((None, None, in_channels))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(self.num_classes, activation="sigmoid", dtype="float32")(x)
        return keras.Model(inputs, outputs)
'''


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def _environment(root: Path) -> list[dict]:
    """environment.json, and every synthesized case moved to the validation list."""
    datalist = root / "data" / "dataset_0.json"
    data = json.loads(datalist.read_text())
    data["validation"] = data.pop("training") + data.get("validation", [])
    write(datalist, data)
    write(root / "config" / "environment.json", {
        "DATA_ROOT": "data", "DATASET_JSON": "data/dataset_0.json",
        "MMAR_CKPT_DIR": "models", "MMAR_EVAL_OUTPUT_PATH": "eval"})
    return data["validation"]


def _save_untrained(root: Path) -> None:
    import tensorflow as tf

    from mmarctl.runtime.checkpoint import save_checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.workspace import Workspace

    tf.keras.utils.set_random_seed(7)
    _, model = build_network(Workspace(root).resolve("config_train.json"), root)
    save_checkpoint(root / "models" / "model.ckpt", model)


def segmentation_mmar(root: Path, cases: int = 4) -> Path:
    """A 3D segmentation MMAR (see the module docstring); the last label is empty."""
    import nibabel as nib

    from mmarctl.synth import synthesize

    synthesize(root / "data", cases=cases, size=24, seed=4, show_progress=False)
    empty = root / "data" / _environment(root)[-1]["label"]
    label = nib.load(empty)
    nib.save(nib.Nifti1Image(np.zeros(label.shape, np.uint8), label.affine), empty)
    (root / "custom").mkdir(parents=True, exist_ok=True)
    (root / "custom" / "threshold.py").write_text(THRESHOLD_NET, encoding="utf-8")
    write(root / "config" / "config_train.json", {
        "epochs": 1, "learning_rate": 1e-3, "dynamic_input_shape": False,
        "train": {"model": {"path": "threshold.Threshold", "args": {"num_classes": 2}},
                  "image_pipeline": {"name": "SegmentationImagePipeline",
                                     "args": {"output_crop_size": PATCH}}}})
    write(root / "config" / "config_validation.json", {
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
                                  "label_field": "label", "is_key_metric": True}}],
        "writers": [{"name": "WriteNifti", "args": {"field": "model", "dtype": "uint8",
                                                    "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}],
        "inferer": {"name": "TFScanWindowInferer", "args": {"roi_size": PATCH}},
        "model_loader": {"name": "CheckpointLoader",
                         "args": {"checkpoint_dir": "{MMAR_CKPT_DIR}"}}})
    _save_untrained(root)
    return root


def classification_mmar(root: Path, cases: int = 12) -> Path:
    """A 2D binary classification MMAR with an untrained two-layer network."""
    from mmarctl.synth import synthesize

    synthesize(root / "data", task="classification", cases=cases, seed=4, show_progress=False)
    _environment(root)
    (root / "custom").mkdir(parents=True, exist_ok=True)
    (root / "custom" / "tinycls.py").write_text(TINY_CLASSIFIER, encoding="utf-8")
    write(root / "config" / "config_train.json", {
        "epochs": 1, "learning_rate": 1e-3,
        "train": {"model": {"path": "tinycls.TinyCls", "args": {"num_classes": 1}},
                  "image_pipeline": {"name": "ClassificationImagePipeline",
                                     "args": {"output_crop_size": [64, 64]}}}})
    write(root / "config" / "config_validation.json", {
        "pre_transforms": [
            {"name": "LoadNifti", "args": {"fields": "image"}},
            {"name": "ConvertToChannelsFirst", "args": {"fields": "image"}},
            {"name": "ScaleIntensityRange", "args": {"fields": "image", "a_min": 0,
             "a_max": 255, "b_min": 0.0, "b_max": 1.0, "clip": True}}],
        "val_metrics": [{"name": "ComputeAUC", "args": {"name": "auc", "field": "model",
                                                        "label_field": "label"}}],
        "writers": [{"name": "WriteClassificationResult",
                     "args": {"field": "model", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}],
        "inferer": {"name": "TFSimpleInferer"},
        "model_loader": {"name": "CheckpointLoader",
                         "args": {"checkpoint_dir": "{MMAR_CKPT_DIR}"}}})
    _save_untrained(root)
    return root
