"""check follows the image's channels through train's and validate's chains, what the
metrics score, and train's aux ops' tags: each mistake is one line before any compute
(train used to stop at its first batch, or after a whole epoch, in validation)."""

from __future__ import annotations

from pathlib import Path

from broken_mmars import (NO_TENSORFLOW, check_line, edit_json, problem_lines, run_verb, runner,
                          without_tensorflow, written)
from broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.cli import app

EXTREME_POINTS = {"name": "AddExtremePointsChannel",
                  "args": {"image_field": "image", "label_field": "label", "sigma": 3}}


def _train_config(root: Path, change) -> None:
    edit_json(root / "config" / "config_train.json", change)


def test_channel_added_in_training_only_is_refused_by_check_and_train(mmar, tmp_path):
    def change(c):
        c["train"]["pre_transforms"].insert(5, EXTREME_POINTS)
        c["train"]["image_pipeline"]["args"]["output_image_channels"] = 2
    _train_config(mmar, change)
    line = ("config/config_train.json: validate.pre_transforms: the validation images "
            "get 1 channel(s) but the network takes 2 (train.pre_transforms[5] "
            "AddExtremePointsChannel is not in validate.pre_transforms); change the "
            "channels as train.pre_transforms does")
    # config_validation.json lacks the step too: validate's own line, beside train's.
    lines = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    assert lines[0] == line and len(lines) == 2, lines
    assert lines[1].startswith("config/config_validation.json: pre_transforms: the images get "
                               "1 channel(s) but the network takes 2"), lines
    train = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert train.returncode == 1 and line in train.stderr, train.stderr
    assert NO_TENSORFLOW not in train.stderr and written(mmar / "models") == []

    # the same transform in both chains is what an annotation MMAR does: fine
    # (config_validation.json still lacks it: its own line stays)
    _train_config(mmar, lambda c: c["validate"]["pre_transforms"].append(EXTREME_POINTS))
    lines = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    assert [line.split(":")[0] for line in lines] == ["config/config_validation.json"], lines


def test_a_chain_missing_the_channel_does_not_blame_the_files(mmar):
    """validate.pre_transforms without train's AddExtremePointsChannel, both pipelines at 2
    channels: one line at the chain, not also one at the (right) 1-channel image file."""
    def change(c):
        c["train"]["pre_transforms"].insert(5, EXTREME_POINTS)
        for section in ("train", "validate"):
            c[section]["image_pipeline"]["args"]["output_image_channels"] = 2
    _train_config(mmar, change)
    done = runner.invoke(app, ["check", str(mmar)])
    assert done.exit_code == 1 and "channel count other than" not in done.output, done.output
    lines = problem_lines(done.output)
    assert [line.split(": ")[:2] for line in lines] == [
        ["config/config_train.json", "validate.pre_transforms"],
        ["config/config_validation.json", "pre_transforms"]], lines  # each chain, no file


def test_channel_adding_transform_against_output_image_channels(mmar):
    _train_config(mmar, lambda c: c["train"]["pre_transforms"].insert(
        5, {"name": "RepeatChannel", "args": {"fields": "image", "repeat_times": 2}}))
    assert check_line(mmar) == (
        "config/config_train.json: train.image_pipeline.args.output_image_channels: the "
        "transforms give at least 2 image channels (train.pre_transforms[5] RepeatChannel), "
        "but output_image_channels is 1; set it to the channels the network should take")


def test_a_metric_scoring_the_input_image_is_refused(mmar):
    _train_config(mmar, lambda c: c["validate"]["metrics"][0]["args"].update(field="image"))
    assert check_line(mmar) == (
        "config/config_train.json: validate.metrics[0].args.field: ComputeAverageDice "
        "'mean_dice' scores 'image', the network's input; the prediction is 'model' "
        "(set \"field\": \"model\")")
    _train_config(mmar, lambda c: c["validate"]["metrics"][0]["args"].update(field="model"))
    edit_json(mmar / "config" / "config_validation.json",
              lambda c: c["val_metrics"][0]["args"].update(field="image"))
    assert check_line(mmar).startswith(
        "config/config_validation.json: val_metrics[0].args.field: ComputeAverageDice "
        "'mean_dice' scores 'image'")


def test_metric_fields_are_followed_with_aux_ops(mmar):
    def change(c):
        c["train"]["aux_ops"] = [{"name": "ComputeDice", "args": {"tag": "dice"}}]
        c["validate"]["metrics"].append(
            {"name": "ComputeAverage", "args": {"name": "avg_dice", "field": "dcie"}})
    _train_config(mmar, change)
    line = check_line(mmar)
    assert line.startswith("config/config_train.json: validate.metrics[1].args.field: "
                           "ComputeAverage 'avg_dice' reads 'dcie'"), line
    assert line.endswith("did you mean 'dice'?"), line
    _train_config(mmar, lambda c: c["validate"]["metrics"][1]["args"].update(field="dice"))
    assert runner.invoke(app, ["check", str(mmar)]).exit_code == 0


def test_dice_masked_output_tags_are_held_to_num_classes(mmar):
    """BraTS's 4 tags copied into a 2-class config: one line before any compute."""
    _train_config(mmar, lambda c: c["train"].update(aux_ops=[
        {"name": "DiceMaskedOutput", "args": {"tags": ["dice", "d1", "d2", "d3"]}}]))
    assert check_line(mmar) == (
        "config/config_train.json: train.aux_ops[0].args.tags: DiceMaskedOutput: tags must be "
        "1 name (the mean), 2 (one per scored channel) or 3 (the mean first) "
        "(train.model.args.num_classes is 2); Received: tags=['dice', 'd1', 'd2', 'd3']")
    _train_config(mmar, lambda c: c["train"]["aux_ops"][0]["args"].update(
        tags=["dice", "d1"], skip_background=True))
    assert runner.invoke(app, ["check", str(mmar)]).exit_code == 0


def test_a_bare_dice_masked_output_is_fine(mmar):
    """The default tags ["dice"] on a 2-class network: the mean, not a refusal at an
    argument the config does not write."""
    _train_config(mmar, lambda c: c["train"].update(aux_ops=[{"name": "DiceMaskedOutput"}]))
    done = runner.invoke(app, ["check", str(mmar)])
    assert done.exit_code == 0, done.output
    # One tag written as a string, which the component takes as a list of one.
    _train_config(mmar, lambda c: c["train"].update(
        aux_ops=[{"name": "DiceMaskedOutput", "args": {"tags": "dice"}}]))
    done = runner.invoke(app, ["check", str(mmar)])
    assert done.exit_code == 0, done.output
