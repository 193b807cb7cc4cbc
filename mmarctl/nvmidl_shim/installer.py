"""Write, remove and describe the ``nvmidl`` stand-in package (``mmarctl clara-shim``).

Why site-packages and an explicit command: Clara's scripts run ``python3 -u -m nvmidl.apps.X``
with nothing but ``set_env.sh`` around them, so ``nvmidl`` must be importable by the
``python3`` of the environment where mmarctl lives. Shipping it inside mmarctl's wheel would
put a top-level ``nvmidl`` in every environment that installs mmarctl; writing it only when
asked, after looking for a real one, never shadows Clara's package:

* a real ``nvmidl`` on ``sys.path``, in the target folder or in ``/opt/nvidia`` (where
  Clara's container keeps it and Clara's ``set_env.sh`` points PYTHONPATH) stops the install;
* every file written carries :data:`~mmarctl.nvmidl_shim.SHIM_MARKER`, and ``uninstall``
  removes only a folder that does;
* a ``.dist-info`` with a RECORD makes ``pip list`` show ``mmarctl-nvmidl-shim`` and
  ``pip uninstall mmarctl-nvmidl-shim`` remove it.

No TensorFlow here: this runs under ``mmarctl clara-shim`` and ``mmarctl check``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import mmarctl
from mmarctl.errors import MmarError, WorkspaceError
from mmarctl.nvmidl_shim import SHIM_DIST, SHIM_MARKER

#: Every module Clara's 3.x scripts start, and the shim app each one runs.
MODULES = {
    "nvmidl.apps.train": "train",
    "nvmidl.apps.evaluate": "evaluate",
    "nvmidl.apps.export": "export",
    "nvmidl.apps.automl.train": "automl",
    "nvmidl.apps.fed_learn.client.fed_local_train": "fed_learn",
    "nvmidl.apps.fed_learn.server.fed_aggregate": "fed_learn",
}

#: Where Clara's container installed nvmidl (its set_env.sh adds it to PYTHONPATH).
CLARA_LOCATIONS = ("/opt/nvidia",)

_PACKAGE_INIT = '''"""mmarctl's stand-in for Clara Train's nvmidl (not NVIDIA's code).

`python3 -m nvmidl.apps.train|evaluate|export ...` runs the matching mmarctl verb. Remove it
with `mmarctl clara-shim uninstall` (or `pip uninstall {dist}`).
"""
{marker}
MMARCTL_SHIM = "{version}"
'''

_MODULE = '''"""Clara's {module}, run by mmarctl (`mmarctl clara-shim status`)."""
{marker}
if __name__ == "__main__":
    try:
        from mmarctl.nvmidl_shim.entry import main
    except ModuleNotFoundError as missing:
        if not (missing.name or "").startswith("mmarctl"):
            raise
        raise SystemExit("error: nvmidl here is mmarctl's stand-in, but mmarctl cannot be "
                         "imported (pip install -e . in the mmarctl checkout, or "
                         "pip uninstall {dist})")
    main("{app}")
'''


@dataclass
class ShimStatus:
    """Where the shim is (or would go) and what else answers to ``nvmidl``.

    Attributes:
        target: the site-packages folder the shim is written to.
        installed: the shim's ``nvmidl`` folder there, or None.
        real: every ``nvmidl`` found that is not mmarctl's shim (Clara's own).
        python3: ``python3`` on PATH, or None.
        python3_here: whether that ``python3`` is this environment's interpreter (the one
            Clara's scripts must start for the shim to be found).
    """

    target: Path
    installed: Path | None = None
    real: list[Path] = field(default_factory=list)
    python3: str | None = None
    python3_here: bool = False

    def python3_note(self) -> str | None:
        """One line when Clara's scripts would start another ``python3``, else None."""
        if self.python3_here:
            return None
        found = self.python3 or "no python3"
        return (f"python3 on PATH is {found}, not this environment's ({Path(sys.executable).parent}):"
                " activate it (source .../bin/activate) before running commands/*.sh")


    def pythonpath_note(self) -> str | None:
        """One line when the shim's folder is not on this interpreter's ``sys.path`` (an
        ``install --target DIR``): Clara's scripts would not find it, with Python's bare
        ModuleNotFoundError."""
        if self.installed is None or _on_sys_path(self.target):
            return None
        folder = self.target.absolute()  # the line is pasted into other folders' shells
        return (f"{folder} is not on PYTHONPATH: Clara's scripts find the shim only "
                f"after export PYTHONPATH={shlex.quote(str(folder))}:$PYTHONPATH")


def _on_sys_path(folder: Path) -> bool:
    entries = [*sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    try:
        wanted = folder.resolve()
        return any(Path(entry).resolve() == wanted for entry in entries if entry)
    except OSError:
        return False


def default_target() -> Path:
    """The running interpreter's site-packages (``purelib``): the venv mmarctl lives in."""
    return Path(sysconfig.get_paths()["purelib"])


def nvmidl_locations(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Every ``nvmidl`` package or module directly inside ``paths`` (missing paths skipped)."""
    found: list[Path] = []
    for entry in dict.fromkeys(str(p) for p in paths if str(p)):
        base = Path(entry)
        if not base.is_dir():
            continue
        if (base / "nvmidl").is_dir():
            found.append(base / "nvmidl")
        found.extend(sorted(p for p in base.glob("nvmidl.*") if p.is_file()))
    return found


def is_shim(location: Path) -> bool:
    """Whether ``location`` (an ``nvmidl`` folder) is mmarctl's shim (carries the marker)."""
    init = Path(location) / "__init__.py"
    try:
        return init.is_file() and SHIM_MARKER in init.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def real_nvmidl(target: Path) -> list[Path]:
    """``nvmidl`` packages that are not the shim: in ``target``, on sys.path, in /opt/nvidia."""
    paths = [target, *(p for p in sys.path if p), *CLARA_LOCATIONS]
    return [p for p in nvmidl_locations(paths) if not is_shim(p)]


def shims_on_pythonpath() -> list[Path]:
    """mmarctl's shims in the folders ``PYTHONPATH`` names: where ``install --target DIR``
    put one that Clara's scripts find."""
    entries = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    return [p for p in nvmidl_locations(entries) if p.is_dir() and is_shim(p)]


def status(target: str | os.PathLike | None = None) -> ShimStatus:
    """Describe the shim in ``target`` (default: :func:`default_target`, else the first
    shim in a ``PYTHONPATH`` folder)."""
    folder = Path(target) if target else default_target()
    shim = folder / "nvmidl"
    if target is None and not is_shim(shim) and shims_on_pythonpath():
        shim = shims_on_pythonpath()[0]
        folder = shim.parent
    python3 = shutil.which("python3")
    here = (python3 is not None
            and Path(python3).parent.resolve() == Path(sys.executable).parent.resolve())
    return ShimStatus(target=folder, installed=shim if is_shim(shim) else None,
                      real=real_nvmidl(folder), python3=python3, python3_here=here)


def _files(version: str) -> dict[str, str]:
    """Relative path -> text of every file of the shim package."""
    files: dict[str, str] = {}
    for module, app in MODULES.items():
        parts = module.split(".")
        for depth in range(1, len(parts)):
            package = "/".join(parts[:depth]) + "/__init__.py"
            files.setdefault(package, _PACKAGE_INIT.format(marker=SHIM_MARKER, version=version,
                                                           dist=SHIM_DIST))
        files["/".join(parts) + ".py"] = _MODULE.format(module=module, app=app,
                                                         marker=SHIM_MARKER, dist=SHIM_DIST)
    return files


def _dist_info_name(version: str) -> str:
    return f"{SHIM_DIST.replace('-', '_')}-{version}.dist-info"


def _remove_dist_info(folder: Path) -> None:
    for old in folder.glob(f"{SHIM_DIST.replace('-', '_')}-*.dist-info"):
        shutil.rmtree(old, ignore_errors=True)


def install(target: str | os.PathLike | None = None) -> ShimStatus:
    """Write the shim into ``target`` (default: this environment's site-packages).

    Re-running replaces an older shim. Nothing is written when a real ``nvmidl`` exists.

    Raises:
        MmarError: a real ``nvmidl`` is installed (named), or the folder is not writable.
    """
    folder = Path(target) if target else default_target()
    found = real_nvmidl(folder)
    if found:
        raise MmarError(f"a real nvmidl is installed at {found[0]}: mmarctl's shim is not "
                        "installed over it",
                        hint="Clara's scripts keep running Clara's nvmidl; `mmarctl commands "
                             "MMAR --force` rewrites them to call mmarctl instead")
    version = mmarctl.__version__
    staging = folder / ".mmarctl-nvmidl-shim.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        files = _files(version)
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        dist_info = staging / _dist_info_name(version)
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {SHIM_DIST}\nVersion: {version}\n"
            "Summary: mmarctl's stand-in for Clara Train's nvmidl (mmarctl clara-shim)\n",
            encoding="utf-8")
        (dist_info / "INSTALLER").write_text("mmarctl\n", encoding="utf-8")
        record = [f"{rel},," for rel in files]
        record += [f"{dist_info.name}/{name},," for name in ("METADATA", "INSTALLER", "RECORD")]
        (dist_info / "RECORD").write_text("\n".join(record) + "\n", encoding="utf-8")
        if (folder / "nvmidl").exists():
            shutil.rmtree(folder / "nvmidl")  # our own older shim (real ones stopped above)
        _remove_dist_info(folder)
        os.replace(staging / "nvmidl", folder / "nvmidl")
        os.replace(dist_info, folder / dist_info.name)
    except OSError as error:
        raise WorkspaceError(f"cannot write the shim: {error.strerror}", file=folder,
                             hint="use an environment you can write to (a virtual "
                                  "environment), or --target DIR plus PYTHONPATH") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return status(folder)


def uninstall(target: str | os.PathLike | None = None) -> Path | None:
    """Remove the shim from ``target``; returns the folder removed, or None when absent.

    Raises:
        MmarError: the ``nvmidl`` there is not mmarctl's (it is left alone).
    """
    folder = Path(target) if target else default_target()
    package = folder / "nvmidl"
    if not package.exists():
        _remove_dist_info(folder)
        return None
    if not is_shim(package):
        raise MmarError(f"{package} is not mmarctl's shim: left as it is",
                        hint="it is a real nvmidl; remove it with the tool that installed it")
    shutil.rmtree(package)
    _remove_dist_info(folder)
    return package
