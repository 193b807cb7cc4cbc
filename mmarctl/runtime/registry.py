"""Component name tables and the one resolver that turns a config entry into a class.

Each family package (``mmarctl.runtime.transforms``, ``...networks`` ...) declares
``NAMES: dict[str, str]`` mapping a Clara name to ``"module:Class"`` (module relative to the
family package). The tables import nothing heavy, so they can be listed without TensorFlow;
a class is imported only when a config uses it.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from mmarctl.catalog import FAMILIES
from mmarctl.errors import ConfigError

#: Folders of an MMAR where Clara users kept BYOC code; each is put on sys.path.
CUSTOM_CODE_DIRS = ("custom", "BYOC", "custom_models", "componets", "components")


#: How one member of a family is called in messages ("unknown loss 'Dise'").
_SINGULAR = {"transforms": "transform", "networks": "network", "losses": "loss",
             "optimizers": "optimizer", "lr_policies": "lr policy", "pipelines": "image pipeline",
             "inferers": "inferer", "metrics": "metric", "aux_ops": "aux op",
             "handlers": "handler", "writers": "writer", "model_loaders": "model loader"}


def singular(family: str) -> str:
    """How one member of ``family`` is called in messages (``losses`` -> ``loss``)."""
    return _SINGULAR.get(family, family)


def names(family: str) -> dict[str, str]:
    """The runtime name table of a family: Clara name -> ``module:Class``."""
    if family not in FAMILIES:
        raise KeyError(f"unknown component family {family!r}")
    package = importlib.import_module(f"mmarctl.runtime.{family}")
    return dict(getattr(package, "NAMES", {}))


def lookup(family: str, name: str) -> type:
    """The class implementing Clara component ``name`` of ``family``.

    Raises:
        ConfigError: the name is unknown (with close matches), or known to Clara but not
            implemented by mmarctl.
    """
    table = names(family)
    target = table.get(name)
    if target is None:
        from mmarctl import catalog

        if name in catalog.load(family):
            raise ConfigError(f"{name} is a Clara {_SINGULAR[family]} that mmarctl does not implement",
                              hint="see docs/compatibility.md, or supply it as BYOC with \"path\"")
        close = difflib.get_close_matches(name, list(table) + list(catalog.load(family)), n=3)
        hint = f"did you mean {' or '.join(dict.fromkeys(close))}?" if close else None
        raise ConfigError(f"unknown {_SINGULAR[family]} {name!r}", hint=hint)
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(f"mmarctl.runtime.{family}.{module_name}")
    return getattr(module, class_name)


def import_path(path: str, root: Path | None = None) -> type:
    """Import a BYOC class ``package.module.Class``, looking in the MMAR's custom-code folders."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ConfigError(f"path {path!r} must be module.Class")
    with custom_code_on_path(root):
        if root is not None:
            _forget_modules_from_elsewhere(module_name, Path(root))
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # any import-time failure of user code
            raise _import_failure(error, module_name, path, root) from error
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no class {class_name!r}") from None


def _import_failure(error: Exception, module_name: str, path: str,
                    root: Path | None) -> ConfigError:
    """The one-line error for a BYOC module that could not be imported.

    Three cases read differently: the module itself is not found (where to put it), it
    imports Clara's closed ``ai4med`` library (port it), or its own code fails while being
    imported (its file and line, the exception).
    """
    from mmarctl.runtime import user_code

    missing = error.name if isinstance(error, ModuleNotFoundError) else None
    if missing and missing.split(".")[0] == "ai4med":
        return ConfigError(f"cannot import {module_name!r} for path {path!r}: it imports "
                           f"{missing!r}, Clara's closed library, which mmarctl does not have",
                           hint="port the component to mmarctl's contracts: "
                                f"see {user_code.DOCS}")
    if missing and module_name.startswith(missing) and (
            len(missing) == len(module_name) or module_name[len(missing)] == "."):
        folders = ", ".join(f"{d}/" for d in CUSTOM_CODE_DIRS)
        return ConfigError(f"cannot import {module_name!r} for path {path!r}: no module "
                           f"named {missing!r}",
                           hint=f"put the module in the MMAR's custom/ folder (searched: the "
                                f"MMAR root, {folders})")
    frame = user_code.user_frame(error, Path(root)) if root is not None else None
    if frame is not None:
        return ConfigError(f"{frame[0]}:{frame[1]}: {user_code.cause_line(error)}",
                           hint=f"raised while importing {module_name!r} for path {path!r}")
    return ConfigError(f"cannot import {module_name!r} for path {path!r}: "
                       f"{user_code.cause_line(error)}")


def _forget_modules_from_elsewhere(module_name: str, root: Path) -> None:
    """Drop a cached BYOC module (and its parent packages) that another MMAR provided.

    Two MMARs may both ship ``custom/mynet.py``; in one process (tests, notebooks) the second
    must get its own file, not the module the first one left in ``sys.modules``.
    """
    root = root.resolve()
    parts = module_name.split(".")
    for depth in range(len(parts), 0, -1):
        name = ".".join(parts[:depth])
        cached = sys.modules.get(name)
        origin = getattr(cached, "__file__", None)
        if cached is None or origin is None:
            continue
        if not Path(origin).resolve().is_relative_to(root):
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]


@contextmanager
def custom_code_on_path(root: Path | None) -> Iterator[None]:
    """Temporarily put the MMAR root and its custom-code folders at the front of sys.path."""
    if root is None:
        yield
        return
    added = [str(root)] + [str(root / d) for d in CUSTOM_CODE_DIRS if (root / d).is_dir()]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def split_alias(name: str) -> tuple[str, str]:
    """``"ScaleByResolution#ScaleImg"`` -> ``("ScaleByResolution", "ScaleImg")``."""
    base, _, alias = name.partition("#")
    return base, alias or base


def instantiate(cls: type, args: dict[str, Any], *, file: str | None, json_path: str,
                name: str, root: Path | None = None) -> Any:
    """Call ``cls(**args)``; any failure becomes a ConfigError naming file, JSON path and name.

    With ``root`` (a BYOC class), an exception raised inside the MMAR's own code is named by
    its file and line.
    """
    try:
        return cls(**args)
    except ConfigError as error:
        # argcheck's messages already open with the component's name: say it once.
        named = error.message.startswith((f"{name}:", f"{split_alias(name)[0]}:"))
        raise ConfigError(error.message if named else f"{name}: {error.message}", file=file,
                          json_path=json_path, hint=error.hint) from error
    except Exception as error:
        from mmarctl.runtime import user_code

        # A failure inside the MMAR's own constructor: its file and line. A wrong keyword is
        # reported from this frame, not the user's, and keeps the listing of the args given.
        frame = user_code.user_frame(error, Path(root)) if root is not None else None
        if frame is not None:
            raise ConfigError(f"{frame[0]}:{frame[1]}: {user_code.cause_line(error)}",
                              hint=f"building {name} for {file}: {json_path}") from error
        if isinstance(error, TypeError):
            raise ConfigError(f"{name}: {error} (args given: {', '.join(sorted(args)) or 'none'})",
                              file=file, json_path=json_path) from error
        raise ConfigError(f"{name}: {error}", file=file, json_path=json_path) from error
