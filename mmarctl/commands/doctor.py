"""``mmarctl doctor``: what this machine can run (TensorFlow, GPUs, Horovod, export tools)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    install_horovod: Annotated[bool, typer.Option(
        "--install-horovod",
        help="Build (once; the wheel is cached in ~/.cache/mmarctl/wheels) and install "
             "Horovod 0.28.1 for this TensorFlow, then report. "
             "Takes minutes the first time.")] = False,
    build_kernels: Annotated[bool, typer.Option(
        "--build-kernels",
        help="Compile mmarctl's C++ CPU kernels now (cached in $MMARCTL_CACHE/kernels, "
             "default ~/.cache/mmarctl/kernels), "
             "not on a run's first use: for container images and shared clusters. "
             "About 8 s each.")] = False,
    quick: Annotated[bool, typer.Option(
        "--quick",
        help="Skip the probes that import TensorFlow and Horovod (those take seconds).")] = False,
) -> None:
    """Report TensorFlow, GPUs, mixed precision, Horovod and export tools as a table.

    Exits 0: missing pieces are rows with the command that installs them. With
    --install-horovod or --build-kernels it exits 1 if a build fails, after printing why.

    Example: mmarctl doctor (then, if it says Horovod is missing: mmarctl doctor
    --install-horovod, which builds it in a few minutes)
    """
    from rich.table import Table

    from mmarctl.console import err, out
    from mmarctl.doctor import MISSING, OK, diagnose

    if install_horovod:
        from mmarctl.install_horovod import install

        wheel = install()
        err.print(f"installed Horovod from {wheel}", highlight=False)
    if build_kernels:
        from mmarctl.doctor import build_kernels as build_all

        for name, library in build_all():
            err.print(f"kernel {name}: {library}", highlight=False)
    table = Table(title="mmarctl doctor", title_justify="left")
    for column in ("check", "state", "detail", "to fix"):
        table.add_column(column, overflow="fold")
    styles = {OK: "green", MISSING: "red"}
    for finding in diagnose(tensorflow=not quick):
        style = styles.get(finding.state, "yellow")
        table.add_row(finding.name, f"[{style}]{finding.state}[/]", finding.detail, finding.hint)
    out.print(table)
