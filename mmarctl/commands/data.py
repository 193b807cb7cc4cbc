"""``mmarctl data ...``: data-set helpers; ``data synth`` writes a synthetic set."""

from __future__ import annotations

import enum
import os
from typing import Annotated, Optional

import typer

from mmarctl.console import out
from mmarctl.synth_kinds import FORMATS, KINDS, LAYOUTS

data_app = typer.Typer(help="Data-set helpers for MMAR workspaces.", no_args_is_help=True)


class Task(str, enum.Enum):
    """The Clara processing tasks; each picks a default kind."""

    segmentation = "segmentation"
    classification = "classification"


# The choices come from the kinds' own table, so help and synthesize never disagree.
Kind = enum.Enum("Kind", {name: name for name in KINDS}, type=str)
FileFormat = enum.Enum("FileFormat", {name: name for name in FORMATS}, type=str)
Layout = enum.Enum("Layout", {name: name for name in LAYOUTS}, type=str)

_KIND_HELP = "; ".join(f"{k.name}: {k.summary}" + (f" (formats: {', '.join(k.formats)})"
                                                    if len(k.formats) > 1 else "")
                       for k in KINDS.values())


def _value(choice: Optional[enum.Enum]) -> Optional[str]:
    return None if choice is None else choice.value


@data_app.command("synth")
def synth(
    dest: Annotated[str, typer.Argument(
        metavar="DEST", show_default=False,
        help="Data folder to create (it may exist if empty), or an MMAR: then its "
             "environment.json's DATA_ROOT, with the task from PROCESSING_TASK (a folder "
             "inside an MMAR takes that MMAR's task too).")],
    cases: Annotated[Optional[int], typer.Option(
        "--cases", "-n", show_default=False,
        help="Number of cases, a quarter of them for validation (default: 12 spleen, "
             "8 brats, 20 spine2d, 40 nodule).")] = None,
    size: Annotated[int, typer.Option(
        "--size", help="Voxels per axis: spleen volumes draw each axis from "
                       "SIZE..1.25*SIZE, brats volumes are SIZE^3, 2D images SIZE x SIZE."
                       )] = 64,
    shape: Annotated[Optional[str], typer.Option(
        "--shape", metavar="X,Y,Z", show_default=False,
        help="3D kinds: this exact shape for every volume instead of --size, e.g. "
             "512,512,160 (a typical abdominal CT) or 240,240,155 (BraTS). Volumes over "
             "about 4 M voxels are drawn on a coarser grid, interpolated, then given "
             "full-resolution noise.")] = None,
    compress: Annotated[Optional[bool], typer.Option(
        "--compress/--no-compress", show_default=False,
        help="NIfTI: write .nii.gz (the default, the MSD layout) or plain .nii, quicker to "
             "write and read for large volumes.")] = None,
    seed: Annotated[int, typer.Option(
        "--seed", help="Random seed; the same seed writes the same images.")] = 0,
    task: Annotated[Optional[Task], typer.Option(
        "--task", "-t", show_default=False,
        help="segmentation (default kind spleen) or classification (default kind nodule); "
             "default: the MMAR's PROCESSING_TASK, else the task of --kind, else "
             "segmentation.")] = None,
    kind: Annotated[Optional[Kind], typer.Option(
        "--kind", "-k", show_default=False,
        help=f"The data set: {_KIND_HELP}.")] = None,
    file_format: Annotated[Optional[FileFormat], typer.Option(
        "--format", show_default=False,
        help="2D kinds: the image and label files, nifti (2D NIfTI, the default; LoadNifti), "
             "png (8-bit grey; LoadPng) or npy (NumPy arrays, for BYOC NumPy loaders).")] = None,
    layout: Annotated[Optional[Layout], typer.Option(
        "--layout", show_default=False,
        help="brats: files (one NIfTI per modality, the datalist's image a list "
             "of t1ce, t1, t2, flair files, as Clara's BraTS MMARs read; the default) or 4d (one "
             "4-D NIfTI per case, the channels on its fourth axis).")] = None,
    label_value: Annotated[Optional[int], typer.Option(
        "--label-value", show_default=False,
        help="spine2d: the value the masks store for the structure (default 1; 255 for "
             "masks kept as 8-bit images, which some loaders divide by 255).")] = None,
) -> None:
    """Write a synthetic data set: images, labels and dataset_0.json.

    Given a workspace made by init or clone, it fills the data folder that the workspace's
    environment.json names (WORKSPACE/data for the built-in scaffolds).

    Example: mmarctl clone spleen my-exp && mmarctl data synth my-exp/data --cases 12 --seed 0

    CT-sized volumes: mmarctl data synth my-exp/data --shape 512,512,160 --no-compress

    BraTS-like MRI: mmarctl data synth brats-data --kind brats --size 128

    2D slices as NumPy arrays: mmarctl data synth spine-data --kind spine2d --format npy
    """
    from mmarctl.console import keep_working_without_reader
    keep_working_without_reader()  # `| head` ends the output, not the work
    from mmarctl.staging import current_folder
    from mmarctl.synth import resolve_target, synthesize
    from mmarctl.synth_kinds import choose

    if not os.path.isabs(os.path.expanduser(dest)):
        current_folder()  # one line, not a traceback, when the shell's folder was deleted
    target = resolve_target(dest, _given_options(
        cases=cases, size=None if size == 64 else size, shape=shape, compress=compress,
        seed=seed or None, task=_value(task), kind=_value(kind), format=_value(file_format),
        layout=_value(layout), label_value=label_value))
    # An explicit --task or --kind decides; a workspace's PROCESSING_TASK is only a default
    # for the task, and must then agree with --kind.
    enclosing = _enclosing_task(dest) if target.task is None else None
    chosen_task = _value(task) or ((target.task or enclosing) if kind is None else None)
    chosen = choose(chosen_task, _value(kind))
    if task is None and target.task is not None and target.task != chosen.task:
        from mmarctl.errors import UsageError

        raise UsageError(f"--kind {chosen.name} is {chosen.task} data, but the MMAR's "
                         f"PROCESSING_TASK is {target.task}",
                         hint="give the data folder itself as DEST to write it anyway")
    result = synthesize(target.path, kind=chosen.name, cases=cases, size=size, seed=seed,
                        shape=shape, compress=compress, file_format=_value(file_format),
                        layout=_value(layout), label_value=label_value)
    out.print(f"wrote {result.training} training and {result.validation} validation "
              f"{chosen.task} cases ({chosen.name}) to {target.path}; "
              f"datalist {result.datalist}")


