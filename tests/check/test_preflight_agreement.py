"""`check` and `train` agree on every pre-flight class (issue 12, part 1).

For each kind of mistake the runtime refuses before compute, a broken copy of the spleen
scaffold makes `mmarctl check` exit 1 with one problem line, and `mmarctl train` exit 1
with that same line before its first step (no models/ written, TensorFlow never started).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from broken_mmars import (NO_TENSORFLOW, broken_copy, check_line, custom_code, datalist_file,
                          edit_json, nan_affine, rewrite_image, run_verb, runner,
                          singular_affine, without_tensorflow, written)
from broken_mmars import spleen  # noqa: F401 - fixtures

from mmarctl.cli import app


_edit_json = edit_json


def _train(root: Path, change: Callable[[dict], None]) -> None:
    _edit_json(root / "config" / "config_train.json", change)


def _first_image(root: Path) -> Path:
    return datalist_file(root, "training", 0, "image")


def _rewrite_image(root: Path, affine=None, data=None) -> None:
    rewrite_image(_first_image(root), affine=affine, data=data)


def _env(root: Path, **values) -> None:
    _edit_json(root / "config" / "environment.json", lambda e: e.update(values))


def _drop_label(root: Path) -> None:
    _edit_json(root / "data" / "dataset_0.json", lambda d: d["training"][1].pop("label"))


def _garbage_image(root: Path) -> None:
    _first_image(root).write_bytes(b"not a NIfTI file at all" * 20)


def _nan_affine(root: Path) -> None:
    _rewrite_image(root, affine=nan_affine())


def _singular_affine(root: Path) -> None:
    _rewrite_image(root, affine=singular_affine())


def _two_channels(root: Path) -> None:
    _rewrite_image(root, data=lambda image: np.stack(
        [image.get_fdata(dtype=np.float32)] * 2, axis=-1))


def _crop_off_divisor(root: Path) -> None:
    def change(config: dict) -> None:
        config["train"]["image_pipeline"]["args"]["output_crop_size"] = [44, 44, 44]
        config["train"]["pre_transforms"][5]["args"]["size"] = [44, 44, 44]
    _train(root, change)


def _no_training_items(root: Path) -> None:
    _edit_json(root / "data" / "dataset_0.json", lambda d: d.update(training=[]))


def _label_cropped(root: Path) -> None:
    rewrite_image(datalist_file(root, "training", 0, "label"),
                  data=lambda image: image.get_fdata(dtype=np.float32)[:20, :20, :20])


def _label_flipped(root: Path) -> None:
    """The label's voxels as they were, its affine flipped left-right (LAS against RAS)."""
    label = datalist_file(root, "training", 0, "label")
    rewrite_image(label, affine=np.diag([-1.0, 1.0, 1.0, 1.0]) @ _affine(label))


def _label_spacing(root: Path) -> None:
    """The label's voxels as they were, written with 1 mm voxels (a tool's default header)."""
    import nibabel as nib

    label = datalist_file(root, "training", 0, "label")
    image = nib.load(str(label))
    affine = image.affine.copy()
    affine[:3, :3] = np.eye(3)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), affine), str(label))


def _affine(path: Path) -> np.ndarray:
    import nibabel as nib

    return np.asarray(nib.load(str(path)).affine, np.float64)


def _seed_text(root: Path) -> None:
    _train(root, lambda c: c["determinism"].update(random_seed="abc"))


def _every_in_environment(root: Path) -> None:
    _train(root, lambda c: c.pop("num_training_epoch_per_valid"))
    _env(root, num_training_epoch_per_valid=0)


def _nf_dec_short(root: Path) -> None:
    _train(root, lambda c: c["train"]["model"]["args"].update(nf_dec="64,32"))


def _two_norms(root: Path) -> None:
    _train(root, lambda c: c["train"]["model"]["args"].update(use_batch_norm=True))


def _poly_power_zero(root: Path) -> None:
    _train(root, lambda c: c["train"]["lr_policy"]["args"].update(poly_power=0))


