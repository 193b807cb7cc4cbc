"""Build components from config entries, honouring ``ref``, ``Name#alias``, ``disabled``
and BYOC ``path``, and reporting failures with the file and JSON path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError
from mmarctl.runtime import registry, user_code
from mmarctl.variables import is_disabled

#: Keys of a component entry that are not constructor arguments.
RESERVED_KEYS = frozenset({"name", "path", "args", "ref", "disabled", "search", "apply"})


class ComponentBuilder:
    """Builds the components of one config file; remembers them so ``ref`` can reuse them.

    Args:
        file: the config file, as shown in messages.
        root: the MMAR root, searched for BYOC modules.
    """

    def __init__(self, file: str, root: Path | None = None) -> None:
        self.file = file
        self.root = root
        self.built: dict[str, Any] = {}

    def build(self, family: str, spec: Any, json_path: str) -> Any | None:
        """One component, or None when the entry is ``"disabled": true``."""
        if not isinstance(spec, dict):
            raise ConfigError(f"expected a component object, got {type(spec).__name__}",
                              file=self.file, json_path=json_path)
        if is_disabled(spec.get("disabled", False)):
            return None
        if "ref" in spec:
            target = spec["ref"]
            if target not in self.built:
                known = ", ".join(sorted(self.built)) or "none yet"
                raise ConfigError(f"ref {target!r} names no earlier component or alias",
                                  file=self.file, json_path=json_path,
                                  hint=f"defined so far: {known}")
            return self.built[target]
        name = spec.get("name")
        path = spec.get("path")
        if path:
            cls = _located(lambda: registry.import_path(path, self.root), self.file, json_path)
            base, alias = registry.split_alias(name) if name else (path, path)
        elif isinstance(name, str):
            base, alias = registry.split_alias(name)
            cls = _located(lambda: registry.lookup(family, base), self.file, json_path)
        else:
            raise ConfigError("component needs \"name\", \"path\" or \"ref\"",
                              file=self.file, json_path=json_path)
        args = spec.get("args") or {}
        if not isinstance(args, dict):
            raise ConfigError("\"args\" must be an object", file=self.file,
                              json_path=f"{json_path}.args")
        # A BYOC entry is named by its class path in messages: "Dice" may be any user class.
        instance = registry.instantiate(cls, args, file=self.file, json_path=json_path,
                                        name=path or name, root=self.root if path else None)
        if path and self.root is not None:
            origin = user_code.Origin(path, registry.singular(family), Path(self.root),
                                      self.file, json_path)
            user_code.check_contract(family, instance, origin)
            user_code.remember(instance, origin)
        # Both the alias and the class name can be referenced; the first definition wins
        # for the class name, as in Clara's notebooks (`{"ref": "LoadNifti"}`).
        self.built[alias] = instance
        self.built.setdefault(base, instance)
        if path:
            self.built.setdefault(path, instance)
        return instance

    def build_list(self, family: str, specs: Any, json_path: str) -> list[Any]:
        """A list of components (disabled ones left out)."""
        if specs is None:
            return []
        if not isinstance(specs, list):
            raise ConfigError("expected a list of components", file=self.file,
                              json_path=json_path)
        built = (self.build(family, spec, f"{json_path}[{i}]") for i, spec in enumerate(specs))
        return [c for c in built if c is not None]



def _located(fn, file: str, json_path: str):
    try:
        return fn()
    except ConfigError as error:
        if error.file:
            raise
        raise ConfigError(error.message, file=file, json_path=json_path,
                          hint=error.hint) from error
