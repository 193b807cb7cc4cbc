"""``mmarctl train``: train an MMAR (Clara's train.sh / train_2gpu.sh)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mmarctl.commands._common import (AmpOption, MmarArgument, SetOption, TrackingOption,
                                      TrackingUriOption)
from mmarctl.commands.launch_options import (CpuOption, GpusOption, HostfileOption,
                                             HostsOption, LauncherOption,
                                             multi_gpu_requested, refuse_idle_launch_options,
                                             worker_argv)
from mmarctl.locks import lock_folder, scoped
from mmarctl.runtime.run_settings import MAX_SEED

EpochsOption = Annotated[Optional[int], typer.Option(
    "--epochs", min=1, metavar="N", help="Epochs to train (sets the global `epochs`).")]


def _positive(value: Optional[float]) -> Optional[float]:
    if value is not None and not (math.isfinite(value) and value > 0):  # NaN, inf too
        raise typer.BadParameter(f"must be a finite number above 0 (got {value:g})")
    return value


LearningRateOption = Annotated[Optional[float], typer.Option(
    "--learning-rate", "--lr", metavar="FLOAT", callback=_positive,
    help="Initial learning rate, > 0 (sets the global `learning_rate`).")]
LrScaleOption = Annotated[Optional[float], typer.Option(
    "--lr-scale", metavar="FLOAT", callback=_positive,
    help="Multiply the learning rate the run would use (the config's, or --learning-rate's / "
         "--set's) by this factor; commands/train_2gpu*.sh pass 2 for their 2x global batch.")]
SeedOption = Annotated[Optional[int], typer.Option(
    "--seed", min=0, max=MAX_SEED, metavar="INT",
    help="Seed every random generator and make TensorFlow deterministic "
         "(overrides `determinism`); a CPU run is then repeatable.")]
ConfigTrainOption = Annotated[str, typer.Option(
    "--config-train", "-c", metavar="FILE",
    help="Training config in config/ (or a path relative to the MMAR), e.g. trn_base.json.")]
def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    mmar: MmarArgument = None,
    set_: SetOption = None,
    epochs: EpochsOption = None,
    learning_rate: LearningRateOption = None,
    lr_scale: LrScaleOption = None,
    seed: SeedOption = None,
    config_train: ConfigTrainOption = "config_train.json",
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run stopped by Ctrl-C/SIGTERM/SIGHUP from "
                         "MMAR_CKPT_DIR/resume/ (last finished epoch, optimizer state), "
                         "with the run's --set values unless given again; a different "
                         "value is refused, except a higher --epochs.")]
        = False,
    gpus: GpusOption = 1,
    cpu: CpuOption = False,
    hosts: HostsOption = None,
    hostfile: HostfileOption = None,
    launcher: LauncherOption = "gloo",
    tracking: TrackingOption = None,
    tracking_uri: TrackingUriOption = None,
    amp: AmpOption = None,
) -> None:
    """Train the MMAR's model; the best checkpoint goes to MMAR_CKPT_DIR/model.ckpt
    (MMAR_CKPT_DIR is models/ unless environment.json or --set says otherwise).

    The config is checked before any compute. Validation runs every
    num_training_epoch_per_valid epochs; TensorBoard events, the metrics history and the
    learning curves are written beside the checkpoints.

    Example: mmarctl train my-exp --epochs 20 --set DATA_ROOT=/data/spleen DATASET_JSON=/data/spleen/dataset_0.json
    """
    run_training("train", mmar, set_, epochs=epochs, learning_rate=learning_rate, seed=seed,
                 config_train=config_train, resume=resume, gpus=gpus, cpu=cpu, hosts=hosts,
                 hostfile=hostfile, launcher=launcher, tracking=tracking,
                 tracking_uri=tracking_uri, amp=amp, lr_scale=lr_scale)


def overrides_from(set_items: list[str] | None, epochs: int | None,
                   learning_rate: float | None) -> dict[str, Any]:
    """``--set`` items plus the plain flags mapped onto Clara's globals."""
    from mmarctl.variables import parse_set_items

    overrides = parse_set_items(set_items)
    if epochs is not None:
        overrides["epochs"] = epochs
    if learning_rate is not None:
        overrides["learning_rate"] = learning_rate
    return overrides


