"""`check` and validate / infer / export agree on every pre-flight class (issue 12, part 1).

For each kind of mistake one of these verbs refuses before compute, a broken copy of the
spleen scaffold makes `mmarctl check` exit 1 with one problem line, and the verb, run as a
user runs it, exit 1 with that same line (file, JSON path, message), no traceback and
nothing written to eval/ or models/. The verbs run with a stand-in TensorFlow that raises
when imported: the refusal comes before TensorFlow, so a config mistake costs none.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest
from broken_mmars import (NO_TENSORFLOW, broken_copy, check_line, custom_code, datalist_file,
                          edit_json, nan_affine, rewrite_image, run_verb,
                          singular_affine, without_tensorflow, written)
from broken_mmars import spleen, with_checkpoint  # noqa: F401 - fixtures


VERBS = ("validate", "infer", "export")
EVAL = ("validate", "infer")
ALL = VERBS


@pytest.fixture(scope="module")
def no_tf(tmp_path_factory) -> dict[str, str]:
    """The environment whose TensorFlow raises when imported."""
    return without_tensorflow(tmp_path_factory.mktemp("no_tensorflow"))


def _validation(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: edit_json(root / "config" / "config_validation.json", change)


def _train(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: edit_json(root / "config" / "config_train.json", change)


def _datalist(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: edit_json(root / "data" / "dataset_0.json", change)


def _validation_file(field: str, **rewrite) -> Callable[[Path], None]:
    return lambda root: rewrite_image(datalist_file(root, "validation", 0, field), **rewrite)


def _garbage(field: str) -> Callable[[Path], None]:
    return lambda root: datalist_file(root, "validation", 0, field).write_bytes(
        b"not a NIfTI file at all" * 20)


def _amp_from_training_config(root: Path) -> None:
    # A validation config without use_amp: a checkpoint model follows config_train.json's.
    _validation(lambda c: c.pop("use_amp"))(root)
    _train(lambda c: c.update(use_amp="maybe"))(root)


_METRIC = """class FgFraction:
    def __init__(self, name="fg", field="model"):
        self.name, self.field = name, field

    def update(self, sample):
        return 0.0
"""
#: A complete metric: what validate and training's validation call.
_FULL_METRIC = _METRIC + """
    def result(self):
        return 0.0

    def reset(self):
        pass
"""
_CLARA_TRANSFORM = """import numpy as np
from ai4med.components.transforms.multi_field_transformer import MultiFieldTransformer


class Clip(MultiFieldTransformer):
    def transform(self, transform_ctx):
        return transform_ctx
"""
_CLIP = """class Clip:
    def __init__(self, fields, low, high=1.0):
        self.fields, self.low, self.high = fields, low, high

    def __call__(self, sample, rng):
        return sample
