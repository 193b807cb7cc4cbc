"""`mmarctl check` through the CLI: one small MMAR per bad input, asserting the exit code
and the key output line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl import catalog
from mmarctl.cli import app
from mmarctl.workspace import Workspace

runner = CliRunner()

TRAIN = {
    "epochs": 2,
    "num_training_epoch_per_valid": 1,
    "learning_rate": 1e-4,
    "multi_gpu": False,
    "train": {
        "loss": {"name": "Dice"},
        "optimizer": {"name": "Adam"},
        "model": {"name": "Unet", "args": {"num_classes": 2}},
        "pre_transforms": [
            {"name": "LoadNifti", "args": {"fields": ["image", "label"]}},
            {"name": "ScaleByResolution#ScaleImg",
             "args": {"fields": "image", "target_resolution": [1, 1, 1]}},
        ],
        "image_pipeline": {"name": "SegmentationImagePipeline",
                           "args": {"data_list_file_path": "{DATASET_JSON}",
                                    "data_file_base_dir": "{DATA_ROOT}",
                                    "data_list_key": "training"}},
    },
    "validate": {
        "metrics": [{"name": "ComputeAverageDice",
                     "args": {"name": "mean_dice", "is_key_metric": True}}],
        "pre_transforms": [{"ref": "LoadNifti"}, {"ref": "ScaleImg"}],
        "image_pipeline": {"name": "SegmentationImagePipeline",
                           "args": {"data_list_file_path": "{DATASET_JSON}",
                                    "data_file_base_dir": "{DATA_ROOT}",
                                    "data_list_key": "validation"}},
        "inferer": {"name": "TFSimpleInferer"},
    },
}

VALIDATION = {
    "batch_size": 1,
    "model_loader": {"name": "CheckpointLoader", "args": {"checkpoint_dir": "{MMAR_CKPT_DIR}"}},
    "inferer": {"name": "TFScanWindowInferer", "args": {"roi_size": [32, 32, 32]}},
    "pre_transforms": [{"name": "LoadNifti", "args": {"fields": "image"}}],
    "writers": [{"name": "WriteNifti", "args": {"field": "model",
                                                "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}],
}

ENV = {"DATA_ROOT": "data", "DATASET_JSON": "config/dataset_0.json",
       "MMAR_CKPT_DIR": "models", "MMAR_EVAL_OUTPUT_PATH": "eval"}


def _case(i: int) -> dict:
    return {"image": f"images/case{i}.nii.gz", "label": f"labels/case{i}.nii.gz"}


DATALIST = {"training": [_case(0), _case(1)], "validation": [_case(2)]}


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2),
                    encoding="utf-8")


def make_mmar(root: Path, *, train=TRAIN, validation=VALIDATION, env=ENV,
              datalist=DATALIST, files=True) -> Path:
    """An MMAR with every file check reads; ``None`` leaves a file out."""
    for name, data in (("config_train.json", train), ("config_validation.json", validation),
                       ("environment.json", env), ("dataset_0.json", datalist)):
        if data is not None:
            write(root / "config" / name, data)
    if files and isinstance(datalist, dict):
        for items in datalist.values():
            for item in items:
                for key in ("image", "label"):
                    if isinstance(item, dict) and isinstance(item.get(key), str):
                        write_nifti(root / "data" / item[key])
    return root


def write_nifti(path: Path) -> None:
    """A tiny valid NIfTI volume: check reads every header (mmarctl.check.images)."""
    import nibabel as nib
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), str(path))


def edited(data: dict, edit) -> dict:
    """A deep copy of ``data`` changed by ``edit(copy)``."""
    data = copy.deepcopy(data)
    edit(data)
    return data


def check(*args: str):
    return runner.invoke(app, ["check", *map(str, args)])


def problem_lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if ": note: " not in line]


# -- clean ----------------------------------------------------------------------------------
def test_clean_mmar_passes(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    result = check(root)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "OK: 4 files checked, 3 cases (training 2, validation 1), 6 data files")
    assert not [l for l in problem_lines(result) if not l.startswith("OK:")]


def test_mmar_found_from_inside_and_from_env(tmp_path, monkeypatch):
    root = make_mmar(tmp_path / "mmar")
    assert check(root / "config").exit_code == 0
    monkeypatch.setenv("MMAR_ROOT", str(root))
    assert runner.invoke(app, ["check"]).exit_code == 0


def test_not_an_mmar(tmp_path):
    result = check(tmp_path)
    assert result.exit_code == 1
    assert "not an MMAR" in result.output


def test_no_configs(tmp_path):
    (tmp_path / "mmar" / "config").mkdir(parents=True)
    result = check(tmp_path / "mmar")
    assert result.exit_code == 1
    assert "config: no config_train.json or config_validation*.json to check" in result.stdout


def test_a_missing_training_config_is_a_problem_naming_the_others(tmp_path):
    """train (and finetune, export, a checkpoint's validate) would refuse it; Clara's
    examples often ship trn_*.json instead, which --config-train checks."""
    root = make_mmar(tmp_path / "mmar", train=None)
    write(root / "config" / "trn_base.json", TRAIN)
    result = check(root)
    assert result.exit_code == 1
    assert problem_lines(result)[0] == (
        "config/config_train.json: file not found: train, finetune and export read it, and "
        "validate and infer build a checkpoint's network from it; this MMAR has "
        "trn_base.json: check and train one with --config-train")
    assert len(problem_lines(result)) == 2  # and the count
    assert check(root, "--config-train", "config/trn_base.json").exit_code == 0


def test_png_loaders_over_nifti_files_are_a_problem(tmp_path):
    """A 2-D PNG MMAR (colonoscopy, CheXpert) pointed at a NIfTI data set: train stops at
    the first case with 'not a PNG file'; check reads each file's first eight bytes."""
    def to_png(config):
        config["train"]["pre_transforms"][0] = {"name": "LoadPng#LoadNifti",
                                                "args": {"fields": ["image", "label"]}}
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, to_png), validation=None)
    result = check(root)
    assert result.exit_code == 1
    assert ("config/dataset_0.json: training: 4 of 4 files are not PNG files (LoadPng reads "
            "them): images/case0.nii.gz, labels/case0.nii.gz, images/case1.nii.gz, "
            "labels/case1.nii.gz") in problem_lines(result), result.stdout