def scaled_learning_rate(workspace: Any, config_train: str, set_items: list[str] | None,
                         learning_rate: float | None, factor: float) -> float:
    """``--lr-scale``: ``factor`` x the learning rate the run would otherwise use:
    ``--learning-rate``, else ``--set learning_rate=``, else the training config's global.

    Read when the run starts, so commands/train_2gpu.sh follows the config when it is
    edited (a rate written into the script when it was generated did not).

    Raises:
        UsageError: there is no number to scale.
    """
    from mmarctl.check.mmar import given_config_path
    from mmarctl.errors import MmarError, UsageError
    from mmarctl.jsonio import load_json
    from mmarctl.variables import parse_set_items

    base: Any = learning_rate
    where = "--learning-rate"
    if base is None:
        base, where = parse_set_items(set_items).get("learning_rate"), "--set learning_rate"
    if base is None:
        # The resolved value, as the run reads it: environment.json's learning_rate (or a
        # `{VAR}` it names) replaces the config's own.
        path = given_config_path(workspace, config_train)
        config = load_json(path, shown_as=workspace.display(path))  # missing/broken: one line
        try:
            config = workspace.resolve(config_train, parse_set_items(set_items)).data
        except MmarError:
            pass  # an unresolved placeholder: the raw value is named below
        base = config.get("learning_rate") if isinstance(config, dict) else None
        where = f"{workspace.display(path)}'s learning_rate"
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise UsageError(f"--lr-scale needs a number to scale, but {where} is "
                         f"{'missing' if base is None else repr(base)}",
                         hint="give the rate itself: --learning-rate FLOAT")
    return float(base) * factor


