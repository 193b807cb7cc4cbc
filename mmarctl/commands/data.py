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
        metavar="DEST", show_default=False,
        help="Data folder to create (it may exist if empty), or an MMAR: then its "
             "environment.json's DATA_ROOT, with the task from PROCESSING_TASK.")],
    cases: Annotated[Optional[int], typer.Option(
        "--cases", "-n", show_default=False,
        help="Number of cases, a quarter of them for validation "
             "(default: 12 for segmentation, 40 for classification).")] = None,
    size: Annotated[int, typer.Option(
        "--size", help="Voxels per axis: segmentation volumes draw each axis from "
                       "SIZE..1.25*SIZE; classification images are SIZE x SIZE.")] = 64,
    shape: Annotated[Optional[str], typer.Option(
        "--shape", metavar="X,Y,Z", show_default=False,
        help="Segmentation: this exact shape for every volume instead of --size, e.g. "
             "512,512,160 (a typical abdominal CT). Volumes over about 4 M voxels are "
             "drawn on a coarser grid, interpolated, then given full-resolution noise.")] = None,
    compress: Annotated[bool, typer.Option(
        "--compress/--no-compress",
        help="Write .nii.gz (the MSD layout) or plain .nii, quicker to write and read for "
             "large volumes.")] = True,
    seed: Annotated[int, typer.Option(
        "--seed", help="Random seed; the same seed writes the same images.")] = 0,
    task: Annotated[Optional[Task], typer.Option(
        "--task", "-t", show_default=False,
        help="segmentation: 3D CT-like volumes with spleen labels (MSD layout); "
             "classification: 2D images with 0/1 labels (default: the MMAR's "
             "PROCESSING_TASK, else segmentation).")] = None,
) -> None:
    """Write a synthetic data set: images, labels and dataset_0.json.

    Given a workspace made by init or clone, it fills the data folder that the workspace's
    environment.json names (WORKSPACE/data for the built-in scaffolds).

    Example: mmarctl clone spleen my-exp && mmarctl data synth my-exp/data --cases 12 --seed 0

    CT-sized volumes: mmarctl data synth my-exp/data --shape 512,512,160 --no-compress
    """
    from mmarctl.synth import resolve_target, synthesize

    target = resolve_target(dest)
    chosen = task.value if task is not None else target.task or "segmentation"
    result = synthesize(target.path, task=chosen, cases=cases, size=size, seed=seed,
                        shape=shape, compress=compress)
    out.print(f"wrote {result.training} training and {result.validation} validation {chosen} "
              f"cases to {target.path}; datalist {result.datalist}")


def register(app: typer.Typer) -> None:
    """Add the ``data`` group to the CLI."""
    app.add_typer(data_app, name="data")
