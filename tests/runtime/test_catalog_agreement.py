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


#: Arguments the catalogue marks required although the runtime class has a default, kept on
#: purpose or owned elsewhere (networks, writers, model loaders); nothing may join this list.
_REQUIRED_WITH_DEFAULT = {
    ("networks", "Unet", "num_classes"), ("networks", "SegResnet", "num_classes"),
    ("networks", "SegAhnet", "num_classes"),
    ("writers", "WriteNifti", "field"), ("writers", "WriteNifti", "write_path"),
    ("writers", "WriteClassificationResult", "field"),
    ("writers", "WriteClassificationResult", "write_path"),
    ("model_loaders", "CheckpointLoader", "checkpoint_dir"),
    ("model_loaders", "FrozenGraphModelLoader", "model_file_path"),
}


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_catalogue_requires_exactly_what_the_runtime_class_requires(family):
    # `check` refuses a config that leaves out a catalogued "required" argument: one the
    # runtime defaults (ScaleIntensityRange b_min, SymmetricPadderDiv div_int ...) must not be.
    entries = catalog.load(family)
    for name in registry.names(family):
        params = {p.name: p for p in inspect.signature(registry.lookup(family, name).__init__)
                  .parameters.values() if p.name != "self"}
        for arg, spec in entries[name].get("args", {}).items():
            if arg not in params or (family, name, arg) in _REQUIRED_WITH_DEFAULT:
                continue
            code_requires = params[arg].default is inspect.Parameter.empty
            assert bool(spec.get("required")) == code_requires, (
                f"catalog/{family}.json {name}.{arg}: required={bool(spec.get('required'))} but "
                f"the runtime class {'requires it' if code_requires else 'defaults it'}")
        for arg, param in params.items():
            if param.default is inspect.Parameter.empty and param.kind not in (
                    param.VAR_POSITIONAL, param.VAR_KEYWORD):
                assert entries[name].get("args", {}).get(arg, {}).get("required"), (
                    f"catalog/{family}.json {name}.{arg}: the runtime requires it")
