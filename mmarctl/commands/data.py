"""``mmarctl data ...``: data-set helpers; ``data synth`` writes a synthetic set."""

from __future__ import annotations

import enum
from typing import Annotated, Optional

import typer

from mmarctl.console import out

data_app = typer.Typer(help="Data-set helpers for MMAR workspaces.", no_args_is_help=True)


class Task(str, enum.Enum):
    """The kinds of synthetic data (they match the built-in scaffolds)."""

    segmentation = "segmentation"
    classification = "classification"


@data_app.command("synth")
def synth(
    dest: Annotated[str, typer.Argument(
        metavar="DEST", show_default=False, help="Data folder to create (it may exist if empty). For a "
                                 "scaffolded workspace: WORKSPACE/data.")],
    cases: Annotated[Optional[int], typer.Option(
        "--cases", "-n", show_default=False,
        help="Number of cases, a quarter of them for validation "
             "(default: 12 for segmentation, 40 for classification).")] = None,
    size: Annotated[int, typer.Option(
        "--size", help="Voxels per axis: segmentation volumes draw each axis from "
                       "SIZE..1.25*SIZE; classification images are SIZE x SIZE.")] = 64,
    seed: Annotated[int, typer.Option(
        "--seed", help="Random seed; the same seed writes the same images.")] = 0,
    task: Annotated[Task, typer.Option(
        "--task", "-t", help="segmentation: 3D CT-like volumes with spleen labels (MSD layout); "
                             "classification: 2D images with 0/1 labels.")] = Task.segmentation,
) -> None:
    """Write a synthetic data set: images, labels and dataset_0.json.

    Written to WORKSPACE/data, the segmentation set is what the spleen scaffold expects.

    Example: mmarctl clone spleen my-exp && mmarctl data synth my-exp/data --cases 12 --seed 0
    """
    from mmarctl.synth import synthesize

    result = synthesize(dest, task=task.value, cases=cases, size=size, seed=seed)
    out.print(f"wrote {result.training} training and {result.validation} validation cases "
              f"to {dest}; datalist {result.datalist}")


def register(app: typer.Typer) -> None:
    """Add the ``data`` group to the CLI."""
    app.add_typer(data_app, name="data")
