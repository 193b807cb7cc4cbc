"""Read a BYOC class from its source, as far as the source shows it, without importing it.

:mod:`.byoc` finds the module of a ``"path"``; this module reads what ``train`` will do with
the class in it: whether the module (or a local module it imports) imports Clara's closed
``ai4med`` library, which no mmarctl install has, and the class's members and ``__init__``
gathered through the base classes that can be read too: those defined in the MMAR's own
code and mmarctl's own classes. Whenever the source cannot tell (a base from another
library, a decorator, a metaclass, a name defined conditionally), the answer is None, so a
caller says nothing rather than guess.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

import mmarctl
from mmarctl.check import byoc

#: Libraries of Clara Train 3.x that are not published: code importing them cannot load.
CLOSED_LIBRARIES = ("ai4med",)
#: Base classes that add no members and no ``__init__`` of their own.
_EMPTY_BASES = {("builtins", "object"), ("abc", "ABC")}
_MMARCTL_DIR = Path(mmarctl.__file__).resolve().parent


@dataclass
class Module:
    """One parsed module: its dotted name, file and syntax tree."""

    name: str
    file: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.file.name == "__init__.py" else self.name.rpartition(".")[0]


@dataclass
class ClassSource:
    """What the source of a class and its bases shows.

    Attributes:
        name: the class name.
        file: its file as shown in messages; line: the line of its ``class`` statement.
        members: every name defined in the class body or a base's.
        init: the ``__init__`` the class gets (None: object's, which takes no arguments).
        init_where: ``file:line`` of that ``__init__``.
        init_known: False when which ``__init__`` applies cannot be told (several bases).
    """

    name: str
    file: str
    line: int
    members: set[str] = field(default_factory=set)
    init: ast.FunctionDef | None = None
    init_where: str = ""
    init_known: bool = True


@dataclass
class ClosedImport:
    """An import of a closed library: where it is and what it imports."""

    file: str
    line: int
    library: str


class SourceReader:
    """Parses the MMAR's BYOC modules (and mmarctl's own) once each.

    Args:
        root: the MMAR root; its custom-code folders come first, as on the runtime's path.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs = byoc.search_dirs(root)
        self._modules: dict[str, Module | None] = {}

    def module(self, name: str) -> Module | None:
        """The parsed module ``name`` from the MMAR's code or mmarctl; None otherwise."""
        if name not in self._modules:
            self._modules[name] = self._parse(name)
        return self._modules[name]

    def closed_import(self, name: str) -> ClosedImport | None:
        """The first import of a closed library that loading module ``name`` runs: in the
        module itself or in a module of the MMAR's code it imports."""
        return self._closed_import(name, set())

    def find_class(self, module: str, name: str) -> ClassSource | None:
        """``module.name`` as its source shows it, or None where the source cannot tell."""
        return self._class(module, name, depth=0)

    # -- modules ---------------------------------------------------------------------------
    def _parse(self, name: str) -> Module | None:
        path = byoc.find_module(name, self.dirs)
        if path is None and (name == "mmarctl" or name.startswith("mmarctl.")):
            path = byoc.find_module(name, [_MMARCTL_DIR.parent])
        if path is None or path.is_dir():
            return None
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, OSError, UnicodeDecodeError, ValueError):
            return None  # reported by byoc.check_path when it is the BYOC module itself
        return Module(name, path, tree)

    def _is_local(self, module: Module) -> bool:
        return not module.file.is_relative_to(_MMARCTL_DIR)

    def _closed_import(self, name: str, seen: set[str]) -> ClosedImport | None:
        if name in seen:
            return None
        seen.add(name)
        module = self.module(name)
        if module is None or not self._is_local(module):
            return None
        for node in _run_at_import(module.tree.body):
            for target in _imported_modules(node, module):
                top = target.split(".")[0]
                if top in CLOSED_LIBRARIES and not self._installed(top):
                    return ClosedImport(self._shown(module.file), node.lineno, top)
                # The packages on the way run first, then the module itself.
                parts = target.split(".")
                for depth in range(1, len(parts) + 1):
                    found = self._closed_import(".".join(parts[:depth]), seen)
                    if found is not None:
                        return found
        return None

    def _installed(self, name: str) -> bool:
        outside = [Path(p) for p in sys.path if p and Path(p).is_dir()]
        return byoc.find_module(name, self.dirs + outside) is not None

    # -- classes ---------------------------------------------------------------------------
    def _class(self, module_name: str, name: str, depth: int) -> ClassSource | None:
        module = self.module(module_name)
        if module is None or depth > 20:
            return None
        binding = _only_binding(module.tree, name)
        if isinstance(binding, ast.ImportFrom):
            source = _from_module(binding, module)
            original = next(a.name for a in binding.names if (a.asname or a.name) == name)
            return self._class(source, original, depth + 1) if source else None
        if not isinstance(binding, ast.ClassDef) or binding.decorator_list or binding.keywords:
            return None
        found = ClassSource(name, self._shown(module.file), binding.lineno)
        own = _body_names(binding.body)
        found.members |= own
        init = next((n for n in binding.body if isinstance(n, ast.FunctionDef)
                     and n.name == "__init__"), None)
        if init is not None:
            found.init, found.init_where = init, f"{found.file}:{init.lineno}"
        elif "__init__" in own:  # assigned, not defined: its signature is unknown
            found.init_known = False
        bases = []
        for expression in binding.bases:
            base = self._base(expression, module, depth)
            if base is None:
                return None
            if base != "empty":
                bases.append(base)
        for base in bases:
            found.members |= base.members
        if init is None and "__init__" not in own:
            with_init = [b for b in bases if b.init is not None or not b.init_known]
            if len(with_init) == 1:  # the only chain with an __init__ of its own
                found.init, found.init_where = with_init[0].init, with_init[0].init_where
                found.init_known = with_init[0].init_known
            elif with_init:
                found.init_known = False  # which one applies depends on the MRO
        return found

    def _base(self, expression: ast.expr, module: Module, depth: int
              ) -> ClassSource | str | None:
        """A base class: its source, "empty" (object, ABC) or None (unknown)."""
        dotted = _dotted(expression)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        binding = _only_binding(module.tree, head)
        if binding is None:
            return "empty" if dotted == "object" else None
        if not rest:
            if isinstance(binding, ast.ImportFrom):
                source = _from_module(binding, module)
                original = next(a.name for a in binding.names if (a.asname or a.name) == head)
                if (source, original) in _EMPTY_BASES:
                    return "empty"
            return self._class(module.name, head, depth + 1)
        if isinstance(binding, ast.Import):
            alias = next(a for a in binding.names if (a.asname or a.name.split(".")[0]) == head)
            base_module = alias.name if alias.asname else head
            target, _, class_name = (base_module + "." + rest if alias.asname
                                     else dotted).rpartition(".")
            if (target, class_name) in _EMPTY_BASES:
                return "empty"
            return self._class(target, class_name, depth + 1)
        return None

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _run_at_import(body: list[ast.stmt]) -> list[ast.stmt]:
    """The import statements that always run when the module loads: at the top level and
    in class bodies; not in functions, and not under ``try``/``if``, which may guard them."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.ClassDef):
            found += _run_at_import(node.body)
    return found


def _imported_modules(node: ast.stmt, module: Module) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    source = _from_module(node, module)
    if source is None:
        return []
    # `from pkg import mod` may import the submodule pkg.mod too.
    return [source] + [f"{source}.{alias.name}" for alias in node.names if alias.name != "*"]


def _from_module(node: ast.ImportFrom, module: Module) -> str | None:
    if not node.level:
        return node.module
    package = module.package.split(".") if module.package else []
    if node.level - 1 > len(package):
        return None
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else [])) or None


def _only_binding(tree: ast.Module, name: str) -> ast.stmt | None:
    """The one unconditional top-level statement that binds ``name``; None when there is
    none, several, or one under ``if``/``try`` (which one runs is not known)."""
    bindings = [node for node in tree.body if name in _bound(node)]
    conditional = any(name in _bound(inner) for node in tree.body
                      if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While))
                      for inner in ast.walk(node) if isinstance(inner, ast.stmt))
    star = any(isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
               for node in tree.body)
    if len(bindings) != 1 or conditional or star:
        return None
    return bindings[0]


def _bound(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, ast.Import):
        return {alias.asname or alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {alias.asname or alias.name for alias in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _body_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        names |= _bound(node)
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            names |= {n for inner in ast.walk(node) if isinstance(inner, ast.stmt)
                      for n in _bound(inner)}
    return names


def _dotted(expression: ast.expr) -> str | None:
    if isinstance(expression, ast.Name):
        return expression.id
    if isinstance(expression, ast.Attribute):
        head = _dotted(expression.value)
        return f"{head}.{expression.attr}" if head else None
    return None
