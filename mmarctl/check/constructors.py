"""Run every component's own constructor, as the runtime will, without TensorFlow.

The catalogue (:mod:`.components`) knows names and argument types; the constructors know
the rest (``nf_dec`` long enough for ``nf_enc``, a probability within ``[0, 1]``, two
exclusive switches ...). Rather than copy those rules, ``check`` builds each entry with the
runtime's own classes and :func:`mmarctl.runtime.registry.instantiate`, the call
``ComponentBuilder`` makes: the component modules import TensorFlow lazily
(:mod:`mmarctl.runtime.lazy`), so constructing them costs no TensorFlow, and a refusal
reads exactly as ``train`` would print it.

Not built here: BYOC ``path`` entries (user code is parsed by :mod:`.byoc`, never
imported), entries whose values still hold an unresolved ``{VAR}``, entries the catalogue
check already reported (one line per problem), and names mmarctl does not implement.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from typing import Any, Callable, Iterable

from mmarctl import catalog
from mmarctl.errors import ConfigError
from mmarctl.problems import Problem
from mmarctl.runtime import registry
from mmarctl.variables import is_disabled


class ConstructorChecker:
    """Builds the components of one config and keeps them for the data checks.

    Args:
        file: the config file as shown in problems.
        is_unresolved: whether a value still holds an unresolved placeholder.
        reported: problems found so far; an entry with one at or under its JSON path is
            not built again.
        notes: where a constructor's warnings go, each as a note at its entry's JSON path
            (``magnitude >= 1 allows factors <= 0``), in check's own format; None leaves
            them to Python's warning display.

    Attributes:
        built: JSON path of each list section / component (``train.pre_transforms``,
            ``train.model``) -> the built instance(s); None marks an entry not built.
        problems: the constructors' refusals, one per entry.
    """

    def __init__(self, file: str, is_unresolved: Callable[[Any], bool] = lambda v: False,
                 reported: Iterable[Problem] = (),
                 notes: list[Problem] | None = None) -> None:
        self.file = file
        self.notes = notes
        self.is_unresolved = is_unresolved
        self.reported = {p.json_path for p in reported if p.file == file}
        self.defined: dict[str, Any] = {}
        self.built: dict[str, Any] = {}
        self.problems: list[Problem] = []

    def check_config(self, kind: str, data: dict) -> None:
        """Build every section of ``kind`` ("train" or "validation") in Clara's order."""
        for (section_kind, json_path), family in catalog.SECTION_FAMILIES.items():
            if section_kind != kind:
                continue
            value = _get(data, json_path)
            if isinstance(value, list):
                self.built[json_path] = [self.build(family, spec, f"{json_path}[{i}]")
                                         for i, spec in enumerate(value)]
            elif value is not None:
                self.built[json_path] = self.build(family, value, json_path)

    def build(self, family: str, spec: Any, json_path: str) -> Any:
        """One entry's instance, or None when it is not built (see the module docstring)."""
        if not isinstance(spec, dict) or is_disabled(spec.get("disabled", False)):
            return None
        if "ref" in spec:
            return self.defined.get(spec["ref"]) if isinstance(spec["ref"], str) else None
        name = spec.get("name")
        if spec.get("path") or not isinstance(name, str) or not name:
            self._define(spec, None)
            return None
        base, _ = registry.split_alias(name)
        args = spec.get("args") or {}
        skip = (self._reported_under(json_path) or not isinstance(args, dict)
                or base not in registry.names(family) or _any_value(args, self.is_unresolved))
        instance = None if skip else self._instantiate(family, base, name, args, json_path)
        self._define(spec, instance)
        return instance

    def _instantiate(self, family: str, base: str, name: str, args: dict,
                     json_path: str) -> Any:
        with warnings.catch_warnings(record=self.notes is not None) as caught:
            if caught is not None:
                warnings.simplefilter("always")
            try:
                cls = registry.lookup(family, base)
                return registry.instantiate(cls, args, file=self.file, json_path=json_path,
                                            name=name)
            except ConfigError as error:
                problem = Problem.from_error(error, file=self.file)
                arg = _refused_arg(error.message, args)
                if arg is not None and problem.json_path == json_path:
                    # At the argument the message names, where an editor should jump.
                    problem = replace(problem, json_path=f"{json_path}.args.{arg}")
                self.problems.append(problem)
                return None
            finally:
                # A value the runtime accepts with a warning (train prints it too): a note.
                for warning in caught or ():
                    note = Problem(self.file, json_path, str(warning.message)).as_note()
                    if note not in self.notes:
                        self.notes.append(note)

    def _define(self, spec: dict, instance: Any) -> None:
        # Same names as ComponentBuilder: alias, class name (first wins) and BYOC path.
        name, path = spec.get("name"), spec.get("path")
        if isinstance(name, str) and name:
            base, alias = registry.split_alias(name)
            self.defined[alias] = instance
            self.defined.setdefault(base, instance)
        if isinstance(path, str) and path:
            self.defined.setdefault(path, instance)

    def _reported_under(self, json_path: str) -> bool:
        return any(p == json_path or p.startswith(json_path + ".") or
                   p.startswith(json_path + "[") for p in self.reported)


#: The argument a constructor's refusal names (argcheck.fail: "...; Received: arg=value").
_RECEIVED = re.compile(r"Received: ([A-Za-z_][A-Za-z0-9_]*)=")


def _refused_arg(message: str, args: dict) -> str | None:
    """The argument a refusal names, when the config writes it (a refused default, such as
    SegResnet's blocks_up, stays at the component)."""
    named = _RECEIVED.findall(message)
    return named[-1] if named and named[-1] in args else None


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _any_value(value: Any, test: Callable[[Any], bool]) -> bool:
    if isinstance(value, dict):
        return any(_any_value(v, test) for v in value.values())
    if isinstance(value, list):
        return any(_any_value(v, test) for v in value)
    return test(value)
