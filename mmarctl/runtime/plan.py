"""Build a training run from an MMAR's resolved configs, then run it.

:meth:`TrainingPlan.build` does everything that can fail on a bad config or bad data before
any compute is spent: schema check, every component built (file + JSON path on failure),
the first training item processed (label range, image/label shapes, readable files), the
optimizer and learning-rate schedule made, and the starting weights loaded (finetune) or
the training state restored (``--resume``). :meth:`TrainingPlan.run` then trains.

Globals read from ``config_train.json`` (after environment.json and ``--set``): ``epochs``,
``learning_rate``, ``num_training_epoch_per_valid`` (default 1), ``use_amp``,
``determinism`` (``random_seed``/``tf_seed``/``numpy_seed``), ``train_summary_recording_interval``
(default 1), ``multi_gpu`` (read by the train command, which launches one worker per GPU
when it is true; inside a worker the process count decides), ``MMAR_CKPT``
(finetune).
"""

from __future__ import annotations

import logging
import math
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping

from mmarctl.errors import ConfigError, DataError, RuntimeFailure
from mmarctl.runtime import logs
from mmarctl.runtime.builder import ComponentBuilder
from mmarctl.runtime.run_settings import config_seed, read_train_settings
from mmarctl.workspace import ResolvedConfig, Workspace

log = logging.getLogger("mmarctl.train")

#: Default training config, as Clara's train.sh passes it.
TRAIN_CONFIG = "config_train.json"


@dataclass
class TrainOptions:
    """What the command line adds to the config.

    Attributes:
        config: the training config (``config_train.json``, ``trn_base.json`` ...).
        overrides: ``--set`` values (and ``--epochs``/``--learning-rate`` mapped onto globals).
        seed: ``--seed``; overrides ``determinism`` and makes the run repeatable on CPU.
        resume: continue from ``MMAR_CKPT_DIR/resume/`` (``--resume``).
        finetune_from: a checkpoint prefix to start from (``finetune``), or None.
        jit: XLA-compile the training step (None: off; it measured slower on small CPUs).
        amp: ``--amp`` (True) / ``--no-amp`` (False) over the config's ``use_amp``; None
            keeps the config's (mmarctl.runtime.precision decides what it means here).
        progress: draw the progress bar / log lines.
        tracking: ``--tracking`` (None, "mlflow" or "none"); see mmarctl.tracking.
        tracking_uri: ``--tracking-uri``.
    """

    config: str = TRAIN_CONFIG
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    resume: bool = False
    finetune_from: str | None = None
    jit: bool | None = None
    amp: bool | None = None
    progress: bool = True
    tracking: str | None = None
    tracking_uri: str | None = None


def get_backend() -> Any:
    """The distributed backend (Horovod when launched under it, else one process)."""
    try:
        from mmarctl.runtime import distributed
    except ImportError:
        return SingleProcess()
    for name in ("get_backend", "backend", "current"):
        factory = getattr(distributed, name, None)
        if callable(factory):
            return factory()
    single = getattr(distributed, "SingleProcess", None)
    return single() if single is not None else SingleProcess()


class SingleProcess:
    """The one-process backend, used until the distributed module provides its own."""

    rank, size, local_rank, is_chief = 0, 1, 0, True

    def broadcast_variables(self, variables: Any) -> None:
        """Nothing to share with one process."""

    def allreduce_gradients(self, gradients: Any) -> Any:
        return gradients

    def allreduce_mean(self, value: Any) -> Any:
        return value

    def shard(self, items: list) -> list:
        return items

    def share(self, items: list) -> list:
        return list(items)


