"""Name lookup errors read naturally and point at close names."""

from __future__ import annotations

import pytest

from mmarctl.catalog import FAMILIES
from mmarctl.errors import ConfigError
from mmarctl.runtime import registry


def test_every_family_has_a_singular_name():
    assert set(registry._SINGULAR) == set(FAMILIES)


@pytest.mark.parametrize("family, name, expected", [
    ("losses", "Dise", "unknown loss 'Dise'"),
    ("lr_policies", "ReducePolly", "unknown lr policy 'ReducePolly'"),
    ("transforms", "LoadNifty", "unknown transform 'LoadNifty'"),
])
def test_unknown_names_suggest_close_ones(family, name, expected):
    with pytest.raises(ConfigError) as info:
        registry.lookup(family, name)
    assert str(info.value).startswith(expected)
    assert "did you mean" in str(info.value)


def test_split_alias():
    assert registry.split_alias("ScaleByResolution#ScaleImg") == ("ScaleByResolution", "ScaleImg")
    assert registry.split_alias("LoadNifti") == ("LoadNifti", "LoadNifti")


def test_byoc_modules_of_two_mmars_with_the_same_name_do_not_mix(tmp_path):
    for name, cls in (("first", "Alpha"), ("second", "Beta")):
        custom = tmp_path / name / "custom"
        custom.mkdir(parents=True)
        (custom / "samename_net.py").write_text(f"class {cls}:\n    origin = {name!r}\n")
    alpha = registry.import_path("samename_net.Alpha", tmp_path / "first")
    beta = registry.import_path("samename_net.Beta", tmp_path / "second")
    assert (alpha.origin, beta.origin) == ("first", "second")
    # The same MMAR again reuses its module rather than re-importing it.
    assert registry.import_path("samename_net.Beta", tmp_path / "second") is beta