# -- JSON and schema ------------------------------------------------------------------------
def test_malformed_json_reports_line_and_column(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    write(root / "config" / "config_train.json", '{\n  "epochs": 2,\n  "use_amp": ture\n}\n')
    result = check(root)
    assert result.exit_code == 1
    assert "config/config_train.json:3:14: invalid JSON: Expecting value" in result.stdout


def test_malformed_environment(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    write(root / "config" / "environment.json", '{"DATA_ROOT": "data",}')
    result = check(root)
    assert result.exit_code == 1
    assert "config/environment.json:1:22: invalid JSON" in result.stdout


def test_wrong_type(tmp_path):
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, lambda d: d.update(epochs="ten")))
    result = check(root)
    assert result.exit_code == 1
    assert 'config/config_train.json: epochs: expected integer, got string "ten"' \
        in problem_lines(result)


def test_unknown_key_close_to_known_gets_did_you_mean(tmp_path):
    train = edited(TRAIN, lambda d: d.update(epoch=3))
    root = make_mmar(tmp_path / "mmar", train=train)
    result = check(root)
    assert result.exit_code == 1
    assert ('config/config_train.json: epoch: unknown key "epoch" (did you mean "epochs"?)'
            in problem_lines(result))


def test_extra_and_comment_keys_are_accepted(tmp_path):
    def edit(d):
        d["train"]["__model"] = {"name": "SegAhnet"}
        d["my_own_note"] = "kept for the lab notebook"
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit))
    assert check(root).exit_code == 0


@pytest.mark.parametrize("section,key", [("$", "train"), ("train", "loss"),
                                         ("train", "model"), ("$", "validate")])
def test_missing_required_section(tmp_path, section, key):
    def edit(d):
        (d if section == "$" else d[section]).pop(key)
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit))
    result = check(root)
    assert result.exit_code == 1
    assert f'config/config_train.json: {section}: missing required key "{key}"' \
        in problem_lines(result)


def test_wrong_type_in_environment(tmp_path):
    root = make_mmar(tmp_path / "mmar", env={**ENV, "MMAR_CKPT_DIR": 5})
    result = check(root)
    assert result.exit_code == 1
    assert "config/environment.json: MMAR_CKPT_DIR: expected string, got integer 5" \
        in problem_lines(result)