"""


def _byoc(module: str, source: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    """custom/<module>.py written from ``source``, then the validation config changed."""
    def apply(root: Path) -> None:
        custom_code(root, module, source)
        _validation(change)(root)
    return apply


def _byoc_metric(source: str, args: dict) -> Callable[[Path], None]:
    return _byoc("my_metric", source, lambda c: c["val_metrics"].append(
        {"path": "my_metric.FgFraction", "args": args}))


def _byoc_post(source: str, args: dict) -> Callable[[Path], None]:
    return _byoc("my_post", source, lambda c: c["post_transforms"].insert(
        0, {"path": "my_post.Clip", "args": args}))


VALIDATION = "config/config_validation.json"
TRAIN = "config/config_train.json"
DATA = "data/dataset_0.json: validation"

#: (class id, how to break the MMAR, the verbs that must refuse it, the file/JSON path part
#: and the message part of check's line).
CASES = [
    ("inferer-args", _validation(lambda c: c["inferer"]["args"].update(overlap=2)), EVAL,
     f"{VALIDATION}: inferer", "TFScanWindowInferer: overlap must be a number in [0, 1)"),
    ("pre-transform-args", _validation(lambda c: c["pre_transforms"][3]["args"].update(
        fields=[])), EVAL, f"{VALIDATION}: pre_transforms[3]", "ScaleIntensityRange: fields"),
    ("post-transform-args", _validation(lambda c: c["post_transforms"][0]["args"].update(
        fields=[])), EVAL, f"{VALIDATION}: post_transforms[0]", "ArgmaxAcrossChannels: fields"),
    ("label-transform-args", _validation(lambda c: c["label_transforms"][0]["args"].update(
        fields=[])), ("validate",), f"{VALIDATION}: label_transforms[0]", "LoadNifti: fields"),
    ("metric-args", _validation(lambda c: c["val_metrics"][0]["args"].update(name="")),
     ("validate",), f"{VALIDATION}: val_metrics[0]",
     "ComputeAverageDice: name must be a non-empty string"),
    ("writer-args", _validation(lambda c: c["writers"][0]["args"].update(dtype="float99")),
     ("infer",), f"{VALIDATION}: writers[0]", "WriteNifti: dtype must be one of"),
    ("model-loader-args", _validation(lambda c: c["model_loader"]["args"].update(
        checkpoint_file_prefix="")), EVAL, f"{VALIDATION}: model_loader",
     "CheckpointLoader: checkpoint_file_prefix must be a non-empty string"),
    ("global-use-amp", _validation(lambda c: c.update(use_amp="maybe")), EVAL,
     f"{VALIDATION}: use_amp", "expected boolean"),
    ("global-skip-bad-cases", _validation(lambda c: c.update(skip_bad_cases="sometimes")),
     EVAL, f"{VALIDATION}: skip_bad_cases", "expected boolean"),
    ("global-use-amp-of-training", _amp_from_training_config, EVAL, f"{TRAIN}: use_amp",
     "expected boolean"),
    ("global-dynamic-input-shape", _train(lambda c: c.update(dynamic_input_shape="yes")),
     ("export",), f"{TRAIN}: dynamic_input_shape", "expected boolean"),
    ("network-args", _train(lambda c: c["train"]["model"]["args"].update(nf_dec="64,32")),
     ALL, f"{TRAIN}: train.model", "Unet: nf_dec must be at least"),
    ("network-exclusive-args", _train(lambda c: c["train"]["model"]["args"].update(
        use_batch_norm=True)), ALL, f"{TRAIN}: train.model",
     "Unet: use_group_norm must be false when use_batch_norm is true"),
    ("network-input", _train(lambda c: c["train"]["model"].update(
        name="SegAhnet", args={"num_classes": 2, "n_spatial_dim": 2})), ALL,
     f"{TRAIN}: train.model", "SegAhnet: n_spatial_dim must be the data's spatial dimensions"),
    ("network-input-channels", _train(lambda c: c["train"]["image_pipeline"]["args"].update(
        output_image_channels=0)), ALL, f"{TRAIN}: train.image_pipeline",
     "output_image_channels must be an integer >= 1"),
    ("datalist-field", _validation(lambda c: c["pre_transforms"][0]["args"].update(
        fields=["image", "mask"])), EVAL, DATA,
     "1 of 1 items have no 'mask', which LoadNifti reads: validation[0]"),
    ("datalist-label-field", _datalist(lambda d: d["validation"][0].pop("label")),
     ("validate",), DATA, "1 of 1 items have no 'label', which LoadNifti reads: validation[0]"),
    ("header-unreadable", _garbage("image"), EVAL, DATA,
     "1 of 1 NIfTI files have no readable NIfTI header"),
    ("label-header-unreadable", _garbage("label"), ("validate",), DATA,
     "1 of 1 NIfTI files have no readable NIfTI header"),
    ("header-affine-nan", _validation_file("image", affine=nan_affine()), EVAL, DATA,
     "have an affine with NaN or infinite entries"),
    ("header-affine-singular", _validation_file("image", affine=singular_affine()), EVAL, DATA,
     "have a singular affine"),
    ("inferer-roi-divisor", _validation(lambda c: c["inferer"]["args"].update(
        roi_size=[44, 44, 44])), EVAL, f"{VALIDATION}: inferer.args.roi_size",
     "every size must be a multiple of 16, the network's size divisor; Received: "
     "[44, 44, 44] (e.g. [48, 48, 48])"),
    ("inferer-roi-axes", _validation(lambda c: c["inferer"]["args"].update(roi_size=[48, 48])),
     EVAL, f"{VALIDATION}: inferer.args.roi_size",
     f"TFScanWindowInferer: roi_size has 2 axes but the network of {TRAIN} takes 3-D images"),
    ("metric-field", _validation(lambda c: c["val_metrics"][0]["args"].update(
        label_field="lable")), ("validate",), f"{VALIDATION}: val_metrics[0].args.label_field",
     "ComputeAverageDice 'mean_dice' reads 'lable', which no transform makes and no "
     "'validation' item has (a case holds image, label, model); did you mean 'label'?"),
    ("label-transforms-missing", _validation(lambda c: c.pop("label_transforms")),
     ("validate",), f"{VALIDATION}: label_transforms",
     "validate needs labels: val_metrics[0].args.label_field (ComputeAverageDice 'mean_dice') "
     "reads 'label', which the 'validation' items name as files that no transform loads"),
    ("byoc-closed-library", _byoc_post(_CLARA_TRANSFORM, {"fields": "model"}), EVAL,
     f"{VALIDATION}: post_transforms[0].path",
     "custom/my_post.py:2: imports ai4med, Clara 3.x's closed library, which mmarctl cannot "
     "load; port Clip to mmarctl's component contract (docs/components.md)"),
    ("byoc-unknown-arg", _byoc_metric(_FULL_METRIC, {"name": "fg", "bogus_arg": 1}), ("validate",),
     f"{VALIDATION}: val_metrics[1].args.bogus_arg",
     "unknown argument 'bogus_arg' for my_metric.FgFraction (its __init__ at "
     "custom/my_metric.py:2 takes name, field)"),
    ("byoc-missing-arg", _byoc_post(_CLIP, {"fields": "model"}), EVAL,
     f"{VALIDATION}: post_transforms[0].args", "my_post.Clip: missing argument 'low' (its "
     "__init__ at custom/my_post.py:2 gives it no default)"),
    ("byoc-metric-contract", _byoc_metric(_METRIC, {"name": "fg"}), ("validate",),
     f"{VALIDATION}: val_metrics[1].path", "my_metric.FgFraction (custom/my_metric.py:1) has "
     "no result(), reset(): mmarctl calls a metric as update(sample); result(); reset() (see "
     "docs/components.md#metrics)"),
]


@pytest.fixture
def broken(spleen, tmp_path, request) -> Path:
    return broken_copy(spleen, tmp_path, request.param)


@pytest.mark.parametrize("broken, verbs, where, message",
                         [pytest.param(fn, verbs, where, msg, id=cid)
                          for cid, fn, verbs, where, msg in CASES],
                         indirect=["broken"])
def test_check_and_the_verbs_refuse_with_the_same_line_before_tensorflow(
        broken, verbs, where, message, no_tf):
    line = check_line(broken)
    assert where in line and message in line, line

    for verb in verbs:
        done = run_verb(verb, broken, env=no_tf)
        assert done.returncode == 1, (verb, done.stderr)
        assert line in done.stderr, (verb, done.stderr)  # same message, file and JSON path
        assert "Traceback" not in done.stderr and NO_TENSORFLOW not in done.stderr, \
            (verb, done.stderr)
        assert written(broken / "eval") == [] and written(broken / "models") == [], verb


@pytest.mark.parametrize("verb", VERBS)
def test_an_unbroken_mmar_gets_past_the_preflight(spleen, tmp_path, verb, no_tf):
    """The pre-flight refuses nothing check accepts: with a model there, the verb goes on to
    import TensorFlow."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    with_checkpoint(root)  # past "no model here"
    done = run_verb(verb, root, env=no_tf)
    assert done.returncode == 1
    assert NO_TENSORFLOW in done.stderr, done.stderr


