"""What ``train`` refuses in a BYOC class, told from its source before anything is built.

For a ``"path"`` entry whose module :mod:`.byoc` found in the MMAR, three things stop a run
at build time or at the first step, and each shows in the source (read by
:mod:`.byoc_source`):

* the module, or a module of the MMAR's code it imports, imports Clara's closed ``ai4med``
  library, so the import fails;
* the entry's ``args`` do not fit the class's ``__init__`` (an argument it does not take,
  when it has no ``**kwargs``; a parameter without default that ``args`` leaves out), so
  ``cls(**args)`` raises;
* the class lacks a method mmarctl calls for its family: Clara 3.x's ``compute()``,
  ``get_predictions()`` or ``transform()`` are not what mmarctl calls.

Where the source cannot tell (a base class from another library, a decorator ...),
nothing is said.
"""

from __future__ import annotations

import ast
import difflib
from typing import Any

from mmarctl.check.byoc_source import ClassSource, SourceReader
from mmarctl.runtime.component_contracts import CALLS, CLARA_METHODS

_DOCS = {"losses": "docs/components.md#losses", "networks": "docs/components.md#networks",
         "transforms": "mmarctl/runtime/transforms/base.py",
         "metrics": "docs/components.md#metrics"}
_NOUNS = {"losses": "loss", "networks": "network", "transforms": "transform",
          "metrics": "metric"}


def byoc_problems(reader: SourceReader, family: str, path: str, args: Any,
                  json_path: str) -> list[tuple[str, str]]:
    """(JSON path, message) for each refusal of the BYOC entry at ``json_path`` whose
    ``"path"`` is ``path`` (its module already found by :func:`.byoc.check_path`)."""
    module, _, name = path.rpartition(".")
    closed = reader.closed_import(module)
    if closed is not None:
        return [(f"{json_path}.path",
                 f"{closed.file}:{closed.line}: imports {closed.library}, Clara 3.x's closed "
                 f"library, which mmarctl cannot load; port {name} to mmarctl's component "
                 "contract (docs/components.md)")]
    found = reader.find_class(module, name)
    if found is None:
        return []
    problems = _missing_methods(found, family, path, json_path)
    if isinstance(args, dict):
        problems += _argument_problems(found, path, args, json_path)
    return problems


def _missing_methods(found: ClassSource, family: str, path: str,
                     json_path: str) -> list[tuple[str, str]]:
    calls = CALLS.get(family, {})
    missing = [method for method in calls if method not in found.members]
    if not missing:
        return []
    noun = _NOUNS[family]
    shown = ", ".join(f"{m}()" if m != "__call__" else m for m in missing)
    how = "; ".join(calls[m] for m in calls) if family == "metrics" else calls[missing[0]]
    clara = CLARA_METHODS.get(family)
    instead = (f"; Clara's {clara}() is not called" if clara and clara in found.members
               else "")
    return [(f"{json_path}.path",
             f"{path} ({found.file}:{found.line}) has no {shown}: mmarctl calls a {noun} as "
             f"{how}{instead} (see {_DOCS[family]})")]


def _argument_problems(found: ClassSource, path: str, args: dict,
                       json_path: str) -> list[tuple[str, str]]:
    if not found.init_known or "__new__" in found.members:
        return []
    init = found.init
    if init is not None and init.decorator_list:
        return []
    accepted, required, open_keywords = _parameters(init)
    where = f"its __init__ at {found.init_where}"
    takes = (f"{where} takes {', '.join(accepted) or 'no arguments'}" if init
             else "it has no __init__, nor do its bases, so it takes no arguments")
    problems = []
    if not open_keywords:
        for key in args:
            if key in accepted:
                continue
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append((f"{json_path}.args.{key}",
                             f"unknown argument {key!r} for {path} ({takes}{hint})"))
    for key in required:
        if key not in args:
            problems.append((f"{json_path}.args",
                             f"{path}: missing argument {key!r} ({where} gives it no "
                             "default)"))
    return problems


def _parameters(init: ast.FunctionDef | None) -> tuple[list[str], list[str], bool]:
    """The keyword names ``__init__`` accepts, those without default, and whether it takes
    ``**kwargs``. Without ``__init__`` (object's), no argument is accepted."""
    if init is None:
        return [], [], False
    spec = init.args
    positional = spec.posonlyargs + spec.args
    defaults = [None] * (len(positional) - len(spec.defaults)) + list(spec.defaults)
    named = list(zip(positional, defaults))[1:]  # self
    # Positional-only parameters cannot be given by keyword: the runtime passes **args.
    posonly = {a.arg for a in spec.posonlyargs}
    accepted = [a.arg for a, _ in named if a.arg not in posonly]
    required = [a.arg for a, default in named if default is None]
    accepted += [a.arg for a in spec.kwonlyargs]
    required += [a.arg for a, default in zip(spec.kwonlyargs, spec.kw_defaults)
                 if default is None]
    return accepted, required, spec.kwarg is not None