@scoped
def run_training(verb: str, mmar: str | None, set_items: list[str] | None, *,
                 epochs: int | None, learning_rate: float | None, seed: int | None,
                 config_train: str, resume: bool, gpus: int, cpu: bool, hosts: str | None,
                 hostfile: Path | None, launcher: str, finetune: bool = False,
                 tracking: str | None = None, tracking_uri: str | None = None,
                 amp: bool | None = None, lr_scale: float | None = None) -> None:
    """Shared by train and finetune: launch workers, or build and run the plan here.

    Holds the lock on the checkpoint folder (MMAR_CKPT_DIR, default models/) throughout
    (mmarctl.locks): a second run on the same MMAR stops at once. A launching process takes
    it and hands it down; its workers take none.
    """
    from mmarctl.console import keep_working_without_reader
    keep_working_without_reader()  # `| head` ends the output, not the work
    from mmarctl.errors import UsageError
    from mmarctl.workspace import Workspace

    workspace = Workspace.locate(mmar)
    workspace.require_clara3()
    from mmarctl.check.preflight import require_usable_config

    require_usable_config(workspace, "train", config_train)  # trn_base.json hint, FL configs
    if launcher not in ("gloo", "mpirun"):
        raise UsageError(f"--launcher must be gloo or mpirun (got {launcher})")
    if resume and finetune:
        raise UsageError("--resume continues a run; finetune starts one: use `train --resume`")
    from mmarctl.tracking.settings import check_cli_options

    check_cli_options(tracking, tracking_uri)  # a bad --tracking-uri stops before any work
    if lr_scale is not None:  # from here on as if --learning-rate had been given the product
        learning_rate = scaled_learning_rate(workspace, config_train, set_items, learning_rate,
                                             lr_scale)
    from mmarctl import launcher as launch_module

    checkpoint_dir = training_checkpoint_dir(
        workspace, config_train, overrides_from(set_items, epochs, learning_rate))
    from mmarctl.check.output_folders import require_output_folder

    # before the lock creates it: a Clara container path (/workspace/mmars/...) is refused
    require_output_folder(workspace, "MMAR_CKPT_DIR", checkpoint_dir,
                          overrides_from(set_items, epochs, learning_rate))
    models_lock = lock_folder(checkpoint_dir, display=workspace.display(checkpoint_dir))

    launch_options = None
    run_overrides = overrides_from(set_items, epochs, learning_rate)  # a resume adds its own
    if not launch_module.is_worker():
        from mmarctl.runtime.training import resume_settings

        _say_if_search_ignored(workspace, config_train)
        # The launch options as given (before multi_gpu may raise --gpus): the interrupt
        # warning of the workers repeats them.
        launch_options = resume_settings.launch_options(gpus, cpu, hosts, hostfile, launcher)
        if resume:  # before any worker or TensorFlow starts
            resume_settings.require_resume_state(workspace, checkpoint_dir)
            # A refused resume (another --set value, an edited config) is said here, once,
            # whatever the number of workers; they, and the plan, ask again (same answer).
            run_overrides, _, stopped = resume_settings.resume_overrides(
                workspace, config_train, run_overrides, checkpoint_dir / "resume")
            resume_settings.resume_seed(stopped, seed)  # another --seed: refused here, once
        else:
            from mmarctl.console import err

            warning = resume_settings.stopped_run_warning(workspace, checkpoint_dir, verb)
            if warning:
                err.print(warning, markup=False, highlight=False)
    if not (gpus > 1 or hosts or hostfile):
        # `multi_gpu: true` (config or --set) asks for one worker per GPU, as --gpus does.
        overrides = overrides_from(set_items, epochs, learning_rate)
        gpus = launch_module.processes_for(gpus, multi_gpu_requested(workspace, config_train,
                                                                     overrides))
        if gpus == 1 and not launch_module.is_worker():
            refuse_idle_launch_options(cpu, launcher)
    finetune_from = None
    if finetune:
        finetune_from = _finetune_start(workspace, checkpoint_dir,
                                        overrides_from(set_items, epochs, learning_rate))
    if gpus > 1 or hosts or hostfile:
        # The workers' pre-flight, once, here: a config or data mistake is one line, before
        # any worker (and TensorFlow, and ssh to other hosts) starts.
        import os

        from mmarctl.runtime.plan import TrainOptions, preflight
        from mmarctl.runtime.training.resume_settings import LAUNCH_OPTIONS_ENV

        preflight(workspace, TrainOptions(config=config_train, overrides=run_overrides,
                                          resume=resume, finetune_from=finetune_from))
        cases = training_cases(workspace, workspace.resolve(config_train, run_overrides).data)
        if cases is not None:
            launch_module.require_items_per_worker(cases, gpus, hosts, hostfile)
        argv = worker_argv(verb, workspace.root, [*(set_items or []), "multi_gpu=true"],
                            epochs=epochs, learning_rate=learning_rate, seed=seed,
                            config_train=config_train, resume=resume, tracking=tracking,
                            tracking_uri=tracking_uri, amp=amp)
        os.environ[LAUNCH_OPTIONS_ENV] = launch_options or ""  # inherited by the workers
        launched_at = time.time()
        try:
            launch_module.launch(argv, gpus=gpus, cpu=cpu, hosts=hosts, hostfile=hostfile,
                                 launcher=launcher, locks=[models_lock] if models_lock else [])
        except KeyboardInterrupt:
            _say_saved_resume_state(workspace, checkpoint_dir, since=launched_at)
            raise
        finally:
            os.environ.pop(LAUNCH_OPTIONS_ENV, None)
        return

    from mmarctl.console import counted, err, out
    from mmarctl.runtime import logs
    from mmarctl.runtime.plan import TrainOptions, TrainingPlan
    from mmarctl.workspace import shown_from_here

    # TensorFlow is imported by TrainingPlan.build after its pre-flight: a config mistake
    # costs no TensorFlow start-up.
    logs.configure(workspace.log_config)
    overrides = overrides_from(set_items, epochs, learning_rate)
    options = TrainOptions(config=config_train, overrides=overrides, seed=seed, resume=resume,
                           finetune_from=finetune_from, tracking=tracking,
                           tracking_uri=tracking_uri, amp=amp)
    plan = TrainingPlan.build(workspace, options)
    _label_other_ranks(plan.backend)
    if plan.backend.is_chief:  # one header per job, beside rank 0's progress bar
        # finetune names the weights it starts from (MMAR_CKPT, else MMAR_CKPT_DIR/model.ckpt)
        start = f", from {workspace.display(Path(finetune_from))}" if finetune_from else ""
        err.print(f"{verb}: {counted(plan.state.epochs, 'epoch')} x "
                  f"{counted(plan.state.steps_per_epoch, 'step')}, "
                  f"starting at epoch {plan.state.start_epoch + 1}{start}", highlight=False)
    state = plan.run()
    if plan.backend.is_chief:
        if state.key_metric and state.best_epoch >= 0:
            best = (f"best {state.key_metric}={state.best_metric:.4f} at epoch "
                    f"{state.best_epoch + 1}")
        elif state.key_metric:  # validated, but never a number: model.ckpt is the last epoch
            best = f"no finite {state.key_metric} in any validation (model.ckpt is the last epoch's)"
        else:
            best = "no validation metric"
        out.print(f"trained {counted(state.epochs - state.start_epoch, 'epoch')}; {best}; "
                  f"models in {shown_from_here(plan.checkpoint_dir)}", highlight=False)


