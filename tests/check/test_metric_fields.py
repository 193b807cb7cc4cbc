"""The fields validate's metrics read (``field``, ``label_field``) must be in the case: made
by a transform of the validation config, the prediction ("model"), or carried by the
validation list's items. A typo used to stop validate at its first case, after TensorFlow
had started; check and validate's pre-flight now name the metric's JSON path."""

from __future__ import annotations

from pathlib import Path

from broken_mmars import (NO_TENSORFLOW, edit_json, problem_lines, run_verb, runner,
                          without_tensorflow)
from broken_mmars import mmar, spleen, with_checkpoint  # noqa: F401 - fixtures

from mmarctl.check.case_fields import FIELD_MAKING_ARGS
from mmarctl.cli import app

VALIDATION = "config/config_validation.json"


def _validation(root: Path, change) -> None:
    edit_json(root / "config" / "config_validation.json", change)


def _lines(root: Path) -> list[str]:
    return problem_lines(runner.invoke(app, ["check", str(root)]).output)


def _split_prediction(config: dict) -> None:
    """Clara's per-class Dice: the argmaxed prediction split into one field per class."""
    config["post_transforms"].append({"name": "SplitBasedOnLabel", "args": {
        "field": "model", "label_names": ["pred_class0", "pred_class1"]}})
    config["val_metrics"][0]["args"].update(field="pred_class1")


def test_a_typo_in_the_prediction_field(mmar):
    _validation(mmar, lambda c: c["val_metrics"][0]["args"].update(field="modle"))
    assert _lines(mmar) == [
        f"{VALIDATION}: val_metrics[0].args.field: ComputeAverageDice 'mean_dice' reads "
        "'modle', which no transform makes and no 'validation' item has (a case holds image, "
        "label, model); did you mean 'model'?"]


def test_fields_a_transform_makes_are_in_the_case(mmar):
    _validation(mmar, _split_prediction)
    assert _lines(mmar) == []
    _validation(mmar, lambda c: c["val_metrics"][0]["args"].update(field="pred_clas1"))
    line, = _lines(mmar)
    assert "reads 'pred_clas1'" in line and "pred_class0, pred_class1" in line, line
    assert line.endswith("did you mean 'pred_class1'?"), line


def test_a_disabled_transform_makes_nothing(mmar):
    def change(config: dict) -> None:
        _split_prediction(config)
        config["post_transforms"][-1]["disabled"] = True
    _validation(mmar, change)
    line, = _lines(mmar)
    assert "val_metrics[0].args.field" in line and "reads 'pred_class1'" in line, line


def test_a_byoc_transform_may_make_any_field(mmar):
    """User code is never imported by check: what it makes is unknown, so nothing is said."""
    (mmar / "custom").mkdir()
    (mmar / "custom" / "split.py").write_text(
        "class Split:\n    def __init__(self, field):\n        self.field = field\n")
    def change(config: dict) -> None:
        config["post_transforms"].append({"path": "split.Split", "args": {"field": "model"}})
        config["val_metrics"][0]["args"].update(field="pred_class1")
    _validation(mmar, change)
    assert not [line for line in _lines(mmar) if "val_metrics" in line]


def test_a_value_the_items_carry_is_in_the_case(mmar):
    """A number in the validation list's items (a class label, a score) needs no loader."""
    edit_json(mmar / "data" / "dataset_0.json",
              lambda d: [item.update(weight=1.0) for item in d["validation"]])
    _validation(mmar, lambda c: c["val_metrics"].append(
        {"name": "ComputeAverage", "args": {"name": "mean_weight", "field": "weight"}}))
    assert _lines(mmar) == []


def test_metrics_reading_one_missing_field_make_one_line(mmar):
    def change(config: dict) -> None:
        config["val_metrics"][0]["args"].update(label_field="mask")
        config["val_metrics"].append({"name": "ComputeAverageDice",
                                      "args": {"name": "dice2", "label_field": "mask"}})
    _validation(mmar, change)
    line, = _lines(mmar)
    assert line.startswith(f"{VALIDATION}: val_metrics[0].args.label_field: ComputeAverageDice "
                           "'mean_dice' (and 1 more metric) reads 'mask'"), line


