"""Options shared by several verbs, declared once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

MmarArgument = Annotated[
    Optional[str],
    typer.Argument(help="MMAR folder (default: $MMAR_ROOT, else the current folder).",
                   show_default=False),
]

SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", metavar="KEY=VALUE",
                 help="Override a global or environment variable, as Clara's --set does; "
                      "VALUE is read as JSON when it parses (5, false, [1,2]), else as text. "
                      "Repeatable."),
]
