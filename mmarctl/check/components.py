"""Check the components of one config against the catalogue: names, args, refs, BYOC paths.

Walks the sections of a config in the order Clara builds them (``catalog.SECTION_FAMILIES``:
train sections before validate's), so a ``ref`` may name only a component defined earlier,
by class name, ``#alias`` or BYOC ``path``, exactly as the runtime's ComponentBuilder does.
Disabled entries are skipped (the runtime skips them, and a ref cannot reach them).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from mmarctl import catalog
from mmarctl.check import byoc
from mmarctl.check.byoc_contract import byoc_problems
from mmarctl.check.byoc_source import SourceReader
from mmarctl.problems import Problem
from mmarctl.runtime.registry import split_alias
from mmarctl.variables import is_disabled

#: How a family is named in messages.
FAMILY_NOUNS = {"transforms": "transform", "networks": "network", "losses": "loss",
                "optimizers": "optimizer", "lr_policies": "lr_policy",
                "pipelines": "image pipeline", "inferers": "inferer", "metrics": "metric",
                "aux_ops": "aux_op", "handlers": "handler", "writers": "writer",
                "model_loaders": "model loader"}

_JSON_TYPES = {"string": str, "array": list, "object": dict, "boolean": bool,
               "integer": int, "number": (int, float), "null": type(None)}


class ComponentChecker:
    """Checks the components of one config file.

    Args:
        file: the config file as shown in problems.
        root: the MMAR root (where BYOC modules are looked for).
        is_unresolved: tells whether a value still holds an unresolved ``{VAR}`` (such values
            are reported once by the placeholder check, not again here).
    """

    def __init__(self, file: str, root: Path, is_unresolved=lambda value: False) -> None:
        self.file = file
        self.root = root
        self.is_unresolved = is_unresolved
        self.defined: set[str] = set()
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self.kind = "train"
        self.sources = SourceReader(root)

    def check_config(self, kind: str, data: dict) -> None:
        """Every section of ``kind`` ("train" or "validation") present in ``data``."""
        self.kind = kind
        for (section_kind, json_path), family in catalog.SECTION_FAMILIES.items():
            if section_kind != kind:
                continue
            value = _get(data, json_path)
            if value is None:
                continue
            if isinstance(value, list):
                for index, spec in enumerate(value):
                    self.check_entry(family, spec, f"{json_path}[{index}]")
            else:
                self.check_entry(family, value, json_path)
        if kind == "train":
            self.check_key_metric(data)

    def check_key_metric(self, data: dict) -> None:
        """At most one training-time validation metric may be the key metric: the one that
        chooses the best checkpoint."""
        metrics = _get(data, "validate.metrics")
        if not isinstance(metrics, list):
            return
        keys = [f"validate.metrics[{i}]" for i, spec in enumerate(metrics)
                if isinstance(spec, dict) and not is_disabled(spec.get("disabled", False))
                and isinstance(spec.get("args"), dict) and spec["args"].get("is_key_metric") is True]
        if len(keys) > 1:
            self._error("validate.metrics", f"{len(keys)} metrics have is_key_metric true "
                        f"({', '.join(keys)}); mark only the one that picks the best model")

    def check_entry(self, family: str, spec: Any, json_path: str) -> None:
        """One component entry; wrong shapes are left to the schema check."""
        if not isinstance(spec, dict) or is_disabled(spec.get("disabled", False)):
            return
        if "ref" in spec:
            self._check_ref(spec["ref"], json_path)
            if "args" in spec:
                # The runtime returns the named component as built and never reads these.
                self._error(f"{json_path}.args",
                            f"a ref reuses the component {spec['ref']!r} as built: its args "
                            "here are ignored; set them on the component it names")
            return
        name, path = spec.get("name"), spec.get("path")
        if isinstance(path, str) and path:
            reason = byoc.check_path(path, self.root)
            if reason:
                self._error(f"{json_path}.path", reason)
            elif byoc.find_module(path.rpartition(".")[0], byoc.search_dirs(self.root)):
                # The MMAR's own code: read what train would refuse in it.
                for where, message in byoc_problems(self.sources, family, path,
                                                    spec.get("args"), json_path):
                    self._error(where, message)
            self.defined.add(path)
            if isinstance(name, str) and name:
                self.defined.update(split_alias(name))
            return
        if not isinstance(name, str) or not name:
            return
        base, alias = split_alias(name)
        self.defined.update((base, alias))
        entry = catalog.load(family).get(base)
        if entry is None:
            self._unknown_name(family, base, f"{json_path}.name")
            return
        if not entry.get("runtime", False):
            self.notes.append(Problem(
                self.file, f"{json_path}.name",
                f"{base} is known to Clara but not implemented by the mmarctl runtime").as_note())
        args = spec.get("args")
        if isinstance(args, dict):
            self._check_args(base, entry, args, f"{json_path}.args")

    # -- parts ----------------------------------------------------------------------------
    def _check_ref(self, target: Any, json_path: str) -> None:
        if not isinstance(target, str) or target in self.defined:
            return
        close = difflib.get_close_matches(target, sorted(self.defined), n=1)
        hint = (f"did you mean {close[0]!r}?" if close
                else f"defined so far: {', '.join(sorted(self.defined)) or 'none'}")
        self._error(f"{json_path}.ref",
                    f"ref {target!r} names no earlier component or alias ({hint})")

    def _unknown_name(self, family: str, name: str, json_path: str) -> None:
        noun = FAMILY_NOUNS[family]
        close = difflib.get_close_matches(name, list(catalog.load(family)), n=2)
        elsewhere = catalog.find(name)
        if close:
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?"
        elif elsewhere:
            hint = f"{name} is a {FAMILY_NOUNS[elsewhere[0]]}, not a {noun}"
        else:
            hint = 'for your own class use "path": "module.Class"'
        self._error(json_path, f"unknown {noun} {name!r} ({hint})")

    def _check_args(self, name: str, entry: dict, args: dict, json_path: str) -> None:
        known: dict = entry.get("args", {})
        for key, value in args.items():
            spec = known.get(key)
            if spec is None:
                if entry.get("open_args") or key.startswith("_"):
                    continue
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = (f"did you mean {close[0]!r}?" if close
                        else f"known: {', '.join(known) or 'none'}")
                self._error(f"{json_path}.{key}", f"unknown argument {key!r} for {name} ({hint})")
            elif not self.is_unresolved(value) and not _has_type(value, spec.get("type")):
                wanted = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
                self._error(f"{json_path}.{key}",
                            f"{name}: {key} expects {' or '.join(wanted)}; Received: {key}={value!r}")
        for key, spec in known.items():
            if spec.get("required") and key not in args:
                self._error(json_path, f"{name}: missing argument {key!r}")

    def _error(self, json_path: str, message: str) -> None:
        self.problems.append(Problem(self.file, json_path, message))


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data



def _has_type(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return True
    for name in wanted if isinstance(wanted, list) else [wanted]:
        python = _JSON_TYPES.get(name)
        if python is None:
            return True  # a type this checker does not know: do not guess
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, python):
            return True
    return False
