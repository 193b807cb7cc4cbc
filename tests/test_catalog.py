"""The catalogue data: one file per family, every entry well formed."""

from __future__ import annotations

import pytest

from mmarctl import catalog

TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_entries_are_well_formed(family):
    entries = catalog.load(family)
    assert entries, f"{family}.json is empty"
    for name, entry in entries.items():
        where = f"{family}.json: {name}"
        assert set(entry) <= {"summary", "args", "runtime", "open_args"}, where
        assert isinstance(entry["summary"], str) and entry["summary"].strip(), where
        assert "\n" not in entry["summary"], where
        assert isinstance(entry["runtime"], bool), where
        assert isinstance(entry["args"], dict), where
        for arg, spec in entry["args"].items():
            types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            assert set(types) <= TYPES, f"{where}.{arg}"
            assert set(spec) <= {"type", "default", "required"}, f"{where}.{arg}"
            assert not ("default" in spec and spec.get("required")), f"{where}.{arg}"


@pytest.mark.parametrize("name,family", [
    ("LoadNifti", "transforms"), ("MergeBatchDims", "transforms"),
    ("ArgmaxAcrossChannels", "transforms"), ("RestoreOriginalShape", "transforms"),
    ("SegAhnet", "networks"), ("Focal", "losses"), ("NovoGrad", "optimizers"),
    ("ReducePoly", "lr_policies"), ("SegmentationKerasImagePipelineWithCache", "pipelines"),
    ("TFScanWindowInferer", "inferers"), ("ComputeAUC", "metrics"),
    ("DiceMaskedOutput", "aux_ops"), ("StatsHandler", "handlers"),
    ("WriteClassificationResult", "writers"), ("FrozenGraphModelLoader", "model_loaders"),
])
def test_find_locates_clara_names(name, family):
    found = catalog.find(name)
    assert found is not None and found[0] == family


def test_every_section_maps_to_a_family():
    assert set(catalog.SECTION_FAMILIES.values()) <= set(catalog.FAMILIES)
    assert catalog.find("NoSuchComponent") is None
    with pytest.raises(KeyError):
        catalog.load("widgets")
