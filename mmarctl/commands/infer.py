"""``mmarctl infer``: run the trained model on the datalist or on given images (infer.sh)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from mmarctl.commands._common import AmpOption, MmarArgument, SetOption
from mmarctl.commands.validate import ConfigOption, ConfigTrainOption, ModelOption


def register(app: typer.Typer) -> None:
    app.command("infer")(infer)


def infer(
    mmar: MmarArgument = None,
    set_: SetOption = None,
    config: ConfigOption = "config_validation.json",
    config_train: ConfigTrainOption = "config_train.json",
    input_: Annotated[Optional[list[str]], typer.Option(
        "--input", "-i", metavar="PATH",
        help="Image file(s) to segment/classify instead of the datalist. Repeatable; one "
             "case of several files (BraTS's modalities) is A,B,C,D, in the order the "
             "datalist would list them.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="DIR",
        help="Output folder, relative to the current folder (sets MMAR_EVAL_OUTPUT_PATH, "
             "which --set reads relative to the MMAR; default eval/).")] = None,
    model: ModelOption = None,
    preview: Annotated[bool, typer.Option(
        "--preview",
        help="Also write a PNG per case of the prediction's contours over the image "
             "(three orthogonal slices; one panel for 2D) in OUTPUT/preview/"
             "<case>_preview.png. Not for classification.")] = False,
    amp: AmpOption = None,
) -> None:
    """Infer: masks as NIfTI with the input's affine/header, classification scores as CSV.

    Without --input the datalist key DATA_LIST_KEY (default: validation) is used; --model
    picks the checkpoint or an exported model (fzn, onnx) instead of the config's loader.

    Example: mmarctl infer my-exp --input scan.nii.gz --output predictions/ --preview
    """
    from mmarctl.console import counted, out
    from mmarctl.runtime import logs
    from mmarctl.runtime.evaluation import EvalOptions, check_model_choice, evaluate
    from mmarctl.variables import parse_set_items
    from mmarctl.workspace import Workspace, shown_from_here

    check_model_choice(model)
    _check_output(output)
    workspace = Workspace.locate(mmar)
    workspace.require_clara3()
    overrides = parse_set_items(set_)
    if input_:
        _check_inputs(workspace, input_, overrides, config=config, config_train=config_train)
    # TensorFlow is imported by evaluate, after its pre-flight: a config mistake costs none.
    logs.configure(workspace.log_config)
    report = evaluate(workspace, EvalOptions(config=config, train_config=config_train,
                                             overrides=overrides, inputs=input_,
                                             output=output, model=model,
                                             preview=preview, amp=amp), mode="infer")
    skipped = (f" ({len(report.skipped)} skipped as unusable: skip_bad_cases)"
               if report.skipped else "")
    out.print(f"inferred {counted(report.cases, 'case')}{skipped}; outputs in "
              f"{shown_from_here(report.output_dir)}", highlight=False)
    if report.preview_note:
        out.print(report.preview_note, highlight=False)
    for path in report.previews:
        out.print(f"preview: {shown_from_here(path)}", highlight=False)


def _check_output(output: str | None) -> None:
    """Refuse an ``--output`` that names an existing file (or lies under one): the outputs
    are written into a folder, and the lock taken there would fail with "Not a directory".

    Raises:
        UsageError: ``-o`` is a file.
    """
    from pathlib import Path

    from mmarctl.errors import UsageError

    if not output:
        return
    path = Path(output).expanduser()
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                where = "is a file" if part == path else f"is under {part}, a file"
                raise UsageError(f"-o {output} {where}; pass a folder (it is created if "
                                 "missing)")
            return


def _check_inputs(workspace: Any, inputs: list[str], overrides: dict[str, Any], *,
                  config: str, config_train: str) -> None:
    """Refuse, before any compute, ``--input`` files whose NIfTI header shows they cannot
    go through the network: another number of spatial axes (a 2-D image for a 3-D
    network), or another channel count than ``output_image_channels`` (unless a validation
    transform changes channels); and files that are text, not images. A missing file is
    left to evaluate's own line. Without a readable training config nothing is compared.

    Raises:
        DataError: the first such file (and how many more there are).
    """
    from pathlib import Path

    from mmarctl.check.images import CHANNEL_CHANGING
    from mmarctl.errors import DataError, MmarError
    from mmarctl.runtime.model_io import input_spec
    from mmarctl.runtime.transforms.loaders import _not_nifti

    try:
        resolved = workspace.resolve(config_train, overrides)
        dims, channels, _ = input_spec(resolved)
        shown = resolved.file
    except (MmarError, OSError, ValueError):  # no training config, or a bad one: reported later
        dims = channels = None
        shown = config_train
    try:
        pre = workspace.resolve(config, overrides).data.get("pre_transforms") or []
        names = {str(t.get("name", "")).split("#")[0] for t in pre if isinstance(t, dict)}
    except (MmarError, OSError, ValueError, AttributeError):
        names = set()
    if names & CHANNEL_CHANGING:
        channels = None
    problems: list[tuple[str, str, str | None]] = []
    for given in inputs:
        files = ([given] if "," not in given or Path(given).expanduser().exists()
                 else [name for name in given.split(",") if name])
        count: int | None = 0
        for name in files:
            path = Path(name).expanduser()
            if not path.is_file():
                count = None
                continue
            if not path.name.lower().endswith((".nii", ".nii.gz")):
                count = None
                other = _not_nifti(str(path))
                if other and other.endswith("looks like text"):
                    problems.append((name, f"not a NIfTI image: {other}",
                                     "pass one --input per image file"))
                continue
            shape = _header_shape(path)
            if shape is None:  # an unreadable header: the loader says why
                count = None
                continue
            axes = 2 if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1 and dims == 2) \
                else 3
            if dims is not None and axes != dims:
                problems.append((name, f"a {axes}-D image (shape {shape}), but the network "
                                       f"takes {dims}-D input ({shown})",
                                 f"give {dims}-D images, or use a model trained on "
                                 f"{axes}-D ones"))
                count = None
            elif count is not None:
                count += int(_prod(shape[3:])) if len(shape) > 3 else 1
        if channels is not None and count and count != channels:
            problems.append((files[0], f"an image with {count} channel(s) but the network "
                                       f"takes {channels} (output_image_channels in {shown})",
                             "give images with the channels the model was trained on (a "
                             "case of several files is -i A,B,...)"))
    if problems:
        name, message, hint = problems[0]
        more = f" (and {len(problems) - 1} more input(s))" if len(problems) > 1 else ""
        raise DataError(message + more, file=name, hint=hint)


def _header_shape(path: Any) -> tuple[int, ...] | None:
    """The image shape a NIfTI header gives (no voxels read), None when unreadable."""
    import nibabel as nib

    try:
        return tuple(int(n) for n in nib.load(str(path)).shape)
    except Exception:  # nibabel raises many types for a bad header
        return None


def _prod(values: Any) -> int:
    result = 1
    for value in values:
        result *= int(value)
    return result