def _batch_size_zero(root: Path) -> None:
    _train(root, lambda c: c["train"]["image_pipeline"]["args"].update(output_batch_size=0))


def _bad_scale_range(root: Path) -> None:
    _train(root, lambda c: c["train"]["pre_transforms"][4]["args"].update(
        fields=[]))


def _net_dims(root: Path) -> None:
    _train(root, lambda c: c["train"]["model"].update(
        name="SegAhnet", args={"num_classes": 2, "n_spatial_dim": 2}))


def _byoc_loss(source: str, args: dict | None = None) -> Callable[[Path], None]:
    """train.loss is custom/my_loss.py's MyDice (with ``args``), written from ``source``."""
    def change(root: Path) -> None:
        custom_code(root, "my_loss", source)
        entry = {"path": "my_loss.MyDice", **({"args": args} if args is not None else {})}
        _train(root, lambda c: c["train"].update(loss=entry))
    return change


def _byoc_transform(source: str, args: dict) -> Callable[[Path], None]:
    """custom/my_transforms.py's AddNoise (written from ``source``) after the last training
    pre-transform."""
    def change(root: Path) -> None:
        custom_code(root, "my_transforms", source)
        _train(root, lambda c: c["train"]["pre_transforms"].append(
            {"path": "my_transforms.AddNoise", "args": args}))
    return change


_CLARA_LOSS = """import tensorflow as tf
from ai4med.components.losses.loss import Loss


class MyDice(Loss):
    def compute(self, predictions, targets, build_ctx=None):
        return tf.reduce_mean(predictions)
"""
_COMPUTE_LOSS = """import tensorflow as tf


class MyDice:
    def compute(self, predictions, targets, build_ctx=None):
        return tf.reduce_mean(predictions)
"""
_NOISE = """from mmarctl.runtime.transforms.base import Transform


class AddNoise(Transform):
    is_random = True

    def __init__(self, fields, sigma=0.01):
        super().__init__(fields=fields, sigma=sigma)
        self.fields, self.sigma = fields, sigma

    def __call__(self, sample, rng):
        return sample
"""
_CLARA_NET = """import tensorflow as tf


class TinyNet:
    def __init__(self, num_classes=2):
        self.num_classes = num_classes

    def get_predictions(self, inputs, is_training, build_ctx=None):
        return tf.nn.softmax(inputs, axis=1)
"""


def _byoc_network(root: Path) -> None:
    custom_code(root, "my_net", _CLARA_NET)
    _train(root, lambda c: c["train"].update(model={"path": "my_net.TinyNet",
                                                     "args": {"num_classes": 2}}))


