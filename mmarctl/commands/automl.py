"""``mmarctl automl``: run a Clara AutoML search as an Optuna study (Clara's automl.sh)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmarctl.commands._common import (AmpOption, MmarArgument, SetOption, TrackingOption,
                                      TrackingUriOption)
from mmarctl.runtime.run_settings import MAX_SEED


def register(app: typer.Typer) -> None:
    app.command("automl")(automl)


def automl(
    mmar: MmarArgument = None,
    set_: SetOption = None,
    config_train: Annotated[Optional[str], typer.Option(
        "--config-train", "-c", metavar="FILE",
        help="The annotated training config (Clara's trainconf); default: "
             "config_automl.json's train_config_file, else config_train.json.")] = None,
    config_automl: Annotated[Optional[str], typer.Option(
        "--config-automl", metavar="FILE",
        help="Controller, handlers and executor (default: config/config_automl.json, "
             "Clara's defaults when absent).")] = None,
    run_id: Annotated[Optional[str], typer.Option(
        "--run-id", metavar="NAME",
        help="The study's name and folder automl/<run_id>/ (default: the training config's "
             "name).")] = None,
    rounds: Annotated[Optional[int], typer.Option(
        "--rounds", min=1, metavar="N",
        help="Trials to run (overrides max_rounds; caps an enum-only "
             "search, which otherwise runs every combination).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, metavar="N",
        help="Trial processes at once: GPUs handed out round-robin, "
             "or the CPU cores shared out.")] = None,
    worker_gpus: Annotated[Optional[str], typer.Option(
        "--worker-gpus", metavar="SPEC",
        help="Clara's workers spec: one trial process per entry, e.g. 0:0:1:1; 0,1 is a "
             "2-GPU Horovod trial.")] = None,
    storage: Annotated[Optional[str], typer.Option(
        "--storage", metavar="URL",
        help="Optuna storage shared by several machines (postgresql://...); default: "
             "SQLite in automl/<run_id>/.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the study: queued and interrupted trials run, finished "
                         "ones never again.")] = False,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", min=0, max=MAX_SEED, metavar="INT",
        help="Seed the sampler and every trial's training.")] = None,
    tracking: TrackingOption = None,
    tracking_uri: TrackingUriOption = None,
    amp: AmpOption = None,
) -> None:
    """Search the values a Clara AutoML config annotates; each trial is a real MMAR.

    The training config needs "search" annotations, which the scaffolds do not have: add one
    first, e.g. at the top level of config/config_train.json "search": [{"type": "float",
    "args": ["learning_rate"], "targets": [1e-4, 1e-2], "domain": "lr"}] (docs/automl.md, A
    first study).

    Trials go to automl/<run_id>/trial_NNN/; results.json and results.csv list them, the
    best ones are kept whole and the best MMAR is named on the last line.

    Example: mmarctl automl my-exp --rounds 8 --workers 2
    """
    from mmarctl.console import keep_working_without_reader
    keep_working_without_reader()  # `| head` ends the output, not the work
    from mmarctl.search.automl import AutomlRequest
    from mmarctl.search.report import run_and_report

    request = AutomlRequest(mmar=mmar, set_items=list(set_ or []), config_train=config_train,
                            config_automl=config_automl, run_id=run_id, rounds=rounds,
                            workers=workers, worker_gpus=worker_gpus, storage=storage,
                            resume=resume, seed=seed, tracking=tracking,
                            tracking_uri=tracking_uri, amp=amp)
    run_and_report(request)
