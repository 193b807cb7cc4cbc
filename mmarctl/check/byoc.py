"""Find a BYOC ``path`` ("module.Class") on disk without importing it.

``mmarctl check`` must not import TensorFlow, and BYOC modules usually do, so the module is
located the way Python would find it (MMAR root, its custom-code folders, then ``sys.path``)
and the class is looked for among the module's top-level definitions with :mod:`ast`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from mmarctl.runtime.registry import CUSTOM_CODE_DIRS


def search_dirs(root: Path) -> list[Path]:
    """Where the runtime looks for BYOC code: the MMAR root and its custom-code folders
    (as :func:`mmarctl.runtime.registry.custom_code_on_path` puts them on ``sys.path``)."""
    return [root] + [root / name for name in CUSTOM_CODE_DIRS if (root / name).is_dir()]


def find_module(module: str, dirs: list[Path]) -> Path | None:
    """The file (or package folder) of dotted ``module`` under the first dir holding it."""
    parts = module.split(".")
    for base in dirs:
        candidate = base.joinpath(*parts)
        if candidate.with_suffix(".py").is_file():
            return candidate.with_suffix(".py")
        if (candidate / "__init__.py").is_file():
            return candidate / "__init__.py"
        if candidate.is_dir():  # a namespace package
            return candidate
    return None


def check_path(path: str, root: Path) -> str | None:
    """Why BYOC ``path`` cannot be used, or None when its module and class are found.

    Modules outside the MMAR (on ``sys.path``) are accepted once found; their contents are not
    read. A module file that cannot be parsed, or that defines no such top-level name, is an
    error unless it could create names dynamically (``import *`` or ``__getattr__``).
    """
    module, _, name = path.rpartition(".")
    if not module:
        return f"path {path!r} must be module.Class"
    local = search_dirs(root)
    found = find_module(module, local)
    if found is None:
        outside = [Path(p) for p in sys.path if p and Path(p).is_dir()]
        if find_module(module, outside) is not None:
            return None
        folders = ", ".join(["the MMAR root"] + [f"{d.name}/" for d in local[1:]])
        return (f"cannot find module {module!r} for path {path!r} (looked in {folders}; "
                f"put {module.replace('.', '/')}.py in the MMAR's custom/ folder)")
    if found.is_dir():
        return None
    shown = _display(found, root)
    try:
        tree = ast.parse(found.read_text(encoding="utf-8"), filename=str(found))
    except SyntaxError as error:
        return f"{shown}:{error.lineno}: syntax error: {error.msg}"
    except (OSError, UnicodeDecodeError) as error:
        return f"cannot read {shown}: {error}"
    names = _top_level_names(tree)
    if name in names or "*" in names or "__getattr__" in names:
        return None
    return f"module {module!r} ({shown}) defines no {name!r}"


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            # Conditional definitions (try: import X except: class X) count as defined.
            names.update(_top_level_names(ast.Module(body=_branches(node), type_ignores=[])))
    return names


def _branches(node: ast.If | ast.Try) -> list[ast.stmt]:
    body = list(node.body) + list(node.orelse)
    if isinstance(node, ast.Try):
        body += [stmt for handler in node.handlers for stmt in handler.body] + list(node.finalbody)
    return body


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
