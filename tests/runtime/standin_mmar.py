"""A tiny MMAR built from BYOC stand-in components, for the training-engine tests.

The stand-ins (loader, flip, 1x1 conv net, soft Dice, optimizer, Dice metric, inferer,
writer) live in the MMAR's ``custom/standins.py`` and are referenced with ``"path"``, so
these tests exercise the engine alone, whatever state the built-in components are in.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np

STANDINS = textwrap.dedent('''
    import numpy as np
    from mmarctl.runtime.component import Component
    from mmarctl.runtime.transforms.base import Transform


    class LoadNpy(Transform):
        """Loads .npy fields as channels-first arrays."""
        def __init__(self, fields):
            super().__init__(fields=fields)
            self.fields = [fields] if isinstance(fields, str) else list(fields)

        def __call__(self, sample, rng):
            for field in self.fields:
                path = sample[field]
                sample[field] = np.load(path).astype(np.float32)[None]
                self.meta(sample, field).update(filename=path, channel_axis=0,
                                                affine=np.eye(4))
            return sample


    class Flip(Transform):
        """Flips image and label along the first spatial axis with probability 0.5."""
        is_random = True

        def __init__(self, fields=("image", "label")):
            super().__init__(fields=list(fields))
            self.fields = list(fields)

        def __call__(self, sample, rng):
            if rng.random() < 0.5:
                for field in self.fields:
                    sample[field] = np.ascontiguousarray(sample[field][:, ::-1])
            return sample


    class Patches(Transform):
        """Emits `count` noisy copies of the sample (a cropper producing several patches)."""
        is_random = True

        def __init__(self, count=2):
            super().__init__(count=count)
            self.count = count

        def __call__(self, sample, rng):
            out = []
            for _ in range(self.count):
                copy = dict(sample)
                copy["image"] = sample["image"] + rng.normal(0, 0.01, sample["image"].shape
                                                             ).astype(np.float32)
                out.append(copy)
            return out


    class TinyNet(Component):
        """1x1 convolutions with softmax."""
        final_activation = "softmax"

        def __init__(self, num_classes=2, width=4):
            super().__init__(num_classes=num_classes, width=width)
            self.num_classes = num_classes
            self.width = width

        def build(self, spatial_dims, in_channels):
            import keras
            conv = keras.layers.Conv3D if spatial_dims == 3 else keras.layers.Conv2D
            inputs = keras.Input((None,) * spatial_dims + (in_channels,))
            x = conv(self.width, 3, padding="same", activation="relu")(inputs)
            x = conv(self.num_classes, 1)(x)
            outputs = keras.layers.Activation("softmax", dtype="float32")(x)
            return keras.Model(inputs, outputs)


    class SoftDice(Component):
        """1 - soft Dice of the foreground; nan=True makes the loss NaN, broken=True makes
        it fail on shapes (tests)."""
        def __init__(self, nan=False, broken=False):
            super().__init__(nan=nan, broken=broken)
            self.nan = nan
            self.broken = broken

        def __call__(self, y_true, y_pred):
            import tensorflow as tf
            if self.broken:
                y_pred = tf.reshape(y_pred, [3])
            fg = y_pred[..., 1]
            truth = tf.cast(y_true[..., 0] > 0.5, tf.float32)
            inter = tf.reduce_sum(fg * truth)
            loss = 1.0 - (2.0 * inter + 1e-5) / (tf.reduce_sum(fg) + tf.reduce_sum(truth) + 1e-5)
            return loss * float("nan") if self.nan else loss


    class Opt(Component):
        def build(self, learning_rate):
            import keras
            return keras.optimizers.Adam(learning_rate)


    class Dice(Component):
        """Hard Dice of the argmax, per case."""
        def __init__(self, name="mean_dice", is_key_metric=False):
            super().__init__(name=name, is_key_metric=is_key_metric)
            self.name = name
            self.is_key_metric = is_key_metric
            self.reset()

        def reset(self):
            self._cases = {}

        def update(self, sample):
            model = sample["model"]
            pred = model.argmax(0) if model.shape[0] > 1 and model.ndim > 3 else model.reshape(model.shape[-3:])
            truth = sample["label"].reshape(pred.shape) > 0.5
            pred = pred > 0.5
            value = 2 * (pred & truth).sum() / max(pred.sum() + truth.sum(), 1)
            self._cases[sample["meta"]["image"]["filename"]] = float(value)
            return float(value)

        def result(self):
            return float(np.mean(list(self._cases.values())))

        def per_case(self):
            return dict(self._cases)


    class Simple(Component):
        def __call__(self, predict, image):
            return predict(image)


    class Argmax(Transform):
        def __init__(self):
            super().__init__()

        def __call__(self, sample, rng):
            sample["model"] = sample["model"].argmax(0)[None].astype(np.float32)
            return sample


    class WriteNpy(Component):
        def __init__(self, field="model"):
            super().__init__(field=field)
            self.field = field

        def write(self, sample, out_dir):
            import os
            os.makedirs(out_dir, exist_ok=True)
            name = os.path.basename(sample["meta"]["image"]["filename"]).replace(".npy", "_seg.npy")
            path = os.path.join(out_dir, name)
            np.save(path, sample[self.field])
            return path
''')

SIZE = 8


def _case(rng: np.random.Generator, bad_label: bool = False, shape=(SIZE, SIZE, SIZE)):
    label = np.zeros(shape, np.float32)
    lo = rng.integers(1, 3, size=3)
    label[lo[0]:lo[0] + 4, lo[1]:lo[1] + 4, lo[2]:lo[2] + 4] = 1
    if bad_label:
        label[0, 0, 0] = 3
    image = label * 2.0 + rng.normal(0, 0.2, shape).astype(np.float32)
    return image, label


def train_config(epochs: int = 2, **extra) -> dict:
    """config_train.json of the stand-in MMAR."""
    pipeline = {"data_list_file_path": "{DATASET_JSON}", "data_file_base_dir": "{DATA_ROOT}",
                "data_list_key": "training", "output_crop_size": [SIZE] * 3,
                "output_batch_size": 2, "num_workers": 2}
    config = {
        "epochs": epochs, "num_training_epoch_per_valid": 1, "learning_rate": 0.05,
        "multi_gpu": False, "use_amp": False,
        "train": {
            "loss": {"path": "standins.SoftDice"},
            "optimizer": {"path": "standins.Opt"},
            "model": {"path": "standins.TinyNet", "args": {"num_classes": 2}},
            "pre_transforms": [{"name": "LoadNpy", "path": "standins.LoadNpy",
                                "args": {"fields": ["image", "label"]}},
                               {"path": "standins.Flip"}],
            "image_pipeline": {"name": "SegmentationImagePipeline", "args": pipeline},
        },
        "validate": {
            "metrics": [{"path": "standins.Dice", "args": {"is_key_metric": True}}],
            "pre_transforms": [{"ref": "LoadNpy"}],
            "image_pipeline": {"name": "SegmentationImagePipeline",
                               "args": {**pipeline, "data_list_key": "validation",
                                        "output_crop_size": [-1, -1, -1],
                                        "output_batch_size": 1}},
            "inferer": {"path": "standins.Simple"},
        },
    }
    config.update(extra)
    return config


def validation_config() -> dict:
    """config_validation.json of the stand-in MMAR."""
    return {
        "pre_transforms": [{"path": "standins.LoadNpy", "args": {"fields": "image"}}],
        "label_transforms": [{"path": "standins.LoadNpy", "args": {"fields": "label"}}],
        "post_transforms": [{"path": "standins.Argmax"}],
        "val_metrics": [{"path": "standins.Dice", "args": {"name": "mean_dice"}}],
        "inferer": {"path": "standins.Simple"},
        "model_loader": {"name": "CheckpointLoader", "args": {"checkpoint_dir": "{MMAR_CKPT_DIR}"}},
        "writers": [{"path": "standins.WriteNpy"}],
    }


def make_mmar(root: Path, *, n_train: int = 4, n_val: int = 2, bad_label: bool = False,
              mismatch: bool = False, config: dict | None = None) -> Path:
    """Write the stand-in MMAR (configs, custom code, .npy data) under ``root``."""
    rng = np.random.default_rng(0)
    (root / "config").mkdir(parents=True)
    (root / "custom").mkdir()
    (root / "custom" / "standins.py").write_text(STANDINS)
    data = root / "data"
    data.mkdir()
    lists: dict[str, list] = {"training": [], "validation": []}
    for key, count in (("training", n_train), ("validation", n_val)):
        for i in range(count):
            image, label = _case(rng, bad_label=bad_label and key == "training" and i == 1)
            if mismatch and key == "training" and i == 0:
                label = label[:-1]
            np.save(data / f"{key}_{i}_img.npy", image)
            np.save(data / f"{key}_{i}_lbl.npy", label)
            lists[key].append({"image": f"{key}_{i}_img.npy", "label": f"{key}_{i}_lbl.npy"})
    (data / "dataset.json").write_text(json.dumps(lists))
    (root / "config" / "environment.json").write_text(json.dumps({
        "DATA_ROOT": "data", "DATASET_JSON": "data/dataset.json", "MMAR_CKPT_DIR": "models",
        "MMAR_EVAL_OUTPUT_PATH": "eval", "PROCESSING_TASK": "segmentation"}))
    (root / "config" / "config_train.json").write_text(json.dumps(config or train_config()))
    (root / "config" / "config_validation.json").write_text(json.dumps(validation_config()))
    return root
