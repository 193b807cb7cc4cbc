"""``mmarctl check``: validate an MMAR's configs and data before any compute is spent."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from mmarctl.commands._common import MmarArgument, SetOption


def check(
    mmar: MmarArgument = None,
    set_items: SetOption = None,
    config_train: Annotated[Optional[str], typer.Option(
        "--config-train", "-c", metavar="FILE",
        help="Training config to check (Clara's -c, as on train), e.g. -c config/trn_base.json. "
             "Naming a config checks only the configs named.")] = None,
    config_validation: Annotated[Optional[list[str]], typer.Option(
        "--config-validation", "--config", metavar="FILE",
        help="Validation config to check (validate's --config), e.g. "
             "config/config_validation_ckpt.json. Repeatable. "
             "Default: config_train.json and every config_validation*.json.")] = None,
    config_automl: Annotated[Optional[list[str]], typer.Option(
        "--config-automl", metavar="FILE",
        help="AutoML settings to check (automl's --config-automl), e.g. "
             "config/config_automl_BYO_RandomController.json. Repeatable. Default: every "
             "config_automl*.json.")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict",
        help="Fail on notes too, for CI: every note about the configs, the data lists and "
             "Clara's commands/ scripts (that cannot run) becomes a problem (exit 1). Notes "
             "on what models/ holds and on eval/ stay notes: they describe a run's output, "
             "not the MMAR.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the findings as one JSON object on stdout (ok, problems, "
                       "notes, files, cases, data_files); the exit code is the same.")] = False,
) -> None:
    """Check an MMAR's configs and data before any compute is spent.

    Checks every config file against its schema, component names and args against the
    Clara catalogue, ref targets, {VAR} placeholders, BYOC modules, the data-split list
    (DATASET_JSON) and the files it names under DATA_ROOT.

    Prints one line per problem (file: json.path: message) and exits 1 when there is any,
    else prints "OK: N files checked" with the cases and data files the datalists name, and
    exits 0. What is valid Clara but worth knowing (no validation config, evaluation
    preprocessing unlike training's, what models/ holds) is printed as note lines, which do
    not change the exit code; --strict makes those about the configs, data and scripts
    problems. Naming a validation config (--config) asks whether validate and infer will
    run with it: a damaged model file its model_loader reads, or an eval/ they cannot
    write, is then a problem.

    Example: mmarctl check my-exp --set DATA_ROOT=/data/spleen DATASET_JSON=/data/spleen/dataset_0.json
    """
    from mmarctl.check import check_mmar
    from mmarctl.console import counted, out, print_out
    from mmarctl.variables import parse_set_items
    from mmarctl.workspace import Workspace

    overrides = parse_set_items(set_items)
    workspace = Workspace.locate(mmar)
    report = check_mmar(workspace, overrides, train_config=config_train,
                        validation_configs=config_validation, automl_configs=config_automl,
                        strict=strict, hold_validation=bool(config_validation))
    if as_json:
        print_out(json.dumps(report_as_json(report), indent=2))
        if not report.ok:
            raise typer.Exit(1)
        return
    for problem in report.problems:
        out.print(str(problem), markup=False)
    for note in report.notes:
        out.print(str(note), markup=False)
    checked = f"{counted(len(report.files), 'file')} checked{_data_looked_at(report.data)}"
    if report.unsupported:
        raise typer.Exit(1)
    if not report.ok:
        out.print(f"{counted(len(report.problems), 'problem')} in {checked}", markup=False)
        raise typer.Exit(1)
    out.print(f"OK: {checked}", markup=False)


def _data_looked_at(data) -> str:
    """``", 12 cases (training 9, validation 3), 24 data files"``; empty when no datalist
    was read."""
    from mmarctl.console import counted

    if not data.cases:
        return ""
    by_key = ", ".join(f"{key} {number}" for key, number in data.cases.items())
    files = f", {counted(data.files, 'data file')}" if data.files else ""
    return f", {counted(sum(data.cases.values()), 'case')} ({by_key}){files}"


def report_as_json(report) -> dict:
    """check's findings as a JSON-ready dict, for scripts and CI."""
    def entries(problems):
        return [{"file": p.file, "json_path": p.json_path, "message": p.message}
                for p in problems]

    return {"ok": report.ok and not report.unsupported, "problems": entries(report.problems),
            "notes": entries(report.notes), "files": list(report.files),
            "cases": dict(report.data.cases), "data_files": report.data.files}

def register(app: typer.Typer) -> None:
    """Add ``check`` to the CLI."""
    app.command("check")(check)
