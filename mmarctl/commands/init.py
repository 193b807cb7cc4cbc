"""``mmarctl init DIR``: a blank, runnable MMAR from the built-in scaffold for a task."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from mmarctl.commands.clone import print_result


class Task(str, enum.Enum):
    """The tasks ``init`` has a scaffold for (Clara's PROCESSING_TASK)."""

    segmentation = "segmentation"
    classification = "classification"


def init(
    directory: Annotated[str, typer.Argument(metavar="DIR", show_default=False,
                                             help="Folder to create (it may exist if empty).")],
    task: Annotated[Task, typer.Option("--task", "-t",
                                       help="What the model does: 3D segmentation (the spleen "
                                            "scaffold) or 2D classification.")]
    = Task.segmentation,
) -> None:
    """Create a blank MMAR in DIR from a built-in scaffold, with commands/ generated.

    Example: mmarctl init my-exp --task segmentation && mmarctl data synth my-exp/data
    """
    from mmarctl.clone import init as init_workspace

    result = init_workspace(directory, task=task.value)
    print_result(result, directory)


def register(app: typer.Typer) -> None:
    """Add ``init`` to the CLI."""
    app.command("init")(init)
