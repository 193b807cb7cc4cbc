"""Options shared by several verbs, declared once."""

from __future__ import annotations

from typing import Annotated, Callable, Optional

import typer


def one_of(*values: str) -> Callable[[Optional[str]], Optional[str]]:
    """An option callback that holds a text value to ``values`` as it is parsed: a typo is
    a usage error (exit 2) before any MMAR is looked for, worded as every choice option's
    (``--launcher must be gloo or mpirun (got foo)``)."""
    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and value not in values:
            choices = f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else values[0]
            raise typer.BadParameter(f"must be {choices} (got {value})")
        return value
    return check


def completing(*values: str) -> Callable[[str], list[str]]:
    """A Typer ``autocompletion`` function offering ``values`` (those starting with what is
    typed)."""
    def complete(incomplete: str) -> list[str]:
        return [value for value in values if value.startswith(incomplete)]
    return complete


MmarArgument = Annotated[
    Optional[str],
    typer.Argument(metavar="MMAR",
                   help="MMAR folder (default: $MMAR_ROOT, else the current folder).",
                   show_default=False),
]

SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", metavar="KEY=VALUE",
                 help="Override a global or environment variable, as Clara's --set does; "
                      "VALUE is read as JSON when it parses (5, false, [1,2]), else as text. "
                      "Repeatable."),
]

TrackingOption = Annotated[
    Optional[str],
    typer.Option("--tracking", metavar="mlflow|none", show_default=False,
                 callback=one_of("mlflow", "none"), autocompletion=completing("mlflow", "none"),
                 help="Track the run in MLflow (mlflow) or never (none). Default: off, unless "
                      "MLFLOW_TRACKING_URI is set or the config sets `tracking` / "
                      "MLFLOW_TRACKING_URI (docs/tracking.md)."),
]

TrackingUriOption = Annotated[
    Optional[str],
    typer.Option("--tracking-uri", metavar="URI", show_default=False,
                 help="MLflow tracking server or store (http://host:5000, sqlite:///f.db); "
                      "turns tracking on. Default: $MLFLOW_TRACKING_URI, else the config's "
                      "MLFLOW_TRACKING_URI, else sqlite:///MMAR/mlruns.db."),
]

AmpOption = Annotated[
    Optional[bool],
    typer.Option("--amp/--no-amp", show_default=False,
                 help="Mixed precision on or off, over the config's use_amp: bfloat16 on a "
                      "CPU with AVX-512 BF16 or AMX, float16 with loss scaling on an NVIDIA "
                      "GPU, else float32. Checkpoints and exports stay float32. Default: "
                      "the config's use_amp (docs/training.md, Precision)."),
]
