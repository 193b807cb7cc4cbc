"""``mmarctl compare``: clones of one experiment side by side (no TensorFlow)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def compare(
    mmars: Annotated[Optional[list[str]], typer.Argument(
        metavar="MMAR...", help="Two or more MMAR folders (clones of one experiment); one shows its own values.",
        show_default=False)] = None,
    show_all: Annotated[bool, typer.Option(
        "--all", help="Also show the config rows that are equal in every MMAR.")] = False,
    plot: Annotated[Optional[str], typer.Option(
        "--plot", metavar="FILE.png",
        help="Also draw each MMAR's validation key metric per epoch into one PNG, "
             "best epochs starred.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the rows as JSON on stdout instead of a table.")] = False,
    config_train: Annotated[str, typer.Option(
        "--config-train", metavar="FILE", help="The training config each MMAR is compared on.")]
        = "config_train.json",
) -> None:
    """Compare MMARs: config values that differ (resolved globals, components and their
    args by JSON path), then each run's best key metric and its epoch, epochs run, wall
    time, and eval/metrics.json when validate ran.

    Reads only what runs leave in models/ and eval/. An MMAR that never trained says so in
    its column; exits 1 when none has trained. An AutoML source beside its trials is read
    with its search annotations left out and its alternatives as written (its column says
    so).

    Example: mmarctl compare exp-lr1e-3 exp-lr1e-4 --plot curves.png
    """
    from mmarctl.console import err, out
    from mmarctl.report.compare import compare as build, plot as draw_plot

    comparison = build(mmars or [], config_train)
    written = draw_plot(comparison, plot) if plot else None  # fails before any output
    if as_json:
        print(json.dumps(comparison.to_json(show_all), indent=2))
    else:
        out.print(_table(comparison, show_all))
        hidden = comparison.hidden_count(show_all)
        if hidden:
            err.print(f"{hidden} config values equal in every MMAR not shown "
                      "(--all shows them)", highlight=False)
    if written is not None:
        err.print(f"validation curves: {written}", highlight=False)


def _table(comparison, show_all: bool):
    """The rich table: one column per MMAR, a section heading before each group."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"compare: {len(comparison.runs)} MMARs", title_justify="left")
    table.add_column("", overflow="fold", style="bold")
    for run in comparison.runs:
        table.add_column(escape(run.label), overflow="fold")
    section = None
    for row in comparison.rows_shown(show_all):
        if row.section != section:
            if section is not None:
                table.add_section()
            section = row.section
            table.add_row(f"[dim]{section}[/]", *[""] * len(comparison.runs))
        style = "yellow" if row.differs else ""
        values = [f"[{style}]{escape(v)}[/]" if style else escape(v) for v in row.values]
        table.add_row(escape(row.name), *values)
    return table


def register(app: typer.Typer) -> None:
    """Add ``compare`` to the CLI."""
    app.command("compare")(compare)
