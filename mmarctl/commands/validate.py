"""``mmarctl validate``: metrics of the trained model on the validation list (validate.sh)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmarctl.commands._common import (AmpOption, MmarArgument, SetOption, TrackingOption,
                                      TrackingUriOption)

ConfigOption = Annotated[str, typer.Option(
    "--config", "-c", metavar="FILE",
    help="Validation config in config/ (Clara: config_validation.json; "
         "config_validation_ckpt.json validates from the checkpoint).")]
ConfigTrainOption = Annotated[str, typer.Option(
    "--config-train", metavar="FILE",
    help="Training config whose model section CheckpointLoader builds.")]
ModelOption = Annotated[Optional[str], typer.Option(
    "--model", "-m", metavar="ckpt|fzn|onnx", show_default=False,
    help="Which model to run: the checkpoint (ckpt), or the exported frozen graph (fzn, "
         "models/model.fzn.pb) or ONNX model (onnx, models/model.onnx); default: the "
         "config's model_loader.")]


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    mmar: MmarArgument = None,
    set_: SetOption = None,
    config: ConfigOption = "config_validation.json",
    config_train: ConfigTrainOption = "config_train.json",
    model: ModelOption = None,
    tracking: TrackingOption = None,
    tracking_uri: TrackingUriOption = None,
    amp: AmpOption = None,
) -> None:
    """Validate the model: per-case and summary metrics into eval/ (CSV, JSON, text), and
    eval/report.html (summary, sortable per-case table, slices with contours or ROC).

    The datalist key is DATA_LIST_KEY (default: validation); the model is loaded as the
    config's model_loader says, or as --model chooses (the export must exist for fzn/onnx).

    Example: mmarctl validate my-exp --set DATA_LIST_KEY=validation --model onnx
    """
    from mmarctl.console import counted, out
    from mmarctl.runtime import logs
    from mmarctl.runtime.evaluation import EvalOptions, check_model_choice, evaluate, summarise
    from mmarctl.variables import parse_set_items
    from mmarctl.workspace import Workspace, shown_from_here

    check_model_choice(model)
    from mmarctl.tracking.settings import check_cli_options

    check_cli_options(tracking, tracking_uri)
    workspace = Workspace.locate(mmar)
    workspace.require_clara3()
    # TensorFlow is imported by evaluate, after its pre-flight: a config mistake costs none.
    logs.configure(workspace.log_config)
    overrides = parse_set_items(set_)
    report = evaluate(workspace, EvalOptions(config=config, train_config=config_train,
                                             overrides=overrides, model=model, amp=amp),
                      mode="validate")
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