@pytest.mark.parametrize("written", ["{DATA_ROOT}/dataset_0.json", "${DATA_ROOT}/dataset_0.json"])
def test_a_placeholder_inside_environment_is_named(tmp_path, written):
    """environment.json values are used as written: the data check alone said "set
    DATASET_JSON in config/environment.json", where it was set."""
    root = make_mmar(tmp_path / "mmar", env={**ENV, "DATASET_JSON": written})
    result = check(root)
    assert result.exit_code == 1
    assert (f"config/environment.json: DATASET_JSON: {written!r} holds a placeholder") in \
        result.stdout, result.stdout


def test_set_overrides_a_global_before_validation(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--set", "epochs=ten")
    assert result.exit_code == 1
    # said of --set, which gave the value: config_train.json holds a good one
    assert '--set: epochs: expected integer, got string "ten"' in problem_lines(result)
    assert not any(line.startswith("config/config_train.json: epochs")
                   for line in problem_lines(result))
    assert check(root, "--set", "epochs=5").exit_code == 0
    result = check(root, "--set", "epochs=-1", "--set", "use_amp=3")
    assert "--set: epochs: must be >= 1, got integer -1" in problem_lines(result)
    # use_amp is read by both configs: one line
    assert problem_lines(result).count("--set: use_amp: expected boolean, got integer 3") == 1


def test_set_without_equals_is_a_usage_error(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--set", "epochs")
    assert result.exit_code == 2
    assert "--set 'epochs': expected KEY=VALUE" in result.output


# -- components -----------------------------------------------------------------------------
def test_unknown_component_did_you_mean(tmp_path):
    train = edited(TRAIN, lambda d: d["train"].update(loss={"name": "Dise"}))
    result = check(make_mmar(tmp_path / "mmar", train=train))
    assert result.exit_code == 1
    assert ("config/config_train.json: train.loss.name: unknown loss 'Dise' "
            "(did you mean 'Dice'?)") in problem_lines(result)


def test_component_in_the_wrong_section(tmp_path):
    train = edited(TRAIN, lambda d: d["train"].update(loss={"name": "LoadNifti"}))
    result = check(make_mmar(tmp_path / "mmar", train=train))
    assert result.exit_code == 1
    assert ("config/config_train.json: train.loss.name: unknown loss 'LoadNifti' "
            "(LoadNifti is a transform, not a loss)") in problem_lines(result)


def test_unknown_arg_did_you_mean(tmp_path):
    def edit(d):
        d["train"]["pre_transforms"][0]["args"] = {"feilds": ["image", "label"]}
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    lines = problem_lines(result)
    assert ("config/config_train.json: train.pre_transforms[0].args.feilds: unknown argument "
            "'feilds' for LoadNifti (did you mean 'fields'?)") in lines
    assert ("config/config_train.json: train.pre_transforms[0].args: LoadNifti: missing "
            "argument 'fields'") in lines


def test_arg_of_the_wrong_type(tmp_path):
    def edit(d):
        d["train"]["model"]["args"]["num_classes"] = "two"
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert ("config/config_train.json: train.model.args.num_classes: Unet: num_classes expects "
            "integer; Received: num_classes='two'") in problem_lines(result)


def test_placeholder_arg_is_typed_after_substitution(tmp_path):
    def edit(d):
        d["train"]["model"]["args"]["num_classes"] = "{NUM_CLASSES}"
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit),
                     env={**ENV, "NUM_CLASSES": 2})
    assert check(root).exit_code == 0


def test_bad_ref(tmp_path):
    def edit(d):
        d["validate"]["pre_transforms"][1] = {"ref": "ScaleImage"}
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert ("config/config_train.json: validate.pre_transforms[1].ref: ref 'ScaleImage' names "
            "no earlier component or alias (did you mean 'ScaleImg'?)") in problem_lines(result)


def test_ref_cannot_point_forward(tmp_path):
    # train sections are built before validate's: a train ref to a validate-only name fails.
    def edit(d):
        d["validate"]["pre_transforms"].append(
            {"name": "CropSubVolumeCenter#Centre", "args": {"fields": "image", "size": [8, 8, 8]}})
        d["train"]["pre_transforms"].append({"ref": "Centre"})
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert any(line.startswith("config/config_train.json: train.pre_transforms[2].ref: ref "
                               "'Centre' names no earlier") for line in problem_lines(result))