def check_config(kind: str, resolved: ResolvedConfig, workspace: Workspace | None = None,
                 overrides: Mapping[str, Any] | None = None) -> None:
    """Check a config before any compute; the first problem stops the run.

    With the workspace, this is ``mmarctl check`` on that one file (schema, component names
    and arguments, ``ref``, BYOC paths, the datalist and the files it names); without it,
    the schema check of the resolved config.

    Raises:
        ConfigError: naming the file and JSON path of the first problem.
    """
    from mmarctl.problems import ERROR

    if workspace is not None:
        from mmarctl.check import check_mmar

        path = str(workspace.root / resolved.file)
        if kind == "config_train":
            report = check_mmar(workspace, overrides, train_config=path, validation_configs=[])
        else:
            report = check_mmar(workspace, overrides, validation_configs=[path])
        problems = report.problems
    else:
        from mmarctl.schemas.validator import validate

        problems = [p for p in validate(kind, resolved.data, resolved.file)
                    if p.severity == ERROR]
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more; run `mmarctl check`)" if len(problems) > 1 else ""
        raise ConfigError(first.message + more, file=first.file or resolved.file,
                          json_path=first.json_path or None)


def seed_from(config: Mapping[str, Any], seed: int | None, file: str) -> int | None:
    """The run's seed: ``--seed``, else ``determinism.random_seed`` (or tf/numpy seed)."""
    return int(seed) if seed is not None else config_seed(config, file)


def apply_seed(seed: int | None) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's ops deterministic."""
    if seed is None:
        return
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


#: Signals that stop a run the way Ctrl-C does, saving a resumable state: SIGTERM (a job
#: scheduler, ``kill``) and SIGHUP (the terminal or ssh session went away), where it exists.
INTERRUPT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                          if hasattr(signal, name))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP like Ctrl-C for the duration, so training saves a
    resumable state (by default either signal kills the process with nothing saved).

    A SIGINT ignored since the start (a job in the background of a non-interactive shell:
    the shell's default, not the user's wish) stops the run too, as it does a launched
    one (mmarctl.launcher) and as it did already when it arrived during an epoch's
    bookkeeping (mmarctl.runtime.interrupts): one rule, ``kill -INT`` stops a run."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    try:
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)
        for signum in INTERRUPT_SIGNALS:
            if signum == getattr(signal, "SIGHUP", None) and \
                    signal.getsignal(signum) == signal.SIG_IGN:
                continue  # `nohup mmarctl train ...`: the run is meant to outlive the terminal
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: leave signals alone
        for signum, before in previous.items():
            signal.signal(signum, before)
        yield
        return
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


def _with_stopped_run_settings(workspace: Workspace, options: TrainOptions,
                               backend: Any) -> tuple[TrainOptions, dict[str, Any] | None]:
    """``options`` with the ``--set`` values and seed the stopped run was started with (kept
    in ``resume/run.json``) where they are not given again; ``epochs`` raised when asked (on
    the command line or in the config); and the stopped run's settings (None: none kept).

    Raises:
        UsageError: a value given again differs from the stopped run's (epochs: lower), or
            a setting that shapes the run was edited in the config.
    """
    import dataclasses

    from mmarctl.runtime.training.callbacks import RESUME_DIR
    from mmarctl.runtime.training.resume_settings import (require_resume_state,
                                                          resume_overrides, resume_seed)

    variables = workspace.resolve(options.config, options.overrides).variables
    resume_dir = workspace.checkpoint_dir(variables) / RESUME_DIR
    require_resume_state(workspace, resume_dir.parent)  # nothing to resume: said first
    overrides, notes, saved = resume_overrides(workspace, options.config, options.overrides,
                                               resume_dir)
    seed = resume_seed(saved, options.seed)  # the stopped run's: a plain --resume repeats
    if backend.is_chief:
        from mmarctl.console import err

        for note in notes:
            err.print(note, markup=False, highlight=False)
    return dataclasses.replace(options, overrides=overrides, seed=seed), saved