def test_infer_reads_no_labels(spleen, tmp_path, no_tf):
    """A validation list without labels is refused by validate (and check), not by infer."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    with_checkpoint(root)  # past "no model here"
    _datalist(lambda d: d["validation"][0].pop("label"))(root)
    done = run_verb("infer", root, env=no_tf)
    assert NO_TENSORFLOW in done.stderr and "'label'" not in done.stderr, done.stderr


def test_infer_needs_no_label_file(spleen, tmp_path, no_tf):
    """A validation item whose label file is gone: validate and check name the file, infer
    (which reads no labels) goes on."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    with_checkpoint(root)  # past "no model here"
    label = datalist_file(root, "validation", 0, "label")
    label.unlink()
    done = run_verb("infer", root, env=no_tf)
    assert NO_TENSORFLOW in done.stderr and label.name not in done.stderr, done.stderr
    done = run_verb("validate", root, env=no_tf)
    assert done.returncode == 1 and NO_TENSORFLOW not in done.stderr, done.stderr
    assert "1 of 2 files are missing" in done.stderr and label.name in done.stderr
    assert label.name in check_line(root)


def test_infer_with_input_files_reads_no_datalist(spleen, tmp_path, no_tf):
    """``infer --input`` checks the configs, not DATASET_JSON's list."""
    root = tmp_path / "mmar"
    shutil.copytree(spleen, root)
    with_checkpoint(root)  # past "no model here"
    image = datalist_file(root, "training", 0, "image")
    _garbage("image")(root)  # the validation list's image, which --input replaces
    done = run_verb("infer", root, "--input", str(image), env=no_tf)
    assert NO_TENSORFLOW in done.stderr, done.stderr
    _validation(lambda c: c["inferer"]["args"].update(overlap=2))(root)
    done = run_verb("infer", root, "--input", str(image), env=no_tf)
    assert done.returncode == 1 and "inferer.args.overlap: TFScanWindowInferer: overlap" in done.stderr
    assert NO_TENSORFLOW not in done.stderr


