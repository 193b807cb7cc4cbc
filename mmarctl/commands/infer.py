"""``mmarctl infer``: run the trained model on the datalist or on given images (infer.sh)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmarctl.commands._common import AmpOption, MmarArgument, SetOption
from mmarctl.commands.launch_options import (CpuOption, GpusOption, HostfileOption,
                                             HostsOption, LauncherOption)
from mmarctl.commands.validate import (ConfigOption, ConfigTrainOption, ModelOption,
                                       OutputOption, check_output_folder)


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
    output: OutputOption = None,
    model: ModelOption = None,
    preview: Annotated[bool, typer.Option(
        "--preview",
        help="Also write a PNG per case of the prediction's contours over the image "
             "(three orthogonal slices; one panel for 2D) in OUTPUT/preview/"
             "<case>_preview.png. Not for classification.")] = False,
    amp: AmpOption = None,
    gpus: GpusOption = 1,
    cpu: CpuOption = False,
    hosts: HostsOption = None,
    hostfile: HostfileOption = None,
    launcher: LauncherOption = "gloo",
) -> None:
    """Infer: masks as NIfTI with the input's affine/header (WritePng: PNG masks of PNG
    inputs), classification scores as CSV.

    Without --input the datalist key DATA_LIST_KEY (default: validation) is used; --model
    picks the checkpoint or an exported model (fzn, onnx) instead of the config's loader.

    Example: mmarctl infer my-exp --input scan.nii.gz --output predictions/ --preview

    --gpus N (or multi_gpu: true in the config) splits the cases over N Horovod workers.
    """
    from mmarctl.console import keep_working_without_reader
    keep_working_without_reader()  # `| head` ends the output, not the work
    from mmarctl.console import counted, out
    from mmarctl.runtime import logs
    from mmarctl.runtime.evaluation import EvalOptions, check_model_choice, evaluate
    from mmarctl.variables import parse_set_items
    from mmarctl.workspace import Workspace, shown_from_here

    check_model_choice(model)
    check_output_folder(output)
    workspace = Workspace.locate(mmar)
    workspace.require_clara3()
    overrides = parse_set_items(set_)
    if input_:
        from mmarctl.check.infer_inputs import check_inputs, png_depth_warnings
        from mmarctl.console import err

        from mmarctl.launcher import expected_size, launch_rank

        check_inputs(workspace, input_, overrides, config=config, config_train=config_train)
        # Said once: by the mmarctl that launches a job, not again by each of its workers.
        if expected_size() is None and launch_rank() == 0:
            for warning in png_depth_warnings(workspace, input_, overrides,
                                              config_train=config_train):
                err.print(f"warning: {warning}", markup=False)
    options = EvalOptions(config=config, train_config=config_train, overrides=overrides,
                          inputs=input_, output=output, model=model, preview=preview, amp=amp)
    from mmarctl.commands.evaluation_launch import launch_if_asked

    if launch_if_asked("infer", workspace, options, set_, gpus=gpus, cpu=cpu, hosts=hosts,
                       hostfile=hostfile, launcher=launcher, input=input_, preview=preview):
        return  # the workers' rank 0 reported
    # TensorFlow is imported by evaluate, after its pre-flight: a config mistake costs none.
    logs.configure(workspace.log_config)
    report = evaluate(workspace, options, mode="infer")
    if not report.chief:
        return  # rank 0 reports the job
    skipped = (f" ({len(report.skipped)} skipped as unusable: skip_bad_cases)"
               if report.skipped else "")
    out.print(f"inferred {counted(report.cases, 'case')}{skipped}; outputs in "
              f"{shown_from_here(report.output_dir)}", highlight=False)
    if report.preview_note:
        out.print(report.preview_note, highlight=False)
    for path in report.previews:
        out.print(f"preview: {shown_from_here(path)}", highlight=False)

