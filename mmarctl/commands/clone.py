"""``mmarctl clone SOURCE DEST``: a new workspace from a scaffold or an existing MMAR."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mmarctl.console import err, out
from mmarctl.errors import UsageError
from mmarctl.shell_words import shell_word

if TYPE_CHECKING:
    from mmarctl.clone import CloneResult


def print_result(result: "CloneResult", shown_dest: str) -> None:
    """Report a new workspace: where it is, what it came from, what to do next."""
    out.print(f"created {shown_dest} from {result.source}")
    if result.copied:
        out.print(f"  copied: {', '.join(result.copied)}; commands/ regenerated for mmarctl")
    for key, value in result.rewritten.items():
        if key in result.reset:
            out.print(f"  {key} reset to {value}: it named {result.reset[key]}, where the "
                      "source writes (a clone writes its own checkpoints and results)")
        else:
            out.print(f"  {key} now points at {value} (left behind in the source)")
    for note in result.notes:
        err.print(f"note: {note}")
    if result.source_kind == "scaffold":
        from mmarctl import scaffolds

        task = scaffolds.get(result.source.partition(":")[2]).task
        # Copied literally, so quoted as a shell needs it (a space, a leading dash).
        data = os.path.join(shown_dest.rstrip("/") or "/", "data")
        synth = f"mmarctl data synth {shell_word(data)}"
        if task != "segmentation":
            synth += f" --task {task}"
        out.print(f"next: {synth}  (or point config/environment.json at your data), "
                  f"then mmarctl check {shell_word(shown_dest)}", highlight=False)


def complete_source(incomplete: str) -> list[str]:
    """Shell completion of ``clone SOURCE``: the scaffold names and the folders (an MMAR to
    copy) that start with what is typed. A Typer completion replaces the shell's own path
    completion, so the folders are listed here."""
    from mmarctl.scaffolds import list_scaffolds

    names = [s.name for s in list_scaffolds() if s.name.startswith(incomplete)]
    folder, _, start = incomplete.rpartition("/")
    where = os.path.expanduser(folder + "/" if incomplete.startswith("/") and not folder
                               else folder or ".")
    try:
        entries = sorted(os.scandir(where), key=lambda entry: entry.name)
    except OSError:
        entries = []
    folders = [f"{folder}/{e.name}/" if folder or incomplete.startswith("/") else f"{e.name}/"
               for e in entries if e.name.startswith(start)
               and (start.startswith(".") or not e.name.startswith(".")) and _is_folder(e)]
    return names + folders


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def clone(
    source: Annotated[Optional[str], typer.Argument(
        metavar="SOURCE", show_default=False, autocompletion=complete_source,
        help="A built-in scaffold name (see --list) or the path of an MMAR. Write ./NAME for "
             "a local folder that has a scaffold's name.")] = None,
    dest: Annotated[Optional[str], typer.Argument(
        metavar="DEST", show_default=False, help="The new workspace folder; it must not exist.")] = None,
    with_models: Annotated[bool, typer.Option(
        "--with-models", help="Also copy models/ or the source's MMAR_CKPT_DIR "
                              "(checkpoints and exported graphs).")] = False,
    list_: Annotated[bool, typer.Option(
        "--list", help="List the built-in scaffolds, one line each, and exit.")] = False,
) -> None:
    """Copy a scaffold or an MMAR into a new workspace; commands/ is regenerated.

    Copies config/, commands/, resources/, docs/ and custom code (custom/, BYOC/ ...).

    Leaves models/ and eval/ (or the folders MMAR_CKPT_DIR and MMAR_EVAL_OUTPUT_PATH name)
    behind; --with-models copies the checkpoints too.

    Records the source in DEST/.mmarctl/provenance.json.

    Example: mmarctl clone spleen my-exp   (or: mmarctl clone old-exp new-exp --with-models)
    """
    from mmarctl import clone as clone_lib
    from mmarctl import scaffolds

    if list_:
        items = scaffolds.list_scaffolds()
        width = max(len(s.name) for s in items)
        for scaffold in items:
            out.print(f"{scaffold.name:<{width}}  {scaffold.task:<14}  {scaffold.description}")
        return
    if source is None or dest is None:
        raise UsageError("clone needs SOURCE and DEST", hint="e.g. mmarctl clone spleen my-exp; "
                                                             "mmarctl clone --list shows scaffolds")
    result = clone_lib.clone(source, dest, with_models=with_models)
    print_result(result, dest)


def register(app: typer.Typer) -> None:
    """Add ``clone`` to the CLI."""
    app.command("clone")(clone)