def test_ref_to_a_disabled_component_fails(tmp_path):
    def edit(d):
        d["train"]["pre_transforms"][1]["disabled"] = True
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert any("ref 'ScaleImg' names no earlier component" in l for l in problem_lines(result))


def test_component_needs_name_path_or_ref(tmp_path):
    def edit(d):
        d["train"]["optimizer"] = {"args": {}}
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert ('config/config_train.json: train.optimizer: a component needs "name", "path" or '
            '"ref"') in problem_lines(result)


def test_automl_loss_list_is_checked_item_by_item(tmp_path):
    def edit(d):
        d["train"]["loss"] = [{"name": "Dice", "apply": {"@disabled": "l1"}},
                              {"name": "Focul", "apply": {"@disabled": "l2"}}]
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert ("config/config_train.json: train.loss[1].name: unknown loss 'Focul' "
            "(did you mean 'Focal'?)") in problem_lines(result)


def test_unimplemented_component_is_a_note_and_fails_with_strict(tmp_path, monkeypatch):
    # Pretend the runtime lacks CropSubVolumeCenter, whatever the catalogue says today.
    monkeypatch.setitem(catalog.load("transforms")["CropSubVolumeCenter"], "runtime", False)

    def edit(d):
        d["train"]["pre_transforms"].append(
            {"name": "CropSubVolumeCenter", "args": {"fields": "image", "size": [8, 8, 8]}})
        d["validate"]["pre_transforms"].append({"ref": "CropSubVolumeCenter"})
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit))
    line = ("config/config_train.json: train.pre_transforms[2].name: note: CropSubVolumeCenter "
            "is known to Clara but not implemented by the mmarctl runtime")
    result = check(root)
    assert result.exit_code == 0, result.output
    assert [l for l in result.stdout.splitlines() if "CropSubVolumeCenter" in l] == [line]
    strict = check(root, "--strict")
    assert strict.exit_code == 1
    assert line.replace("note: ", "") in strict.stdout.splitlines()


# -- placeholders ---------------------------------------------------------------------------
def test_unresolved_placeholder(tmp_path):
    def edit(d):
        d["train"]["image_pipeline"]["args"]["data_file_base_dir"] = "{DATA_ROOTT}"
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert ("config/config_train.json: train.image_pipeline.args.data_file_base_dir: "
            "unresolved placeholder {DATA_ROOTT} (did you mean {DATA_ROOT}?)") \
        in problem_lines(result)


def test_unresolved_placeholder_is_reported_once_and_set_resolves_it(tmp_path):
    def edit(d):
        d["train"]["model"]["args"]["num_classes"] = "{NUM_CLASSES}"
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit))
    result = check(root)
    assert result.exit_code == 1
    lines = [l for l in problem_lines(result) if "num_classes" in l]
    assert lines == ["config/config_train.json: train.model.args.num_classes: unresolved "
                     "placeholder {NUM_CLASSES} (define NUM_CLASSES in config/environment.json "
                     "or pass --set NUM_CLASSES=...)"]
    assert check(root, "--set", "NUM_CLASSES=2").exit_code == 0


# -- data -----------------------------------------------------------------------------------
def test_missing_data_files_listed_first_five_and_counted(tmp_path):
    datalist = {"training": [_case(i) for i in range(6)], "validation": [_case(9)]}
    root = make_mmar(tmp_path / "mmar", datalist=datalist, files=False)
    write(root / "data" / "images" / "case0.nii.gz", "")
    result = check(root)
    assert result.exit_code == 1
    lines = problem_lines(result)
    assert ("config/dataset_0.json: training: 11 of 12 files are missing under DATA_ROOT "
            f"{root / 'data'}: labels/case0.nii.gz, images/case1.nii.gz, labels/case1.nii.gz, "
            "images/case2.nii.gz, labels/case2.nii.gz and 6 more") in lines
    assert any(l.startswith("config/dataset_0.json: validation: 2 of 2 files are missing")
               for l in lines)


def test_datalist_not_found(tmp_path):
    root = make_mmar(tmp_path / "mmar", datalist=None)
    result = check(root)
    assert result.exit_code == 1
    assert any(l.startswith("config/config_train.json: train.image_pipeline.args."
                            "data_list_file_path: data-split list not found: ")
               for l in problem_lines(result))


