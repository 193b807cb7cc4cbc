"""Every model, loss, optimizer, lr policy, aux op, metric and inferer that the real Clara 3.x
configs in ../shared/compat/clara use is built by mmarctl's runtime from its config entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from mmarctl.runtime.builder import ComponentBuilder  # noqa: E402

TRAIN_SECTIONS = {"loss": "losses", "optimizer": "optimizers", "lr_policy": "lr_policies",
                  "model": "networks", "aux_ops": "aux_ops"}
VALIDATE_SECTIONS = {"metrics": "metrics", "inferer": "inferers"}
VALIDATION_FILE_SECTIONS = {"val_metrics": "metrics", "inferer": "inferers"}


def _entries(config: dict):
    """(family, json_path, spec) of each component of the families above, BYOC left out."""
    sections = []
    if "train" in config:
        sections += [(config["train"], "train", TRAIN_SECTIONS),
                     (config.get("validate", {}), "validate", VALIDATE_SECTIONS)]
    elif "val_metrics" in config or "inferer" in config:
        sections.append((config, "", VALIDATION_FILE_SECTIONS))
    for holder, prefix, table in sections:
        for key, family in table.items():
            spec = holder.get(key)
            specs = spec if isinstance(spec, list) else [spec] if spec else []
            for index, item in enumerate(specs):
                if isinstance(item, dict) and "path" not in item and "ref" not in item:
                    where = f"{prefix}.{key}" if prefix else key
                    yield family, f"{where}[{index}]" if isinstance(spec, list) else where, item


def _clara_3x_configs(root: Path):
    for path in sorted(root.glob("*/config*/*.json")):
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # the corpus holds deliberately broken files
        if isinstance(config, dict) and ("train" in config or "val_metrics" in config):
            if "image_pipeline" in config.get("train", {}) or "val_metrics" in config:
                yield path, config


def test_every_clara_component_of_these_families_builds(clara_compat):
    built, networks = 0, {}
    for path, config in _clara_3x_configs(clara_compat):
        builder = ComponentBuilder(str(path))
        for family, json_path, spec in _entries(config):
            component = builder.build(family, spec, json_path)
            if component is None:
                continue  # "disabled": true
            built += 1
            if family == "networks":
                networks[repr(component)] = component
    assert built > 200
    assert {type(n).__name__ for n in networks.values()} >= {"Unet", "SegResnet", "SegAhnet",
                                                             "DenseNet121"}


def test_distinct_clara_networks_build_keras_models(clara_compat):
    networks = {}
    for path, config in _clara_3x_configs(clara_compat):
        builder = ComponentBuilder(str(path))
        for family, json_path, spec in _entries(config):
            if family == "networks":
                net = builder.build(family, spec, json_path)
                if net is not None:
                    networks[repr(net)] = net
    for net in networks.values():
        dims = 2 if type(net).__name__ == "DenseNet121" else getattr(net, "n_spatial_dim", 3)
        model = net.build(dims, 1)
        assert model.output_shape[-1] == net.num_classes
        assert model.count_params() > 10_000