@pytest.fixture(scope="module")
def clara(tmp_path_factory, spleen) -> Path:
    """The spleen MMAR with a Clara-style TF1 checkpoint (and its .meta graph) and frozen
    graph in models/, a 2-channel pair of them in .two_channels/ and mmarctl's checkpoint
    of the config's network in .tf2/ (built once, with TensorFlow)."""
    pytest.importorskip("tensorflow")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
    import tf1_artifacts

    root = tmp_path_factory.mktemp("clara") / "spleen"
    shutil.copytree(spleen, root)
    tf1_artifacts.build(root / "models", dims=3, channels=1, classes=2)
    tf1_artifacts.build(root / ".two_channels", dims=3, channels=2, classes=2)
    from mmarctl.runtime.checkpoint import save_checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.workspace import Workspace

    resolved = Workspace(root).resolve("config_train.json", {})
    save_checkpoint(root / ".tf2" / "model.ckpt",
                    build_network(resolved, root, checkpoint_follows=True)[1])
    return root


def _truncated(name: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / "models" / name
        path.write_bytes(path.read_bytes()[:300])
    return change


def _two_channel_checkpoint(root: Path) -> None:
    for path in (root / ".two_channels").glob("model.ckpt.*"):
        shutil.copy(path, root / "models" / path.name)


def _tf2_checkpoint(change: Callable[[Path], None]) -> Callable[[Path], None]:
    """mmarctl's checkpoint in place of the TF1 one, then ``change``."""
    def apply(root: Path) -> None:
        (root / "models" / "model.ckpt.meta").unlink()
        for path in (root / ".tf2").glob("model.ckpt.*"):
            shutil.copy(path, root / "models" / path.name)
        change(root)
    return apply


def _cut_data(root: Path) -> None:
    data = root / "models" / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])