NEEDS_LABELS = (f"{VALIDATION}: label_transforms: validate needs labels: "
                "val_metrics[0].args.label_field (ComputeAverageDice 'mean_dice') reads "
                "'label', which the 'validation' items name as files that no transform loads; "
                "load it in label_transforms (e.g. LoadNifti with fields 'label')")


def test_a_label_no_transform_loads_is_only_a_file_name(mmar, tmp_path):
    """label_transforms deleted: the metric would score the label's file name."""
    with_checkpoint(mmar)
    _validation(mmar, lambda c: c.pop("label_transforms"))
    assert _lines(mmar) == [NEEDS_LABELS]
    done = run_verb("validate", mmar, env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and NEEDS_LABELS in done.stderr, done.stderr
    assert NO_TENSORFLOW not in done.stderr
    done = run_verb("infer", mmar, env=without_tensorflow(tmp_path / "no-tf"))
    assert NO_TENSORFLOW in done.stderr, done.stderr  # infer reads no labels


def test_a_transform_that_only_changes_the_label_does_not_load_it(mmar):
    _validation(mmar, lambda c: c["label_transforms"].pop(0))  # LoadNifti; channels stay
    assert _lines(mmar) == [NEEDS_LABELS]


def test_the_label_may_be_loaded_with_the_image(mmar):
    """pre_transforms that load the label too need no label_transforms; taking the label out
    of their loader takes it out of the case."""
    def load_both(config: dict) -> None:
        config.pop("label_transforms")
        for step in config["pre_transforms"][:2]:
            step["args"]["fields"] = ["image", "label"]
    _validation(mmar, load_both)
    assert _lines(mmar) == []
    _validation(mmar, lambda c: c["pre_transforms"][0]["args"].update(fields=["image"]))
    assert _lines(mmar) == [NEEDS_LABELS]


def test_infer_runs_no_metric(mmar, tmp_path):
    with_checkpoint(mmar)
    _validation(mmar, lambda c: c["val_metrics"][0]["args"].update(label_field="lable"))
    done = run_verb("infer", mmar, env=without_tensorflow(tmp_path / "no-tf"))
    assert NO_TENSORFLOW in done.stderr and "lable" not in done.stderr, done.stderr


def test_the_field_making_args_are_what_the_runtime_transforms_keep():
    """metric_reads reads each FIELD_MAKING_ARGS name off the built transform: every one must
    be the attribute under which a runtime transform keeps the fields it makes."""
    from mmarctl.check.case_fields import _made_by
    from mmarctl.runtime.transforms.extreme_points import AddExtremePointsChannel
    from mmarctl.runtime.transforms.labels import SplitAcrossChannels, SplitBasedOnLabel

    steps = [SplitBasedOnLabel("model", ["a", "b"]), SplitAcrossChannels("label", ["c"]),
             AddExtremePointsChannel(points_channel_field="d")]
    assert set().union(*map(_made_by, steps)) == {"a", "b", "c", "d"}
    assert {arg for step in steps for arg in FIELD_MAKING_ARGS
            if getattr(step, arg, None)} == set(FIELD_MAKING_ARGS)


def test_one_quoted_number_among_class_labels_is_not_a_file_name():
    """A classification list whose labels are numbers, with one written as "0": that
    item's own problem (the data check names it), not "load it with LoadNifti"."""
    from mmarctl.check.case_fields import MetricRead, metric_field_problems

    read = MetricRead(field="label", metric="ComputeAUC 'auc'",
                      json_path="val_metrics[0].args.label_field", load_in="label_transforms")
    items = [{"image": "a.nii.gz", "label": [1]}, {"image": "b.nii.gz", "label": ["0"]},
             {"image": "c.nii.gz", "label": 0}]
    assert metric_field_problems((read,), ("image", "model"), items, "validation",
                                 VALIDATION) == []
    # Quoted numbers only are not file names either; real names still are.
    assert metric_field_problems((read,), ("image",), [{"label": "1"}], "validation",
                                 VALIDATION) == []
    named = metric_field_problems((read,), ("image",), [{"label": "labels/a.nii.gz"}],
                                  "validation", VALIDATION)
    assert [p.json_path for p in named] == ["label_transforms"]
