"""The catalogue that `check` reads (data, no TensorFlow) agrees with the runtime's tables."""

from __future__ import annotations

import inspect

import pytest

from mmarctl import catalog
from mmarctl.runtime import registry


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_runtime_flag_matches_the_runtime_name_table(family):
    implemented = set(registry.names(family))
    flagged = {name for name, entry in catalog.load(family).items() if entry.get("runtime")}
    assert implemented - set(catalog.load(family)) == set(), "runtime names missing from the catalogue"
    assert flagged == implemented, (
        f"catalog/{family}.json 'runtime' flags disagree with mmarctl.runtime.{family}.NAMES: "
        f"flagged but not implemented {sorted(flagged - implemented)}, "
        f"implemented but not flagged {sorted(implemented - flagged)}")


def _accepted_arguments(cls: type) -> tuple[set[str], bool]:
    params = inspect.signature(cls.__init__).parameters.values()
    names = {p.name for p in params if p.name != "self"
             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    return names, takes_any


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_every_catalogued_argument_is_accepted_by_the_runtime_class(family):
    entries = catalog.load(family)
    for name in registry.names(family):
        cls = registry.lookup(family, name)
        accepted, takes_any = _accepted_arguments(cls)
        documented = set(entries[name].get("args", {}))
        if not takes_any:
            assert documented <= accepted, f"{name} does not accept {sorted(documented - accepted)}"
