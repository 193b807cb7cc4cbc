"""The built-in scaffolds: found where they are installed, described, and written in the
Clara 3.x vocabulary that the catalogue (and FORMAT.md, when present) knows."""

from __future__ import annotations

import configparser
import json
import logging
import logging.config
import subprocess
import sys

import pytest

import mmarctl
from mmarctl import catalog, scaffolds
from mmarctl.errors import ConfigError, UsageError, WorkspaceError

from conftest import REPO_ROOT, SHARED

FORMAT_MD = SHARED / "compat" / "FORMAT.md"
CONFIG_FILES = ("config_train.json", "config_validation.json", "environment.json")


KINDS = {"config_train.json": "train", "config_validation.json": "validation"}


def _components(config: dict, file: str):
    """Yield ``(json_path, family, name, args)`` for every component of a config file,
    using the catalogue's map of sections to families (``ref`` entries are skipped)."""
    for (kind, path), family in catalog.SECTION_FAMILIES.items():
        if kind != KINDS[file]:
            continue
        node = config
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        entries = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
        for index, entry in enumerate(entries):
            if "name" in entry:
                yield f"{path}[{index}]", family, entry["name"], entry.get("args", {})


def _load(name: str, file: str) -> dict:
    return json.loads((scaffolds.get(name).path / "config" / file).read_text())


def test_root_is_the_checkout_in_an_editable_install():
    assert scaffolds.scaffolds_root() == REPO_ROOT / "scaffolds"


def test_list_names_tasks_and_descriptions():
    listed = {s.name: s for s in scaffolds.list_scaffolds()}
    assert set(listed) >= {"spleen", "classification"}
    assert listed["spleen"].task == "segmentation"
    assert listed["classification"].task == "classification"
    for scaffold in listed.values():
        assert scaffold.description and "\n" not in scaffold.description


def test_wheel_layout_is_found_first(tmp_path, monkeypatch):
    package = tmp_path / "site" / "mmarctl"
    meta = package / "_scaffolds" / "tiny" / "scaffold.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"task": "segmentation", "description": "one line"}))
    monkeypatch.setattr(mmarctl, "__file__", str(package / "__init__.py"))
    assert scaffolds.scaffolds_root() == package / "_scaffolds"
    assert [s.name for s in scaffolds.list_scaffolds()] == ["tiny"]


def test_missing_scaffolds_is_a_workspace_error(tmp_path, monkeypatch):
    monkeypatch.setattr(mmarctl, "__file__", str(tmp_path / "pkg" / "mmarctl" / "__init__.py"))
    with pytest.raises(WorkspaceError, match="scaffolds are missing"):
        scaffolds.scaffolds_root()


def test_scaffold_json_without_description_is_a_config_error(tmp_path, monkeypatch):
    package = tmp_path / "mmarctl"
    meta = package / "_scaffolds" / "bad" / "scaffold.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"task": "segmentation"}))
    monkeypatch.setattr(mmarctl, "__file__", str(package / "__init__.py"))
    with pytest.raises(ConfigError, match="description"):
        scaffolds.list_scaffolds()


def test_unknown_scaffold_suggests_the_closest():
    with pytest.raises(UsageError) as info:
        scaffolds.get("splen")
    assert "did you mean spleen" in str(info.value)


def test_unknown_task_lists_the_tasks():
    with pytest.raises(UsageError, match="segmentation, classification"):
        scaffolds.for_task("detection")


def test_scaffold_names_are_not_paths():
    assert scaffolds.is_scaffold_name("spleen")
    assert not scaffolds.is_scaffold_name("./spleen")
    assert not scaffolds.is_scaffold_name("x/spleen")


@pytest.mark.parametrize("name", ["spleen", "classification"])
def test_layout_and_json(name):
    root = scaffolds.get(name).path
    for file in CONFIG_FILES:
        assert isinstance(json.loads((root / "config" / file).read_text()), dict)
    for extra in ("resources/log.config", "docs/Readme.md", "docs/license.txt"):
        assert (root / extra).is_file(), extra
    # Generated and run-output folders are never part of a scaffold.
    for generated in ("commands", "models", "eval"):
        assert not (root / generated).exists()


@pytest.mark.parametrize("name", ["spleen", "classification"])
def test_components_and_args_are_in_the_catalogue(name):
    seen = 0
    for file in KINDS:
        for path, family, full_name, args in _components(_load(name, file), file):
            base = full_name.partition("#")[0]
            entry = catalog.load(family).get(base)
            assert entry is not None, f"{file}: {path}: {base} is not a catalogued {family}"
            unknown = set(args) - set(entry.get("args", {}))
            assert not unknown, f"{file}: {path}: {base} does not take {sorted(unknown)}"
            seen += 1
    assert seen >= 10


