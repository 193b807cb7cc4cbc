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
    time, and eval/metrics.json when validate ran (a damaged one is "unreadable", one about
    an earlier model "stale", each with a warning naming the file).

    Reads only what runs leave in models/ and eval/. An MMAR that never trained says so in
    its column (one holding Clara's pretrained model, that too); exits 1 when none has
    trained or been validated. An AutoML source beside its trials is read
    with its search annotations left out and its alternatives as written (its column says
    so).

    Example: mmarctl compare exp-lr1e-3 exp-lr1e-4 --plot curves.png
    """
    from mmarctl.console import err, out
    from mmarctl.report.compare import compare as build, plot as draw_plot

    comparison = build(mmars or [], config_train)
    written = draw_plot(comparison, plot) if plot else None  # fails before any output
    for run in comparison.runs:
        if run.eval_problem:  # its eval cells say "unreadable"; this says why
            err.print(f"warning: {run.eval_problem}", highlight=False, markup=False)
        for problem in run.record_problems:  # a damaged run record is read around, not silently
            err.print(f"warning: {problem}", highlight=False, markup=False)
        if run.eval_stale:  # its eval cells say "(stale: ...)"; this says which file
            err.print(f"warning: {run.eval_stale}", highlight=False, markup=False)
    if as_json:
        print(json.dumps(comparison.to_json(show_all), indent=2))
    else:
        for table in _tables(comparison, show_all, out.width):
            out.print(table)
        hidden = comparison.hidden_count(show_all)
        if hidden:
            err.print(f"{hidden} config values equal in every MMAR not shown "
                      "(--all shows them)", highlight=False)
    if written is not None:
        err.print(f"validation curves: {written}", highlight=False)


def _tables(comparison, show_all: bool, width: int) -> list:
    """The rich tables for a console ``width`` columns wide.

    One column per MMAR when that fits, as before; otherwise one row per MMAR and one
    column per value (an AutoML study's 30 trials read down a column), the value columns
    split into as many tables as it takes to keep every value whole. A pipe is
    :data:`~mmarctl.console.UNWRAPPED_WIDTH` wide, so piped output keeps one wide table.
    """
    from mmarctl.report.compare import SECTIONS  # section headings share the name column

    rows = comparison.rows_shown(show_all)
    labels = [run.label for run in comparison.runs]
    # A long value (a path, a list) folds in either layout: what decides is whether the
    # runs' columns, each as wide as its ordinary values, fit side by side.
    name_width = min(max([len(row.name) for row in rows] + [len(s) for s in SECTIONS]),
                     _FOLDED_WIDTH)
    run_widths = [min(max([len(label)] + [len(row.values[i]) for row in rows]), _FOLDED_WIDTH)
                  for i, label in enumerate(labels)]
    if _table_width([name_width, *run_widths]) <= width:
        return [_wide_table(comparison, rows)]
    return _long_tables(comparison, rows, width)


#: Names and values longer than this fold onto several lines in the table side by side.
_FOLDED_WIDTH = 30
#: A value column's heading folds onto several lines rather than widen the column
#: past its values by more than this.
_HEADING_WIDTH = 14


def _table_width(widths: list[int]) -> int:
    """Characters a rich table with these column widths takes: a border before each
    column and after the last, one space of padding either side of each cell."""
    return sum(widths) + 3 * len(widths) + 1


def _wide_table(comparison, rows):
    """One column per MMAR, a section heading before each group."""
    from rich.markup import escape
    from rich.table import Table

    from mmarctl.console import counted

    table = Table(title=f"compare: {counted(len(comparison.runs), 'MMAR')}",
                  title_justify="left")
    table.add_column("", overflow="fold", style="bold")
    for run in comparison.runs:
        table.add_column(escape(run.label), overflow="fold")
    section = None
    for row in rows:
        if row.section != section:
            if section is not None:
                table.add_section()
            section = row.section
            table.add_row(f"[dim]{section}[/]", *[""] * len(comparison.runs))
        style = "yellow" if row.differs else ""
        values = [f"[{style}]{escape(v)}[/]" if style else escape(v) for v in row.values]
        table.add_row(escape(row.name), *values)
    return table


def _long_tables(comparison, rows, width: int) -> list:
    """One row per MMAR; the value columns in groups that fit ``width``, each group a
    table that repeats the MMAR column."""
    from rich.markup import escape
    from rich.table import Table

    from mmarctl.console import counted

    labels = [run.label for run in comparison.runs]
    # a value every MMAR shares (the key metric's name, a results row) is said once
    same = [row for row in rows if len(labels) > 1 and len(set(row.values)) == 1]
    rows = [row for row in rows if row not in same]
    # a long label (an AutoML trial's path) folds rather than take the whole width
    label_width = max(len("MMAR"), min(max(len(label) for label in labels), max(12, width // 3)))
    room = width - _table_width([label_width])
    widths = []
    for row in rows:
        value_width = max(len(v) for v in row.values)
        heading_width = min(len(row.name), max(value_width, _HEADING_WIDTH))
        widths.append(min(max(value_width, heading_width), max(room - 3, 1)))
    groups: list[list[int]] = [[]]
    used = 0
    for index, column_width in enumerate(widths):
        if groups[-1] and used + column_width + 3 > room:
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += column_width + 3
    split = f", in {len(groups)} tables" if len(groups) > 1 else ""
    shown: list = [f"compare: {counted(len(labels), 'MMAR')}, one per row (too many for {width} "
                   f"columns side by side{split})"]
    if same:
        shown.append("the same in every MMAR: " + "; ".join(
            f"{escape(row.name)} [bold]{escape(row.values[0])}[/]" for row in same))
    for group in groups if rows else []:
        table = Table()
        table.add_column("MMAR", overflow="fold", style="bold", max_width=label_width)
        for index in group:
            table.add_column(escape(rows[index].name), overflow="fold",
                             width=widths[index], style="yellow" if rows[index].differs else "")
        for i, label in enumerate(labels):
            table.add_row(escape(label), *[escape(rows[index].values[i]) for index in group])
        shown.append(table)
    return shown


def register(app: typer.Typer) -> None:
    """Add ``compare`` to the CLI."""
    app.command("compare")(compare)