def _finetune_start(workspace: Any, checkpoint_dir: Path, overrides: dict[str, Any]) -> str:
    """The checkpoint finetune starts from: ``MMAR_CKPT``, else MMAR_CKPT_DIR/model.ckpt.

    Raises:
        RuntimeFailure: there is no checkpoint there.
    """
    from mmarctl.runtime.checkpoint import checkpoint_prefix

    resolved_env = workspace.variables({}, overrides)
    start = str(resolved_env.get("MMAR_CKPT") or checkpoint_dir / "model.ckpt")
    if checkpoint_prefix(start) is None:
        raise _no_finetune_checkpoint(workspace, Path(start), checkpoint_dir)
    return start


def _no_finetune_checkpoint(workspace: Any, start: Path, checkpoint_dir: Path) -> Exception:
    """The error for a ``MMAR_CKPT`` that is no checkpoint: nothing there, or a model file
    without trainable variables (a frozen graph, SavedModel, ONNX model), which ``check``
    notes as "finetune: no (no variables)"."""
    from mmarctl.errors import RuntimeFailure
    from mmarctl.model_files import scan_model
    from mmarctl.model_files.inventory import LABELS

    shown = workspace.display(start)
    default = workspace.display(Path(checkpoint_dir) / "model.ckpt")
    item = scan_model(start) if start.exists() else None
    if item is not None and item.kind in ("frozen_graph", "tftrt_graph", "saved_model", "onnx",
                                          "tensorrt_engine"):
        return RuntimeFailure(f"{shown} is an exported model ({LABELS[item.kind]}) without "
                              f"trainable variables: finetune needs a checkpoint "
                              f"(e.g. {default})",
                              hint="pass --set MMAR_CKPT=path/to/model.ckpt, or train first")
    if start.exists():
        return RuntimeFailure(f"{shown} is not a checkpoint: finetune needs one to start from "
                              f"(a prefix such as {default}, whose .index/.data files exist)",
                              hint="pass --set MMAR_CKPT=path/to/model.ckpt, or train first")
    return RuntimeFailure(f"finetune needs a checkpoint to start from; none at {shown}",
                          hint="train first, or pass --set MMAR_CKPT=path/to/model.ckpt")