FZN = ("--model", "fzn")
#: Model files the verbs read (a Clara TF1 checkpoint, a frozen graph): (class id, how to
#: break them, each verb with its arguments, the file part and the message part of the line).
MODEL_CASES = [
    ("tf1-meta-corrupt", _truncated("model.ckpt.meta"),
     [("validate",), ("infer",), ("export",)], "models/model.ckpt.meta",
     "corrupt: not a TF1 MetaGraphDef"),
    ("frozen-graph-corrupt", _truncated("model.fzn.pb"),
     [("validate", *FZN), ("infer", *FZN), ("export", "--ckpt", "models/model.fzn.pb")],
     "models/model.fzn.pb", "corrupt: not a TensorFlow GraphDef"),
    ("tf1-graph-channels", _two_channel_checkpoint,
     [("validate",), ("infer",), ("export",)], "models/model.ckpt",
     "the graph's input NV_MODEL_INPUT takes 2 channels but the training config's "
     "output_image_channels is 1"),
    ("checkpoint-other-network", _tf2_checkpoint(_train(lambda c: c["train"]["model"][
        "args"].update(num_classes=3))), [("validate",), ("infer",), ("export",)],
     "models/model.ckpt", "written for another network: it takes 1-channel 3-D input and "
     f"gives 2 classes, but {TRAIN} describes one that takes 1-channel 3-D input and gives 3 "
     "classes"),
    ("checkpoint-truncated", _tf2_checkpoint(_cut_data), [("validate",), ("infer",),
                                                          ("export",)],
     "models/model.ckpt", "truncated: model.ckpt.data-00000-of-00001 has 1000 bytes"),
]


@pytest.mark.parametrize("change, verbs, where, message",
                         [pytest.param(fn, verbs, where, msg, id=cid)
                          for cid, fn, verbs, where, msg in MODEL_CASES])
def test_check_and_the_verbs_refuse_a_model_file_with_the_same_line_before_tensorflow(
        clara, tmp_path, change, verbs, where, message, no_tf):
    root = broken_copy(clara, tmp_path, change)
    line = check_line(root)
    assert line.startswith(where) and message in line, line
    models = written(root / "models")

    for verb, *args in verbs:
        args = [str(root / a) if a.startswith("models/") else a for a in args]
        done = run_verb(verb, root, *args, env=no_tf)
        assert done.returncode == 1, (verb, args, done.stderr)
        assert line in done.stderr, (verb, args, done.stderr)
        assert "Traceback" not in done.stderr and NO_TENSORFLOW not in done.stderr, \
            (verb, args, done.stderr)
        assert written(root / "eval") == [] and written(root / "models") == models, verb


def test_a_verb_is_refused_only_the_model_file_it_reads(clara, tmp_path, no_tf):
    """A damaged model.fzn.pb stops what reads it, not validate or export from the TF1
    checkpoint (which go on to TensorFlow)."""
    root = broken_copy(clara, tmp_path, _truncated("model.fzn.pb"))
    for verb in ("validate", "export"):
        done = run_verb(verb, root, env=no_tf)
        assert NO_TENSORFLOW in done.stderr, (verb, done.stderr)


def test_the_agreement_table_covers_every_class():
    assert len({cid for cid, *_ in CASES}) == len(CASES) == 29
    # every verb is held to several classes, each class to at least one verb
    for verb in VERBS:
        assert sum(verb in verbs for _, _, verbs, *_ in CASES) >= 5, verb
    assert all(verbs and set(verbs) <= set(VERBS) for _, _, verbs, *_ in CASES)