@pytest.mark.parametrize("name", ["spleen", "classification"])
def test_component_names_appear_in_format_md(name):
    if not FORMAT_MD.is_file():
        pytest.skip("../shared/compat/FORMAT.md is not present")
    text = FORMAT_MD.read_text()
    for file in KINDS:
        for path, _, full_name, _ in _components(_load(name, file), file):
            assert full_name.partition("#")[0] in text, f"{file}: {path}: {full_name}"


def test_spleen_train_config_matches_the_recipe():
    config = _load("spleen", "config_train.json")
    assert config["multi_gpu"] is False and config["use_amp"] is False
    assert config["dynamic_input_shape"] is True
    assert isinstance(config["determinism"]["random_seed"], int)
    train, validate = config["train"], config["validate"]
    assert (train["loss"]["name"], train["optimizer"]["name"], train["lr_policy"]["name"]) == \
        ("Dice", "Adam", "ReducePoly")
    assert train["model"]["name"] == "Unet" and train["model"]["args"]["num_classes"] == 2
    names = [t["name"] for t in train["pre_transforms"]]
    assert names[:5] == ["LoadNifti", "ConvertToChannelsFirst", "ScaleByResolution#ScaleImg",
                         "ScaleByResolution#ScaleLb", "ScaleIntensityRange"]
    window = train["pre_transforms"][4]["args"]
    assert (window["a_min"], window["a_max"], window["clip"]) == (-57, 164, True)
    crop = next(t for t in train["pre_transforms"] if t["name"] == "FastCropByPosNegRatio")
    pipeline = train["image_pipeline"]
    assert pipeline["name"] == "SegmentationImagePipelineWithCache"
    assert pipeline["args"]["output_crop_size"] == crop["args"]["size"]
    assert validate["inferer"]["args"]["roi_size"] == crop["args"]["size"]
    assert validate["image_pipeline"]["args"]["output_crop_size"] == [-1, -1, -1]
    key = [m for m in validate["metrics"] if m["args"].get("is_key_metric")]
    assert [m["name"] for m in key] == ["ComputeAverageDice"]
    # Every ref in validate names an alias or class defined in train.
    defined = {n.partition("#")[2] or n for n in names}
    assert {r["ref"] for r in validate["pre_transforms"]} <= defined


def test_spleen_validation_config_is_flat_3x():
    config = _load("spleen", "config_validation.json")
    assert {"pre_transforms", "label_transforms", "post_transforms", "val_metrics", "writers",
            "inferer", "model_loader", "batch_size"} <= set(config)
    assert config["model_loader"] == {"name": "CheckpointLoader",
                                      "args": {"checkpoint_dir": "{MMAR_CKPT_DIR}"}}
    assert config["val_metrics"][0]["args"]["report_path"] == "{MMAR_EVAL_OUTPUT_PATH}"
    # Masks go back to the input's grid (nearest neighbour), so Dice is computed there and
    # the labels are therefore not resampled.
    assert config["post_transforms"] == [
        {"name": "ArgmaxAcrossChannels", "args": {"fields": "model"}},
        {"name": "RestoreOriginalShape",
         "args": {"field": "model", "src_field": "image", "is_label": True}}]
    assert "ScaleByResolution" not in {t["name"] for t in config["label_transforms"]}


def test_classification_uses_the_classification_family():
    config = _load("classification", "config_train.json")
    assert config["train"]["model"]["name"] == "DenseNet121"
    assert config["train"]["loss"]["name"] == "BinaryClassificationLoss"
    assert config["train"]["image_pipeline"]["name"] == "ClassificationImagePipeline"
    assert config["validate"]["metrics"][0]["name"] == "ComputeAUC"
    assert config["validate"]["metrics"][0]["args"]["is_key_metric"] is True
    validation = _load("classification", "config_validation.json")
    assert validation["writers"][0]["name"] == "WriteClassificationResult"


@pytest.mark.parametrize("name,task", [("spleen", "segmentation"),
                                       ("classification", "classification")])
def test_environment_follows_the_path_rule(name, task):
    env = _load(name, "environment.json")
    assert env["DATA_ROOT"] == "data" and env["DATASET_JSON"] == "data/dataset_0.json"
    assert env["MMAR_CKPT_DIR"] == "models" and env["MMAR_EVAL_OUTPUT_PATH"] == "eval"
    assert env["PROCESSING_TASK"] == task


@pytest.mark.parametrize("name", ["spleen", "classification"])
def test_log_config_is_a_logging_file_config(name):
    path = scaffolds.get(name).path / "resources" / "log.config"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    assert {"loggers", "handlers", "formatters"} <= set(parser.sections())
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        logging.config.fileConfig(path, disable_existing_loggers=False)
        assert root.level == logging.INFO
        assert any(isinstance(h, logging.StreamHandler) for h in root.handlers)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(saved[0])
        for handler in saved[1]:
            root.addHandler(handler)


def test_creating_workspaces_does_not_import_tensorflow():
    code = ("import sys, mmarctl.cli, mmarctl.clone, mmarctl.synth, mmarctl.scripts; "
            "sys.exit(any(m.split('.')[0] in ('tensorflow', 'keras', 'horovod') "
            "for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