def test_data_root_not_a_folder(tmp_path):
    root = make_mmar(tmp_path / "mmar", env={**ENV, "DATA_ROOT": "/nonexistent/data"})
    result = check(root)
    assert result.exit_code == 1
    assert any(l.startswith("config/config_train.json: train.image_pipeline.args."
                            "data_file_base_dir: DATA_ROOT is not a folder: /nonexistent/data")
               for l in problem_lines(result))


def test_datalist_without_the_key_a_pipeline_reads(tmp_path):
    root = make_mmar(tmp_path / "mmar", datalist={"training": [_case(0)]})
    result = check(root)
    assert result.exit_code == 1
    assert ("config/dataset_0.json: $: no 'validation' list (lists here: training); "
            "config/config_train.json reads 'validation'") in problem_lines(result)


def test_datalist_item_without_image(tmp_path):
    datalist = {"training": [_case(0), {"label": "labels/x.nii.gz"}], "validation": [_case(2)]}
    result = check(make_mmar(tmp_path / "mmar", datalist=datalist))
    assert result.exit_code == 1
    assert 'config/dataset_0.json: training[1]: each item needs an "image"' \
        in problem_lines(result)


def test_validation_config_uses_data_list_key(tmp_path):
    root = make_mmar(tmp_path / "mmar", train=None, env={**ENV, "DATA_LIST_KEY": "test"})
    result = check(root)
    assert result.exit_code == 1
    assert ("config/dataset_0.json: $: no 'test' list (lists here: training, validation); "
            "DATA_LIST_KEY='test' (from config/environment.json) selects it") \
        in problem_lines(result)


def test_data_list_key_from_the_command_line_is_said_to_be_from_it(tmp_path):
    root = make_mmar(tmp_path / "mmar", train=None)
    result = check(root, "--set", "DATA_LIST_KEY=test")
    assert result.exit_code == 1
    assert ("config/dataset_0.json: $: no 'test' list (lists here: training, validation); "
            "DATA_LIST_KEY='test' (from --set) selects it") in problem_lines(result)


def test_validation_config_needs_dataset_json(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "DATASET_JSON"}
    root = make_mmar(tmp_path / "mmar", train=None, env=env)
    result = check(root)
    assert result.exit_code == 1
    assert any(l.startswith("config/config_validation.json: DATASET_JSON is not set")
               for l in problem_lines(result))