def preflight(workspace: Workspace, options: TrainOptions) -> ResolvedConfig:
    """What a training run checks before TensorFlow starts: the config and the data it names
    (``mmarctl check`` on it) and, for finetune, the checkpoint it starts from. The command
    that launches the workers of ``--gpus N`` runs it too, so a mistake is said once.

    Raises:
        ConfigError, DataError, RuntimeFailure: the first problem.
    """
    resolved = workspace.resolve(options.config, options.overrides)
    check_config("config_train", resolved, workspace, options.overrides)
    if options.finetune_from and not options.resume:
        # The checkpoint finetune starts from, as check describes it (damaged, or written
        # for another network), before TensorFlow too.
        from pathlib import Path

        from mmarctl.check.preflight import check_model_file
        from mmarctl.runtime.checkpoint import checkpoint_prefix

        start = checkpoint_prefix(options.finetune_from) or options.finetune_from
        check_model_file(workspace, options.overrides, Path(start),
                         config=options.config, weights_only=True)
    return resolved


def resume_command(workspace: Workspace, config: str) -> str:
    """The command that resumes a run of ``workspace`` (shown when a run is stopped), with
    the launch options (``--gpus 2 --cpu``) the launching process passed down."""
    from mmarctl.runtime.training.resume_settings import resume_command as command

    return command(workspace, config)


def _section(data: Mapping[str, Any], key: str, file: str) -> dict:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError(f"the {key!r} section is missing", file=file, json_path=key)
    return dict(value)


def _phase(options: TrainOptions, stopped: Mapping[str, Any] | None) -> str:
    """``finetune`` or ``train``: a resumed run is what the stopped run was (a finetune
    continued with ``train --resume`` stays a finetune in the history and summary)."""
    if options.resume:
        phase = (stopped or {}).get("phase")
        return phase if phase in ("train", "finetune") else "train"
    return "finetune" if options.finetune_from else "train"


def counted_steps(steps: int) -> str:
    """``1 step`` / ``3 steps``."""
    return f"{steps} step" + ("" if steps == 1 else "s")