#: (class id, how to break the MMAR, the JSON path / file part and the message part).
CASES = [
    ("global-seed", _seed_text, "determinism.random_seed",
     "random_seed must be an integer; Received: random_seed='abc'"),
    ("global-from-environment", _every_in_environment, "num_training_epoch_per_valid",
     "num_training_epoch_per_valid must be an integer >= 1"),
    ("network-args", _nf_dec_short, "train.model", "Unet: nf_dec must be at least"),
    ("network-exclusive-args", _two_norms, "train.model",
     "Unet: use_group_norm must be false when use_batch_norm is true"),
    ("lr-policy-args", _poly_power_zero, "train.lr_policy",
     "ReducePoly: poly_power must be a number > 0"),
    ("pipeline-args", _batch_size_zero, "train.image_pipeline",
     "output_batch_size must be an integer >= 1"),
    ("transform-args", _bad_scale_range, "train.pre_transforms[4]", "ScaleIntensityRange"),
    ("network-input", _net_dims, "train.model",
     "SegAhnet: n_spatial_dim must be the data's spatial dimensions (3)"),
    ("datalist-field", _drop_label, "data/dataset_0.json: training",
     "1 of 3 items have no 'label', which LoadNifti reads: training[1]"),
    ("header-unreadable", _garbage_image, "data/dataset_0.json: training",
     "NIfTI files have no readable NIfTI header"),
    ("header-affine-nan", _nan_affine, "data/dataset_0.json: training",
     "have an affine with NaN or infinite entries"),
    ("header-affine-singular", _singular_affine, "data/dataset_0.json: training",
     "have a singular affine"),
    ("header-channels", _two_channels, "data/dataset_0.json: training",
     "1 image has a channel count other than output_image_channels=1"),
    ("network-crop-divisor", _crop_off_divisor, "train.image_pipeline.args.output_crop_size",
     "every size must be a multiple of 16, the network's size divisor; Received: [44, 44, 44] "
     "(e.g. [48, 48, 48])"),
    ("datalist-empty", _no_training_items, "data/dataset_0.json: training",
     "the 'training' list holds no items; config/config_train.json reads it"),
    ("header-pair-shape", _label_cropped, "data/dataset_0.json: training",
     "1 of 3 labels differ in shape from their image"),
    ("header-pair-orientation", _label_flipped, "data/dataset_0.json: training",
     "1 of 3 labels differ in orientation from their image, and the pipeline pairs their "
     "voxels one to one"),
    ("header-pair-spacing", _label_spacing, "data/dataset_0.json: training",
     "1 of 3 labels have another voxel spacing than their image of the same shape"),
    ("byoc-closed-library", _byoc_loss(_CLARA_LOSS), "train.loss.path",
     "custom/my_loss.py:2: imports ai4med, Clara 3.x's closed library, which mmarctl cannot "
     "load; port MyDice to mmarctl's component contract (docs/components.md)"),
    ("byoc-unknown-arg", _byoc_transform(_NOISE, {"fields": "image", "sigmaa": 0.1}),
     "train.pre_transforms[8].args.sigmaa",
     "unknown argument 'sigmaa' for my_transforms.AddNoise (its __init__ at "
     "custom/my_transforms.py:7 takes fields, sigma; did you mean 'sigma'?)"),
    ("byoc-missing-arg", _byoc_transform(_NOISE, {"sigma": 0.1}), "train.pre_transforms[8].args",
     "my_transforms.AddNoise: missing argument 'fields' (its __init__ at "
     "custom/my_transforms.py:7 gives it no default)"),
    ("byoc-loss-contract", _byoc_loss(_COMPUTE_LOSS), "train.loss.path",
     "my_loss.MyDice (custom/my_loss.py:4) has no __call__: mmarctl calls a loss as "
     "loss(y_true, y_pred), returning a scalar tensor; Clara's compute() is not called"),
    ("byoc-network-contract", _byoc_network, "train.model.path",
     "my_net.TinyNet (custom/my_net.py:4) has no build(): mmarctl calls a network as "
     "network.build(spatial_dims, in_channels), returning a keras.Model; Clara's "
     "get_predictions() is not called"),
]


@pytest.fixture
def broken(spleen, tmp_path, request) -> Path:
    return broken_copy(spleen, tmp_path, request.param)


def test_the_unbroken_scaffold_passes(spleen):
    result = runner.invoke(app, ["check", str(spleen)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("broken, where, message",
                         [pytest.param(fn, where, msg, id=cid) for cid, fn, where, msg in CASES],
                         indirect=["broken"])
def test_check_and_train_refuse_with_the_same_line(broken, where, message, tmp_path):
    line = check_line(broken)
    assert where in line and message in line, line

    # train in its own process, as a user runs it, with a TensorFlow that cannot be
    # imported: the refusal must come before TensorFlow starts.
    train = run_verb("train", broken, "--epochs", "1",
                     env=without_tensorflow(tmp_path / "no-tf"))
    assert train.returncode == 1, train.stderr
    assert line in train.stderr, train.stderr  # same message, file and JSON path
    assert "Traceback" not in train.stderr and NO_TENSORFLOW not in train.stderr
    assert written(broken / "models") == []  # no checkpoint, summary or history


def test_the_agreement_table_covers_every_class():
    assert len({cid for cid, *_ in CASES}) == len(CASES) == 23