def test_json_output_holds_the_findings_and_keeps_the_exit_code(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["ok"] is True and found["problems"] == []
    assert found["cases"] == {"training": 2, "validation": 1} and found["data_files"] == 6
    assert "config/config_train.json" in found["files"]
    (root / "data" / "images" / "case1.nii.gz").unlink()
    result = check(root, "--json")
    assert result.exit_code == 1
    found = json.loads(result.stdout)  # only JSON on stdout, also when it fails
    assert found["ok"] is False
    [missing] = found["problems"]
    assert missing["file"] == "config/dataset_0.json" and missing["json_path"] == "training"
    assert "images/case1.nii.gz" in missing["message"]


# -- choosing files -------------------------------------------------------------------------
def test_config_options_choose_the_files(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    write(root / "config" / "trn_other.json", edited(TRAIN, lambda d: d.update(epochs=0)))
    result = check(root, "--config-train", "config/trn_other.json")
    assert result.exit_code == 1
    assert "config/trn_other.json: epochs: must be >= 1, got integer 0" in problem_lines(result)
    result = check(root, "--config-validation", "config_validation.json")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("OK: 3 files checked, 1 case (validation 1), "
                                          "1 data file")


def test_given_config_that_does_not_exist(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--config-train", "config/nope.json")
    assert result.exit_code == 1
    assert problem_lines(result)[0].startswith(
        "config/nope.json: file not found: train, finetune and export read it")


def test_no_validation_config_says_what_to_do_in_check_and_validate(tmp_path):
    """vertebra2d and covid19 lung ship no config_validation.json: check notes it, and
    validate/infer say what config/ has and what to write (was a bare "file not found",
    and `-c config_train.json` gave `$: missing required key "model_loader"`)."""
    root = make_mmar(tmp_path / "mmar", validation=None)
    result = check(root)
    assert result.exit_code == 0, result.output
    assert ("config: note: no config_validation*.json, so validate and infer have no config "
            "to run: write config/config_validation.json from config_train.json's validate "
            "section") in result.stdout, result.stdout
    for args, line in (
            ([], "error: config/config_validation.json: file not found: validate and infer "
                 "read it; this MMAR ships no validation config: write "
                 "config/config_validation.json from config_train.json's validate section"),
            (["-c", "config_train.json"], "error: config/config_train.json: a training config, "
                                          "not a validation config")):
        done = runner.invoke(app, ["validate", str(root), *args])
        assert done.exit_code == 1 and line in done.output, done.output
    write(root / "config" / "config_validation_ckpt.json", VALIDATION)
    done = runner.invoke(app, ["infer", str(root)])
    assert "this MMAR has config_validation_ckpt.json: name one with --config" in done.output


def test_federated_learning_configs_are_named_as_not_supported(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    write(root / "config" / "config_fed_client.json", {"servers": [], "client": {}})
    result = check(root)
    assert result.exit_code == 0, result.output
    assert ("config/config_fed_client.json: note: a Clara federated-learning config: FL is "
            "not supported by mmarctl (docs/compatibility.md)") in result.stdout
    result = check(root, "--config-train", "config_fed_client.json")
    assert result.exit_code == 1
    assert problem_lines(result)[0] == (
        "config/config_fed_client.json: a Clara federated-learning config: FL is not "
        "supported by mmarctl (docs/compatibility.md)")


def test_every_validation_config_is_checked(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    write(root / "config" / "config_validation_ckpt.json",
          edited(VALIDATION, lambda d: d.update(batch_size="one")))
    result = check(root)
    assert result.exit_code == 1
    assert ('config/config_validation_ckpt.json: batch_size: expected integer, got string "one"'
            in problem_lines(result))


# -- BYOC -----------------------------------------------------------------------------------
BYOC_MODULE = '''
import tensorflow as tf  # never imported by check


class MyLoss:
    def __init__(self, w):
        self.w = w

    def __call__(self, y_true, y_pred):
        return tf.reduce_mean(y_pred) * self.w
'''


def _byoc_train(path: str) -> dict:
    return edited(TRAIN, lambda d: d["train"].update(loss={"path": path, "args": {"w": 1}}))


def test_byoc_module_in_custom_folder(tmp_path):
    root = make_mmar(tmp_path / "mmar", train=_byoc_train("my_loss.MyLoss"))
    write(root / "custom" / "my_loss.py", BYOC_MODULE)
    assert check(root).exit_code == 0


def test_byoc_module_missing(tmp_path):
    result = check(make_mmar(tmp_path / "mmar", train=_byoc_train("my_loss.MyLoss")))
    assert result.exit_code == 1
    assert any(l.startswith("config/config_train.json: train.loss.path: cannot find module "
                            "'my_loss' for path 'my_loss.MyLoss'") for l in problem_lines(result))


def test_byoc_class_missing(tmp_path):
    root = make_mmar(tmp_path / "mmar", train=_byoc_train("losses.my_loss.MyLos"))
    write(root / "losses" / "my_loss.py", BYOC_MODULE)
    result = check(root)
    assert result.exit_code == 1
    assert ("config/config_train.json: train.loss.path: module 'losses.my_loss' "
            "(losses/my_loss.py) defines no 'MyLos'") in problem_lines(result)


def test_byoc_syntax_error(tmp_path):
    root = make_mmar(tmp_path / "mmar", train=_byoc_train("my_loss.MyLoss"))
    write(root / "BYOC" / "my_loss.py", "class MyLoss(:\n    pass\n")
    result = check(root)
    assert result.exit_code == 1
    assert any(l.startswith("config/config_train.json: train.loss.path: BYOC/my_loss.py:1: "
                            "syntax error") for l in problem_lines(result))


def test_byoc_name_can_be_referenced(tmp_path):
    def edit(d):
        d["train"]["pre_transforms"].append({"name": "MyLoader", "path": "loader.MyLoader"})
        d["validate"]["pre_transforms"].append({"ref": "MyLoader"})
    root = make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit))
    write(root / "loader.py", "try:\n    from x import MyLoader\nexcept ImportError:\n"
                              "    class MyLoader:\n        pass\n")
    assert check(root).exit_code == 0


def test_byoc_path_must_be_dotted(tmp_path):
    result = check(make_mmar(tmp_path / "mmar", train=_byoc_train("MyLoss")))
    assert result.exit_code == 1
    assert ('config/config_train.json: train.loss.path: "path" must be a dotted module.Class '
            'name') in problem_lines(result)


# -- Clara 4.x ------------------------------------------------------------------------------
def test_clara4_mmar_is_recognised_in_one_line(tmp_path):
    root = tmp_path / "pt"
    write(root / "config" / "environment.json", {"CLARA_TRAIN_VERSION": "4.1.0"})
    write(root / "config" / "config_train.json", {"train": {"dataset": {}, "trainer": {}}})
    result = check(root)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{Workspace.locate(root).root}: Clara 4.x (PyTorch/MONAI) MMAR: not supported by "
        "mmarctl, which runs 3.x"]


# -- mmarctl schema -------------------------------------------------------------------------
def test_schema_prints_each_schema():
    names = runner.invoke(app, ["schema", "--list"])
    assert names.exit_code == 0
    assert names.stdout.split() == ["config_train", "config_validation", "environment",
                                    "datalist"]
    for name in names.stdout.split():
        result = runner.invoke(app, ["schema", name])
        assert result.exit_code == 0
        schema = json.loads(result.stdout)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"{name}.schema.json")


def test_schema_unknown_name_is_a_usage_error():
    result = runner.invoke(app, ["schema", "config_trian"])
    assert result.exit_code == 2
    assert "unknown schema 'config_trian' (did you mean config_train" in result.output
    assert runner.invoke(app, ["schema"]).exit_code == 2


# -- built-in scaffolds ---------------------------------------------------------------------
SCAFFOLDS = Path(__file__).resolve().parents[1] / "scaffolds"


@pytest.mark.parametrize("name", ["spleen", "classification"])
def test_scaffold_checks_clean_once_it_has_data(tmp_path, name):
    import shutil

    if not (SCAFFOLDS / name / "config").is_dir():
        pytest.skip(f"scaffolds/{name} does not exist yet")
    root = tmp_path / name
    shutil.copytree(SCAFFOLDS / name, root)
    # The scaffold's environment points at data/dataset_0.json under DATA_ROOT data/.
    if name == "classification":
        items = [{"image": f"images/case{i}.nii.gz", "label": [i % 2]}
                 for i in range(3)]
    else:
        items = [_case(i) for i in range(3)]
    datalist = {"training": items[:2], "validation": items[2:]}
    make_mmar(root, train=None, validation=None, env=None, datalist=datalist)
    if name == "classification":  # its network is 2-D: check holds the headers to that
        import nibabel as nib
        import numpy as np

        for item in items:
            nib.save(nib.Nifti1Image(np.zeros((4, 4), np.float32), np.eye(4)),
                     str(root / "data" / item["image"]))
    write(root / "data" / "dataset_0.json", datalist)
    result = check(root)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].startswith("OK: ")