class TrainingPlan:
    """A fully built training run. Create it with :meth:`build`, start it with :meth:`run`."""

    def __init__(self, **parts: Any) -> None:
        self.__dict__.update(parts)

    # -- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, workspace: Workspace, options: TrainOptions,
              backend: Any = None) -> "TrainingPlan":
        """Resolve, check and build everything; load data for one item; restore weights.

        Raises:
            ConfigError, DataError, RuntimeFailure: before any training step.
        """
        backend = backend or get_backend()
        stopped = None
        if options.amp is not None:
            # --amp/--no-amp as the global it overrides: the run's summary, MLflow params
            # and resume/run.json then record the precision asked for (a plain --resume
            # continues in it); options.amp stays, so the precision line names the flag.
            options = replace(options, overrides={**options.overrides, "use_amp": options.amp})
        if options.resume:
            options, stopped = _with_stopped_run_settings(workspace, options, backend)
        resolved = preflight(workspace, options)
        # Only now, after the pre-flight (a config error costs no TensorFlow start-up), and
        # before pin_gpu imports it: TensorFlow loaded quietly, without Keras' unused
        # optional imports (mmarctl.runtime.memory).
        logs.quiet_tensorflow()
        pin_gpu = getattr(backend, "pin_gpu", None)
        if pin_gpu is not None:
            pin_gpu()  # one GPU per process, before TensorFlow touches a device
        data, file = resolved.data, resolved.file
        train = _section(data, "train", file)

        # The same reader as `mmarctl check` (run_settings): one message per bad value.
        settings = read_train_settings(data, resolved.variables, file)
        epochs, learning_rate = settings.epochs, settings.learning_rate
        every, interval, use_amp = settings.every, settings.interval, settings.use_amp
        seed = options.seed if options.seed is not None else settings.seed
        from mmarctl.runtime import precision as precision_policy

        apply_seed(seed)
        # float32, bfloat16 (CPU with AVX-512 BF16/AMX) or float16 (GPU); logged with why.
        precision = precision_policy.for_run(use_amp, options.amp, log)

        from mmarctl.runtime.model_io import build_network, input_spec

        root = workspace.root
        builder = ComponentBuilder(file, root)
        network, model = build_network(resolved, root, builder)
        dims = input_spec(resolved)[0]
        loss = builder.build("losses", train.get("loss", {"name": "Dice"}), "train.loss")
        optimizer_component = builder.build("optimizers", train.get("optimizer",
                                                                    {"name": "Adam"}),
                                            "train.optimizer")
        lr_policy = (builder.build("lr_policies", train["lr_policy"], "train.lr_policy")
                     if train.get("lr_policy") else None)
        transforms = builder.build_list("transforms", train.get("pre_transforms"),
                                        "train.pre_transforms")
        pipeline = builder.build("pipelines", train.get("image_pipeline"), "train.image_pipeline")
        if pipeline is None:
            raise ConfigError("train.image_pipeline is required", file=file,
                              json_path="train.image_pipeline")
        aux_ops = builder.build_list("aux_ops", train.get("aux_ops"), "train.aux_ops")
        handlers = builder.build_list("handlers", train.get("handlers"), "train.handlers")
        # train.batch_transforms (MergeBatchDims) are built, so a bad entry is reported, but
        # not run: the pipeline already flattens croppers' patches into the batch, which is
        # what MergeBatchDims did in Clara.
        builder.build_list("transforms", train.get("batch_transforms"), "train.batch_transforms")

        validate = data.get("validate")
        validation = None
        if isinstance(validate, Mapping) and validate.get("image_pipeline"):
            validation = {
                "transforms": builder.build_list("transforms", validate.get("pre_transforms"),
                                                 "validate.pre_transforms"),
                "pipeline": builder.build("pipelines", validate["image_pipeline"],
                                          "validate.image_pipeline"),
                "metrics": builder.build_list("metrics", validate.get("metrics"),
                                              "validate.metrics"),
                "inferer": builder.build("inferers", validate.get("inferer",
                                                                  {"name": "TFSimpleInferer"}),
                                         "validate.inferer"),
            }

        num_classes = getattr(network, "num_classes", None)
        pipeline.setup(transforms, seed=seed, shard=backend.shard, num_classes=num_classes,
                       spatial_dims=dims, skip_bad_cases=settings.skip_bad_cases)
        shapes = pipeline.preflight()  # reads one item: data errors surface here
        if validation is not None:
            # Each rank validates its own cases, none twice (Validator gathers the metrics).
            validation["pipeline"].setup(validation["transforms"], seed=seed,
                                         shard=backend.share, spatial_dims=dims,
                                         skip_bad_cases=settings.skip_bad_cases)
            validation["pipeline"].items()  # a bad validation list fails now, not after epoch 1
        steps = pipeline.steps_per_epoch()

        schedule = (lr_policy.build(learning_rate, steps, epochs) if lr_policy is not None
                    else learning_rate)
        optimizer = optimizer_component.build(schedule)
        optimizer = precision.wrap_optimizer(optimizer)  # loss scaling under float16 only
        # Its slots now, not in the first step's trace: Keras marks an optimizer built before
        # it adds the moments, so a Ctrl-C in that trace left one that looked built but had
        # none, and the resume state saved from it could not be resumed.
        optimizer.build(model.trainable_variables)

        from mmarctl.runtime import checkpoint
        from mmarctl.runtime.training.contract import TrainState

        metrics = validation["metrics"] if validation else []
        key = next((m.name for m in metrics if getattr(m, "is_key_metric", False)),
                   metrics[0].name if metrics else None)
        state = TrainState(epochs=epochs, steps_per_epoch=steps, key_metric=key)
        # Where this run writes, and where validate/infer/export will read: MMAR_CKPT_DIR.
        checkpoint_dir = workspace.checkpoint_dir(resolved.variables)
        if options.resume:
            from mmarctl.runtime.training.resume_settings import require_resume_state

            prefix = require_resume_state(workspace, checkpoint_dir)
            saved = checkpoint.restore_training_state(prefix, model, optimizer)
            state.start_epoch = int(saved.get("epoch", -1)) + 1
            state.last_finished_epoch = state.start_epoch - 1
            # The unfinished epoch is trained again from its start, and so is its stretch of
            # the learning-rate schedule: the step count and the optimizer's iterations go
            # back to where the last finished epoch left them (the interrupted epoch's steps
            # are in the saved ones). States saved before finished_steps was kept: full
            # epochs of this run's length.
            finished = int(saved.get("finished_steps", state.start_epoch * steps))
            state.step = state.finished_steps = finished
            # The schedule's position is this run's: finished epochs x its steps per epoch.
            # With another number of workers (another global batch) the stopped run's step
            # count would put it elsewhere; the TensorBoard step axis goes on from the saved
            # count, so it never steps back.
            position = state.start_epoch * steps
            workers = (stopped or {}).get("workers")
            # (a run resumed so once keeps its step axis: its count is no measure then)
            changed = (workers != backend.size if isinstance(workers, int)
                       else position != finished)
            if changed:
                if backend.is_chief:
                    from mmarctl.console import err

                    before = (f"{workers} worker" + ("" if workers == 1 else "s")
                              if isinstance(workers, int) else "another number of workers")
                    old = (f"{finished // state.start_epoch} steps" if state.start_epoch
                           else "its steps")
                    err.print(f"note: --resume: the stopped run had {before}, this one has "
                              f"{backend.size} ({counted_steps(steps)} per epoch instead of "
                              f"{old}; the global batch changes): the learning-rate schedule "
                              f"goes on from epoch {state.start_epoch + 1} of {epochs}",
                              markup=False, highlight=False)
            elif backend.is_chief:
                from mmarctl.runtime.training.resume_settings import (training_data,
                                                                      training_data_note)

                note = training_data_note(stopped, training_data(
                    data, len(pipeline.items()), steps), backend.size)
                if note:
                    from mmarctl.console import err

                    err.print(note, markup=False, highlight=False)
            optimizer.iterations.assign(position)
            state.best_metric = float(saved.get("best_metric", -math.inf))
            state.best_epoch = int(saved.get("best_epoch", -1))
            if state.start_epoch >= epochs:
                raise RuntimeFailure(f"the saved run already finished {state.start_epoch} of "
                                     f"{epochs} epochs", hint="raise --epochs to train longer")
        elif options.finetune_from:
            # mmarctl's checkpoint, or a Clara TF1 one only under a complete 1:1 mapping.
            from mmarctl.console import err
            from mmarctl.runtime.model_sources.weight_import import load_finetune_weights

            load_finetune_weights(options.finetune_from, model,
                                  log=lambda line: err.print(line, markup=False,
                                                             highlight=False)
                                  if backend.is_chief else None)
        if backend.size > 1:
            # Every rank starts from rank 0's weights and optimizer state (its slots exist:
            # built above).
            backend.broadcast_variables(list(model.variables) + list(optimizer.variables))

        return cls(workspace=workspace, options=options, resolved=resolved, backend=backend,
                   network=network, model=model, loss=loss, optimizer=optimizer,
                   pipeline=pipeline, shapes=shapes, validation=validation, aux_ops=aux_ops,
                   handlers=handlers, state=state, every=every, interval=interval,
                   precision=precision, seed=seed, checkpoint_dir=checkpoint_dir,
                   phase=_phase(options, stopped))

    # -- running --------------------------------------------------------------------------
    def engine(self) -> Any:
        """The TensorFlow engine for this plan."""
        from mmarctl.runtime.training.tf_engine import TFEngine, Validator, make_aux

        validator = None
        if self.validation is not None:
            validator = Validator(self.validation["pipeline"], self.validation["inferer"],
                                  self.validation["metrics"], make_aux(self.loss, self.aux_ops),
                                  self.backend)
        return TFEngine(self.model, self.loss, self.optimizer, self.pipeline, validator,
                        self.backend, jit=bool(self.options.jit),
                        aux_ops=self.aux_ops)

    def callbacks(self) -> list[Any]:
        """mmarctl's callbacks (chief only), then the config's handlers."""
        from mmarctl.runtime.training.callbacks import CheckpointSaver, ProgressCallback
        from mmarctl.runtime.training.curves import LearningCurvesWriter
        from mmarctl.runtime.training.history import HistoryWriter
        from mmarctl.runtime.training.summaries import TensorBoardSummaries

        own: list[Any] = []
        if self.backend.is_chief:
            has_metrics = bool(self.validation and self.validation["metrics"])
            from mmarctl.runtime.training.resume_settings import (shaping_settings,
                                                                  training_data)

            own = [CheckpointSaver(self.checkpoint_dir, self.model, self.optimizer,
                                   has_metrics, overrides=self.options.overrides,
                                   resume_with=resume_command(self.workspace,
                                                              self.options.config),
                                   workers=self.backend.size,
                                   settings=shaping_settings(self.resolved.data),
                                   seed=self.seed, start=self.options.finetune_from,
                                   phase=self.phase,
                                   training_data=training_data(
                                       self.resolved.data, len(self.pipeline.items()),
                                       self.state.steps_per_epoch)),
                   TensorBoardSummaries(self.checkpoint_dir, self.interval,
                                        fresh=not self.options.resume),
                   HistoryWriter(self.checkpoint_dir, self.phase,
                                 settings=self.options.overrides, seed=self.seed),
                   # after HistoryWriter: it draws from the line just written
                   LearningCurvesWriter(self.checkpoint_dir),
                   ProgressCallback(self.phase, enabled=self.options.progress)]
        from mmarctl.runtime.training.tracking import tracking_callbacks

        own += tracking_callbacks(self)  # last of ours: uploads the curves drawn above
        return own + (list(self.handlers) if self.backend.is_chief else [])

    def run(self) -> Any:
        """Train; returns the final :class:`TrainState`.

        Raises:
            RuntimeFailure: NaN loss; KeyboardInterrupt after saving
                ``MMAR_CKPT_DIR/resume/``.
        """
        from mmarctl.runtime.training import contract

        engine = self.engine()
        callbacks = self.callbacks()
        self.last_engine = engine
        try:
            with sigterm_as_interrupt():
                state = contract.run(engine, self.state, callbacks, validate_every=self.every,
                                     has_validation=engine.validator is not None)
            self._report_skipped()
            return state
        except DataError as error:
            # A case broke mid-run: nothing of this epoch was written (checkpoints are saved
            # only after validation / at an epoch's end), so the last good one is intact.
            raise DataError(f"epoch {self.state.epoch + 1}: {error.message}", file=error.file,
                            json_path=error.json_path,
                            hint=self._kept_hint(error.hint)) from error
        finally:
            for callback in callbacks:
                close = getattr(callback, "close", None) or getattr(callback, "_close", None)
                if close is not None:
                    close()
            self.pipeline.close()
            if self.validation is not None:
                self.validation["pipeline"].close()


    def _report_skipped(self) -> None:
        """One closing line counting the cases ``skip_bad_cases`` left out."""
        pipelines = [self.pipeline] + ([self.validation["pipeline"]] if self.validation else [])
        count = sum(len(getattr(p, "skipped", {})) for p in pipelines)
        if count:
            log.warning("skipped %d unusable case(s) (skip_bad_cases is true; each is named "
                        "in a warning above)", count)

    def _kept_hint(self, hint: str | None) -> str:
        from mmarctl.runtime import checkpoint
        from mmarctl.runtime.training.callbacks import BEST

        best = self.checkpoint_dir / BEST
        parts = [hint] if hint else []
        if self.backend.is_chief and checkpoint.exists(best):
            parts.append(f"the last good checkpoint {self.workspace.display(best)} is intact")
        parts.append("set \"skip_bad_cases\": true in the config to skip such cases")
        return "; ".join(parts)


def train(workspace: Workspace, options: TrainOptions, backend: Any = None) -> Any:
    """Build and run a training plan; returns the final state."""
    plan = TrainingPlan.build(workspace, options, backend)
    return plan.run()
