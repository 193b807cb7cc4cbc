"""``mmarctl validate``: metrics of the trained model on the validation list (validate.sh)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmarctl.commands._common import (AmpOption, MmarArgument, SetOption, TrackingOption,
                                      TrackingUriOption, completing)
from mmarctl.commands.launch_options import (CpuOption, GpusOption, HostfileOption,
                                             HostsOption, LauncherOption)

ConfigOption = Annotated[str, typer.Option(
    "--config", "-c", metavar="FILE",
    help="Validation config in config/ (Clara: config_validation.json; "
         "config_validation_ckpt.json validates from the checkpoint).")]
ConfigTrainOption = Annotated[str, typer.Option(
    "--config-train", metavar="FILE",
    help="Training config whose model section CheckpointLoader builds.")]
ModelOption = Annotated[Optional[str], typer.Option(
    "--model", "-m", metavar="ckpt|fzn|onnx", show_default=False,
    autocompletion=completing("ckpt", "fzn", "onnx"),
    help="Which model to run: the checkpoint (ckpt), or the exported frozen graph (fzn, "
         "models/model.fzn.pb) or ONNX model (onnx, models/model.onnx); default: the "
         "config's model_loader.")]
OutputOption = Annotated[Optional[str], typer.Option(
    "--output", "-o", metavar="DIR",
    help="Output folder, relative to the current folder (sets MMAR_EVAL_OUTPUT_PATH, "
         "which --set reads relative to the MMAR; default eval/).")]


def check_output_folder(output: str | None) -> None:
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


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    mmar: MmarArgument = None,
    set_: SetOption = None,
    config: ConfigOption = "config_validation.json",
    config_train: ConfigTrainOption = "config_train.json",
    output: OutputOption = None,
    model: ModelOption = None,
    tracking: TrackingOption = None,
    tracking_uri: TrackingUriOption = None,
    amp: AmpOption = None,
    gpus: GpusOption = 1,
    cpu: CpuOption = False,
    hosts: HostsOption = None,
    hostfile: HostfileOption = None,
    launcher: LauncherOption = "gloo",
) -> None:
    """Validate the model: per-case and summary metrics into eval/ (CSV, JSON, text; for a
    classification network also predictions.csv: truth, prediction and scores per case),
    and eval/report.html (summary, sortable per-case table, slices with contours or ROC).

    The datalist key is DATA_LIST_KEY (default: validation); the model is loaded as the
    config's model_loader says, or as --model chooses (the export must exist for fzn/onnx).

    Example: mmarctl validate my-exp --set DATA_LIST_KEY=validation --model onnx

    Two lists side by side: mmarctl validate my-exp --set DATA_LIST_KEY=test -o eval-test

    --gpus N (or multi_gpu: true in the config) splits the cases over N Horovod workers;
    the files are those one process writes (docs/distributed.md).
    """
    from mmarctl.console import keep_working_without_reader
    keep_working_without_reader()  # `| head` ends the output, not the work
    from mmarctl.console import counted, out
    from mmarctl.runtime import logs
    from mmarctl.runtime.evaluation import EvalOptions, check_model_choice, evaluate, summarise
    from mmarctl.variables import parse_set_items
    from mmarctl.workspace import Workspace, shown_from_here

    check_model_choice(model)
    check_output_folder(output)
    from mmarctl.tracking.settings import check_cli_options

    check_cli_options(tracking, tracking_uri)
    workspace = Workspace.locate(mmar)
    workspace.require_clara3()
    overrides = parse_set_items(set_)
    options = EvalOptions(config=config, train_config=config_train, overrides=overrides,
                          output=output, model=model, amp=amp)
    from mmarctl.commands.evaluation_launch import launch_if_asked

    if launch_if_asked("validate", workspace, options, set_, gpus=gpus, cpu=cpu, hosts=hosts,
                       hostfile=hostfile, launcher=launcher, tracking=tracking,
                       tracking_uri=tracking_uri):
        return  # the workers' rank 0 reported
    # TensorFlow is imported by evaluate, after its pre-flight: a config mistake costs none.
    logs.configure(workspace.log_config)
    report = evaluate(workspace, options, mode="validate")
    if not report.chief:
        return  # rank 0 reports the job
    skipped = (f" ({len(report.skipped)} skipped as unusable: skip_bad_cases)"
               if report.skipped else "")
    out.print(f"validated {counted(report.cases, 'case')}{skipped}", highlight=False)
    for name, value in report.metrics.items():
        stats = summarise([row[name] for row in report.per_case.values()])
        spread = (f"  (per case: min {stats['min']:.4f}  max {stats['max']:.4f})"
                  if stats["count"] else "")
        out.print(f"  {name}: {value:.4f}{spread}", highlight=False)
    out.print(f"reports in {shown_from_here(report.output_dir)}", highlight=False)
    if report.report is not None:
        out.print(f"report page: {shown_from_here(report.report)}", highlight=False)
    from mmarctl.tracking.runs import track_validation

    track_validation(workspace, report, mode=tracking, uri=tracking_uri, config=config,
                     overrides=overrides, model=model)