def test_two_key_metrics(tmp_path):
    def edit(d):
        d["validate"]["metrics"].append(
            {"name": "ComputeAverage", "args": {"name": "acc", "field": "acc",
                                                "is_key_metric": True}})
    result = check(make_mmar(tmp_path / "mmar", train=edited(TRAIN, edit)))
    assert result.exit_code == 1
    assert ("config/config_train.json: validate.metrics: 2 metrics have is_key_metric true "
            "(validate.metrics[0], validate.metrics[1]); mark only the one that picks the best "
            "model") in problem_lines(result)


def test_set_key_that_nothing_reads_but_is_close_to_one(tmp_path):
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--set", "epoch=5")
    assert result.exit_code == 1
    assert ("--set: epoch: epoch is read by no config, so it would change nothing (did you "
            "mean epochs?)") in problem_lines(result)
    # Keys Clara scripts pass without any config naming them are fine.
    assert check(root, "--set", "MMAR_CKPT=models/model.ckpt", "--set",
                 "do_validation=true").exit_code == 0


@pytest.mark.parametrize("key, hint", [
    ("lr", "did you mean learning_rate, or the --lr option of train and finetune?"),
    ("epoch_num", "did you mean epochs, or the --epochs option?"),
    ("foo", "keys read here: DATASET_JSON, DATA_ROOT, "),
])
def test_set_key_that_nothing_reads_and_is_far_from_any(tmp_path, key, hint):
    """--set lr=0.1 trained at the config's rate without a word: no close match was no problem."""
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--set", f"{key}=0.1")
    assert result.exit_code == 1
    line = next(line for line in problem_lines(result) if line.startswith("--set"))
    assert line.startswith(f"--set: {key}: {key} is read by no config, so it would change "
                           "nothing ("), line
    assert hint in line, line


