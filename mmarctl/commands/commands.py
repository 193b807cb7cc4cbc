"""``mmarctl commands MMAR``: (re)write the MMAR's commands/ scripts for mmarctl."""

from __future__ import annotations

from typing import Annotated

import typer

from mmarctl.commands._common import MmarArgument
from mmarctl.console import err, out


def commands(
    mmar: MmarArgument = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Also replace same-named scripts that mmarctl did not write "
                        "(Clara's nvmidl scripts, hand-written ones) or that were edited "
                        "since it wrote them.")] = False,
) -> None:
    """Write commands/ (set_env.sh, train*.sh, validate.sh, infer.sh, export.sh, automl.sh).

    Each script sources set_env.sh and runs one mmarctl verb on the MMAR; extra arguments
    pass through. The 2-GPU scripts double config_train.json's learning_rate.

    Example: mmarctl commands my-exp && my-exp/commands/train.sh --set epochs=5
    """
    from mmarctl.scripts import write_commands
    from mmarctl.workspace import Workspace

    workspace = Workspace.locate(mmar)
    workspace.require_clara3()  # its scripts call Clara 4's apps, which mmarctl's cannot replace
    result = write_commands(workspace.root, force=force)
    for path in result.written:
        out.print(f"wrote {path}")
    for note in result.notes:
        err.print(f"note: {note}")


def register(app: typer.Typer) -> None:
    """Add ``commands`` to the CLI."""
    app.command("commands")(commands)
