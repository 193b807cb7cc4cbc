"""``mmarctl clara-shim``: let Clara's own commands/*.sh (``python3 -m nvmidl.apps.*``) run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mmarctl.console import err, out

TargetOption = Annotated[Optional[Path], typer.Option(
    "--target", metavar="DIR", show_default=False,
    help="The folder of the nvmidl package (default: this environment's site-packages); "
         "a folder elsewhere must be on PYTHONPATH when Clara's scripts run.")]

shim_app = typer.Typer(
    help="Run Clara's own commands/*.sh unchanged: a small `nvmidl` package (mmarctl's, not "
         "NVIDIA's) maps nvmidl.apps.train/evaluate/export onto mmarctl's verbs.",
    no_args_is_help=True)


@shim_app.command("install")
def install(target: TargetOption = None) -> None:
    """Write the nvmidl shim into this environment (refused when a real nvmidl exists).

    Afterwards `python3 -u -m nvmidl.apps.train -m MMAR -c config/config_train.json ...`
    runs `mmarctl train`; every run says so on its first line. `pip list` shows it as
    mmarctl-nvmidl-shim; `mmarctl clara-shim uninstall` removes it.

    Example: mmarctl clara-shim install && clara_ct_seg_spleen_amp/commands/train.sh (a
    Clara MMAR's own script; the scripts mmarctl writes call mmarctl and need no shim)
    """
    from mmarctl.nvmidl_shim.installer import install as install_shim

    result = install_shim(target)
    out.print(f"installed mmarctl's nvmidl shim in {result.installed}", markup=False)
    for note in (result.pythonpath_note(), result.python3_note()):
        if note:
            err.print(f"note: {note}", markup=False)


@shim_app.command("uninstall")
def uninstall(target: TargetOption = None) -> None:
    """Remove the nvmidl shim (a real nvmidl is never touched).

    Example: mmarctl clara-shim uninstall
    """
    from mmarctl.nvmidl_shim.installer import default_target, uninstall as uninstall_shim

    removed = uninstall_shim(target)
    if removed is None:
        from mmarctl.nvmidl_shim.installer import shims_on_pythonpath

        out.print(f"no shim in {target or default_target()}: nothing to remove", markup=False)
        for elsewhere in (shims_on_pythonpath() if target is None else []):
            err.print(f"note: a shim is on PYTHONPATH in {elsewhere.parent}: "
                      f"`mmarctl clara-shim uninstall --target {elsewhere.parent}` removes it",
                      markup=False)
    else:
        out.print(f"removed {removed}", markup=False)


@shim_app.command("status")
def status(target: TargetOption = None) -> None:
    """Say where the shim is, whether a real nvmidl exists, and which python3 runs scripts.

    Example: mmarctl clara-shim status
    """
    from mmarctl.nvmidl_shim.installer import status as shim_status

    found = shim_status(target)
    if found.installed:
        out.print(f"shim: installed in {found.installed}", markup=False)
    else:
        out.print(f"shim: not installed (`mmarctl clara-shim install` writes it to "
                  f"{found.target}; one installed with --target DIR: `mmarctl clara-shim "
                  f"status --target DIR`)", markup=False)
    for path in found.real:
        out.print(f"real nvmidl: {path} (Clara's scripts run it; the shim stays out)",
                  markup=False)
    out.print(f"python3 on PATH: {found.python3 or 'none'}", markup=False)
    for note in (found.pythonpath_note(), found.python3_note()):
        if note:
            out.print(f"note: {note}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``clara-shim`` to the CLI."""
    app.add_typer(shim_app, name="clara-shim")