def test_set_keys_mmarctl_or_another_config_reads_are_fine(tmp_path):
    # docs/tracking.md: --set tracking=mlflow turns tracking on (it was "did you mean train?")
    root = make_mmar(tmp_path / "mmar")
    for item in ("tracking=mlflow", "tracking=none", "tracking_experiment=e",
                 "MLFLOW_TRACKING_URI=sqlite:///x.db",
                 "print_conf=True", "cudnn_benchmark=False"):  # Clara's own scripts pass these
        result = check(root, "--set", item)
        assert result.exit_code == 0, (item, result.output)
    # A key only another config of config/ reads: a script passing one --set to several verbs.
    write(root / "config" / "config_validation_test.json",
          edited(VALIDATION, lambda d: d.update(OUT_NAME="{OUT_NAME}")))
    result = runner.invoke(app, ["check", str(root), "--config-train", "config_train.json",
                                 "--set", "OUT_NAME=x"])
    assert result.exit_code == 0, result.output


def test_a_clara_runtime_key_is_named_as_such_not_a_near_miss(tmp_path):
    """--set cross_validation=true was "did you mean do_validation?": another switch."""
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--set", "cross_validation=true")
    assert result.exit_code == 1
    line = next(line for line in problem_lines(result) if line.startswith("--set"))
    assert line.startswith("--set: cross_validation: cross_validation is a Clara runtime key "
                           "mmarctl has no use for (") and "do_validation" not in line, line


def test_set_key_in_the_wrong_case(tmp_path):
    """--set EPOCHS=1 would set a variable nothing reads and train the config's epochs."""
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--set", "EPOCHS=1")
    assert result.exit_code == 1
    assert ("--set: EPOCHS: EPOCHS is read by no config (did you mean epochs? names are "
            "case-sensitive)") in problem_lines(result)


def test_environment_that_is_not_an_object(tmp_path):
    root = make_mmar(tmp_path / "mmar", env=[1, 2])
    result = check(root)
    assert result.exit_code == 1
    lines = problem_lines(result)
    assert "config/environment.json: $: expected object, got array" in lines
    # Without its environment the config's placeholders cannot resolve: counted in a note,
    # not said once each (test below)
    assert not any("unresolved placeholder {DATASET_JSON}" in line for line in lines)


@pytest.mark.parametrize("content", ["", '{"DATA_ROOT": ', "[]"])
def test_an_unreadable_environment_is_one_problem_not_its_follow_ons(tmp_path, content):
    # every {DATA_ROOT} a config reads was also "unresolved (define it in environment.json)"
    root = make_mmar(tmp_path / "mmar")
    (root / "config" / "environment.json").write_text(content)
    result = check(root)
    assert result.exit_code == 1
    lines = problem_lines(result)
    assert len(lines) == 2 and lines[0].startswith("config/environment.json"), lines
    assert lines[1].startswith("1 problem in ")
    assert "more problem" in result.stdout and "left out until it can be read" in result.stdout


def test_an_empty_data_root_is_the_datalists_folder(tmp_path):
    # Clara's DATA_ROOT "" reads the items under the datalist's folder; check skipped every
    # file of the list (OK) and train then failed on a missing file.
    root = make_mmar(tmp_path / "mmar")
    result = check(root, "--set", "DATA_ROOT=")
    assert result.exit_code == 1, result.output
    assert (f"config/dataset_0.json: training: 4 of 4 files are missing under DATA_ROOT "
            f"{root / 'config'}: images/case0.nii.gz") in result.output


def test_check_takes_a_config_path_where_the_verbs_take_it(tmp_path, monkeypatch):
    # The MMAR's own config_train.json is never taken from the current folder (the verbs
    # refuse it, so check must not pass it); a path that says where it is, is taken.
    root = make_mmar(tmp_path / "mmar", train=None)
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "config_train.json", TRAIN)
    monkeypatch.chdir(elsewhere)
    result = check(root, "-c", "config_train.json")
    assert result.exit_code == 1 and "config/config_train.json" in result.output, result.output
    result = check(root, "-c", str(elsewhere / "config_train.json"))
    assert "config/config_train.json:" not in result.output, result.output