def _given_options(**given: object) -> list[str]:
    """The options given (not left at their defaults), as command-line words to repeat."""
    words: list[str] = []
    for name, value in given.items():
        if isinstance(value, bool):
            words.append(f"--{name}" if value else f"--no-{name}")
        elif value is not None:
            words.extend([f"--{name.replace('_', '-')}", str(value)])
    return words


def _enclosing_task(dest: str) -> str | None:
    """The ``PROCESSING_TASK`` of the MMAR that DEST lies in (``data synth cl/data`` for a
    classification workspace ``cl``), as if the MMAR had been given: without it,
    classification workspaces got spleen segmentation data, which their training then
    refuses. None when no parent folder is an MMAR (``config/config_train.json``) or it
    names no task."""
    from pathlib import Path

    from mmarctl.synth_kinds import TASKS
    from mmarctl.workspace import Workspace

    path = Path(dest).expanduser().resolve()
    for parent in path.parents:
        if (parent / "config" / "config_train.json").is_file():
            try:
                task = Workspace(parent).environment().get("PROCESSING_TASK")
            except Exception:  # an unreadable environment.json: check reports it
                return None
            return task if task in TASKS else None
    return None


def register(app: typer.Typer) -> None:
    """Add the ``data`` group to the CLI."""
    app.add_typer(data_app, name="data")