def _say_saved_resume_state(workspace: Any, checkpoint_dir: Path, *, since: float) -> None:
    """After stopping workers, the last line before "interrupted": where rank 0 saved the
    resume state and the command that continues it, or that none was saved. Rank 0 says so
    too, but under mpirun its line is often lost as the job is torn down, and a rank stopped
    inside a collective its peer left (mpirun on a loaded machine) cannot save at all."""
    from mmarctl.console import err
    from mmarctl.runtime.training.resume_settings import RUN_FILE, read_run_settings

    resume_dir = checkpoint_dir / "resume"
    try:
        fresh = (resume_dir / RUN_FILE).stat().st_mtime >= since
        command = (read_run_settings(resume_dir) or {}).get("resume_with") if fresh else None
    except Exception:  # none saved, or unreadable
        command = None
    complete = (resume_dir / "model.ckpt.index").is_file()
    if isinstance(command, str) and command and complete:
        err.print(f"resumable state saved in {workspace.display(resume_dir)} "
                  f"(continue with `{command}`)", markup=False, highlight=False)
    elif (checkpoint_dir / "model.ckpt.index").is_file():
        err.print("no resumable state was saved (the workers stopped before rank 0 could "
                  f"save one); {workspace.display(checkpoint_dir)}/model.ckpt holds the last "
                  "checkpoint saved, to finetune from", markup=False, highlight=False)
    else:
        err.print("no resumable state was saved (the workers stopped before rank 0 could "
                  "save one)", markup=False, highlight=False)


def training_checkpoint_dir(workspace: Any, config_train: str,
                            overrides: dict[str, Any]) -> Path:
    """The folder a training run writes (and locks): the training config's
    ``MMAR_CKPT_DIR``, from its globals, environment.json or ``--set``, else models/.

    Read before the config is resolved, so that the lock is taken first; a config that
    cannot be read is reported, with its file and line, when it is resolved.

    Raises:
        ConfigError: environment.json is not an object, or MMAR_CKPT_DIR cannot be resolved.
    """
    from mmarctl.errors import MmarError

    try:
        raw = workspace.load(config_train)
    except MmarError:
        raw = {}
    return workspace.checkpoint_dir(workspace.variables(raw if isinstance(raw, dict) else {},
                                                        overrides))


def training_cases(workspace: Any, config: Any) -> tuple[int, str] | None:
    """How many items the resolved training config's training list holds, and where it is
    (``data/dataset_0.json's 'training' list``); None when that cannot be told without
    building the pipeline (a custom pipeline's own arguments, an unreadable list).

    A launch of more workers than items is refused
    (:func:`mmarctl.launcher.require_items_per_worker`): each needs one of its own.
    """
    from mmarctl.check.label_table import read_datalist

    train = config.get("train") if isinstance(config, dict) else None
    pipeline = train.get("image_pipeline") if isinstance(train, dict) else None
    args = pipeline.get("args") if isinstance(pipeline, dict) else None
    if not isinstance(args, dict) or not isinstance(args.get("data_list_file_path"), str):
        return None
    key = args.get("data_list_key")
    key = key if isinstance(key, str) and key else "training"
    path = Path(workspace.resolve_path_value("DATASET_JSON", args["data_list_file_path"]))
    datalist = read_datalist(path)
    items = datalist.get(key) if isinstance(datalist, dict) else None
    if not isinstance(items, list) or not items:
        return None
    return len(items), f"{workspace.display(path)}'s {key!r} list"


def _say_if_search_ignored(workspace: Any, config_train: str) -> None:
    """One line when the training config holds AutoML annotations: train runs the values
    written in it (a list of alternatives without one default is refused when resolved)."""
    from mmarctl.errors import MmarError
    from mmarctl.search.space import has_annotations

    try:
        raw = workspace.load(config_train)
    except MmarError:
        return  # reported, with its file and line, when the config is resolved
    if has_annotations(raw):
        from mmarctl.console import err

        err.print(f"note: {workspace.display(workspace.config_path(config_train))} has AutoML "
                  "search annotations: training the values written in it (`mmarctl automl` "
                  "runs the search)", highlight=False)


def _label_other_ranks(backend: Any) -> None:
    """Prefix log lines of ranks other than 0 with ``[rank N]`` (multi-process runs)."""
    if backend.size > 1:
        from mmarctl.runtime.distributed import attach_rank_filter

        attach_rank_filter(backend)
