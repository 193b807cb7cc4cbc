"""``mmarctl schema``: print the JSON Schema of an MMAR file, for editors and CI."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmarctl.commands._common import completing
from mmarctl.schemas import NAMES


def schema(
    name: Annotated[Optional[str], typer.Argument(
        autocompletion=completing(*NAMES),
        help="Schema to print: config_train, config_validation, environment or datalist.",
        show_default=False)] = None,
    list_names: Annotated[bool, typer.Option(
        "--list", help="List the schema names, one per line.")] = False,
) -> None:
    """Print the JSON Schema (draft 2020-12) of an MMAR file to stdout.

    Example: mkdir -p .vscode && mmarctl schema config_train > .vscode/config_train.schema.json
    """
    from mmarctl import schemas
    from mmarctl.errors import UsageError

    from mmarctl.console import print_out

    if list_names:
        print_out("\n".join(schemas.NAMES))
        return
    if not name:
        raise UsageError("give a schema NAME or --list",
                         hint=f"names: {', '.join(schemas.NAMES)}")
    text = schemas.schema_text(name)
    print_out(text.removesuffix("\n"))


def register(app: typer.Typer) -> None:
    """Add ``schema`` to the CLI."""
    app.command("schema")(schema)
