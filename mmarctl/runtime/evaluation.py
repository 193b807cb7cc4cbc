"""``validate`` and ``infer``: run config_validation.json over a datalist or given images.

As Clara's ``nvmidl.apps.evaluate`` (validate.sh / infer.sh), for each case::

    pre_transforms (image) -> label_transforms (validate only) -> inferer(model_loader's predict)
    -> "model" field (channels first) -> post_transforms -> val_metrics (validate) / writers (infer)

The datalist is ``DATASET_JSON`` with key ``DATA_LIST_KEY`` (default ``validation``; paths
relative to ``DATA_ROOT``), or ``--input`` files. Outputs go to ``MMAR_EVAL_OUTPUT_PATH``
(default ``eval/``): for validate ``metrics.json``, ``metrics_per_case.csv`` and
``metrics_summary.txt`` (min, max, mean per metric, Clara-style), and ``predictions.csv``
(truth, prediction and scores per case) for a classification network; for infer whatever the
writers write, plus ``classification_results.csv`` for a classification network when no
writer is configured.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mmarctl.errors import ConfigError, DataError, RuntimeFailure, UsageError, disk_full
from mmarctl.jsonio import load_json
from mmarctl.locks import lock_folder, scoped
from mmarctl.runtime import argcheck, logs, user_code
from mmarctl.runtime.builder import ComponentBuilder
from mmarctl.runtime.pipelines.base import case_name, check_label_values, run_chain
from mmarctl.runtime.transforms.resample import drop_singleton_axis
from mmarctl.runtime.run_settings import read_eval_settings
from mmarctl.runtime.writers.case_names import CASE_KEY, case_names
from mmarctl.shell_words import shell_word
from mmarctl.workspace import ResolvedConfig, Workspace, shown_from_here

log = logging.getLogger("mmarctl.evaluate")

VALIDATION_CONFIG = "config_validation.json"


@dataclass
class EvalOptions:
    """Command-line choices for validate / infer.

    Attributes:
        config: the validation config (``config_validation.json``).
        train_config: the training config whose model section the CheckpointLoader builds.
        overrides: ``--set`` values.
        inputs: image files to infer on instead of the datalist.
        output: output folder (sets ``MMAR_EVAL_OUTPUT_PATH``).
        model: ``"ckpt"``, ``"fzn"`` or ``"onnx"`` (``--model``) to replace the config's
            ``model_loader`` (see :func:`model_loader_entry`); None keeps the config's.
        progress: draw progress.
        preview: infer only: a PNG per case of the prediction over the image
            (``<output>/preview/<case>_preview.png``, see :mod:`mmarctl.report.collector`).
        amp: ``--amp``/``--no-amp`` over ``use_amp`` (the validation config's, else the
            training config's); None keeps the config's. Checkpoint models only.
    """

    config: str = VALIDATION_CONFIG
    train_config: str = "config_train.json"
    overrides: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] | None = None
    output: str | None = None
    model: str | None = None
    progress: bool = True
    preview: bool = False
    amp: bool | None = None


@dataclass
class EvalReport:
    """What a validate/infer run produced."""

    cases: int
    output_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    per_case: dict[str, dict[str, float]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    report: Path | None = None  # validate: eval/report.html (None when it failed)
    previews: list[Path] = field(default_factory=list)  # infer --preview
    preview_note: str | None = None  # why there is no preview
    skipped: dict[str, str] = field(default_factory=dict)  # case -> why (skip_bad_cases)
    chief: bool = True  # rank 0 (or the only process): the one that reports the run


def _network(workspace: Workspace, options: EvalOptions, loader: Any,
             use_amp: Any = None) -> tuple[Any, Any, int, int | None]:
    """(network component, Keras model, spatial dims, input channels) from the training
    config, or Nones (dims 0) without one.

    The model is built under the run's precision (mmarctl.runtime.precision): bfloat16 or
    float16 when ``use_amp`` (the validation config's, else the training config's) or
    ``--amp`` asks for it and the machine has it; exported models run as exported.
    """
    from mmarctl.runtime import precision
    from mmarctl.runtime.model_io import build_network, input_spec

    path = workspace.config_path(options.train_config)
    if not path.is_file():
        if type(loader).__name__ == "CheckpointLoader":
            raise ConfigError("CheckpointLoader builds the network from the training config, "
                              "which is missing", file=workspace.display(path),
                              hint="pass --config-train with the config the model was trained with")
        return None, None, 0, None
    resolved = workspace.resolve(options.train_config, options.overrides)
    if type(loader).__name__ == "CheckpointLoader":
        use_amp = resolved.data.get("use_amp", False) if use_amp is None else use_amp
        use_amp = argcheck.as_bool(use_amp, component=resolved.file, arg="use_amp")
        precision.for_run(use_amp, options.amp, log)
    else:  # the Keras model only tells the output's shape; the export computes
        precision.apply(precision.FLOAT32)
        log.info("precision float32: the exported model runs as it was exported")
    network, model = build_network(resolved, workspace.root, checkpoint_follows=True)
    dims, channels, _ = input_spec(resolved)
    return network, model, dims, channels


def _input_image(name: str) -> str:
    """The absolute path of one ``--input`` image file.

    Raises:
        DataError: it is missing, or a folder.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        raise DataError("--input names a folder; it takes image files", file=name,
                        hint="pass each image with its own --input (e.g. -i "
                             f"{name.rstrip('/')}/case.nii.gz), or list the folder's "
                             "images in a datalist")
    if not path.is_file():
        raise DataError("input image not found", file=name)
    return str(path.resolve())


def _items(workspace: Workspace, variables: Mapping[str, Any],
           options: EvalOptions) -> list[dict[str, Any]]:
    if options.inputs:
        items = []
        for given in options.inputs:
            # A,B,C,D: one case of several files (BraTS's modalities, in the channel order
            # the config's loader reads them), unless the whole text names a file.
            names = ([given] if "," not in given or Path(given).expanduser().exists()
                     else [name for name in given.split(",") if name])
            images = [_input_image(name) for name in names]
            items.append({"image": images[0] if len(images) == 1 else images})
        return items
    datalist = variables.get("DATASET_JSON")
    if not datalist:
        raise ConfigError("DATASET_JSON is not set", file="config/environment.json",
                          hint="set it in environment.json or with --set DATASET_JSON=...")
    key = str(variables.get("DATA_LIST_KEY") or "validation")
    data = load_json(Path(datalist))
    if not isinstance(data, dict) or key not in data or not isinstance(data[key], list):
        present = ", ".join(sorted(data)) if isinstance(data, dict) else "none"
        raise DataError(f"datalist has no list under {key!r}", file=datalist,
                        hint=f"keys present: {present}; choose one with --set DATA_LIST_KEY=...")
    base = Path(variables.get("DATA_ROOT") or Path(datalist).parent)
    items = []
    for entry in data[key]:
        entry = {"image": entry} if isinstance(entry, str) else dict(entry)
        item = {}
        for k, v in entry.items():
            # infer keeps the label's path too (as Clara did): the same pre_transforms run,
            # and a loader over ["image", "label"] (vertebra2d's BYOC NumpyLoader) reads it.
            # Only validate's label_transforms and metrics are left out.
            if isinstance(v, str):
                item[k] = str(v if Path(v).is_absolute() else base / v)
            elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                item[k] = [str(x if Path(x).is_absolute() else base / x) for x in v]
            elif isinstance(v, (list, int, float)):
                item[k] = np.asarray(v, np.float32)
        items.append(item)
    if not items:
        raise DataError(f"datalist key {key!r} holds no items", file=datalist)
    return items


def _channels_last(array: np.ndarray, meta: Mapping[str, Any], dims: int) -> np.ndarray:
    axis = meta.get("channel_axis", 0) if isinstance(meta, Mapping) else 0
    if axis is None or (dims and array.ndim == dims):
        return array[..., None]
    if axis in (-1, array.ndim - 1):
        return array
    return np.moveaxis(array, 0, -1)


@dataclass
class PreparedRun:
    """A validate/infer run checked and resolved, before TensorFlow (:func:`prepare_run`)."""

    options: EvalOptions  # overrides + do_validation, output_infer_result, the output
    resolved: ResolvedConfig  # the validation config
    settings: Any  # read_eval_settings's
    output_dir: Path  # MMAR_EVAL_OUTPUT_PATH, else eval/


def prepare_run(workspace: Workspace, options: EvalOptions, *, mode: str) -> PreparedRun:
    """The run's pre-flight, without TensorFlow: ``mmarctl check``'s checks of what it reads,
    its resolved validation config and output folder. Run by :func:`evaluate`, and once by
    a ``--gpus N`` launch before any worker starts.

    Raises:
        ConfigError, DataError: what ``mmarctl check`` reports in the files this run reads.
    """
    validating = mode == "validate"
    overrides = {"do_validation": validating, "output_infer_result": not validating}
    overrides.update(options.overrides)
    if options.output:
        overrides["MMAR_EVAL_OUTPUT_PATH"] = str(Path(options.output).resolve())
    options = EvalOptions(**{**options.__dict__, "overrides": overrides})
    from mmarctl.check.mmar import config_file_problem, given_config_path
    from mmarctl.check.preflight import check_evaluation, refuse

    # A missing config, an FL or a training config given as the validation config: check's
    # line, naming what config/ has instead, before the bare "file not found".
    unusable = config_file_problem(workspace, "validation",
                                   given_config_path(workspace, options.config))
    refuse([unusable] if unusable is not None else [])
    resolved = workspace.resolve(options.config, overrides)
    data, file = resolved.data, resolved.file
    # check's own pre-flight on what this run reads, before TensorFlow: a config mistake
    # costs no TensorFlow start-up. With --input the datalist is not read.
    check_evaluation(workspace, overrides, config=options.config,
                     train_config=options.train_config, labels=validating,
                     datalist=not options.inputs,
                     train_amp=data.get("use_amp") is None
                     and _loader_name(data, options.model) == "CheckpointLoader",
                     model=options.model)
    settings = read_eval_settings(data, resolved.variables, file)
    output_dir = Path(resolved.variables.get("MMAR_EVAL_OUTPUT_PATH")
                      or workspace.eval_dir)
    if not output_dir.is_absolute():
        output_dir = workspace.root / output_dir
    return PreparedRun(options, resolved, settings, output_dir)


def case_count(workspace: Workspace, run: PreparedRun) -> tuple[int, str]:
    """How many cases the run evaluates and where they are listed (``--input`` files, or
    the datalist's list), read without TensorFlow."""
    items = _items(workspace, run.resolved.variables, run.options)
    if run.options.inputs:
        return len(items), "the --input images"
    variables = run.resolved.variables
    key = str(variables.get("DATA_LIST_KEY") or "validation")
    return len(items), f"{workspace.display(Path(variables['DATASET_JSON']))}'s {key!r} list"


@scoped
def evaluate(workspace: Workspace, options: EvalOptions, *, mode: str) -> EvalReport:
    """Run validation (``mode="validate"``) or inference (``mode="infer"``).

    With the config's ``skip_bad_cases``, a case that cannot be read or used is left out
    with one warning line (``EvalReport.skipped``; ``metrics.json`` lists them).

    Raises:
        ConfigError: what ``mmarctl check`` reports in the files this run reads (its line),
            before TensorFlow is imported; a config section cannot be built.
        DataError: an image or label cannot be used (named).
        RuntimeFailure: no checkpoint, or it does not fit the network.
    """
    validating = mode == "validate"
    run = prepare_run(workspace, options, mode=mode)
    options, resolved, settings, output_dir = (run.options, run.resolved, run.settings,
                                               run.output_dir)
    data, file = resolved.data, resolved.file
    # One writer per output folder (held until this returns), taken before TensorFlow
    # starts so that a busy folder is refused at once; a training run's models/ is another
    # folder, so validating while training is fine.
    lock_folder(output_dir, display=workspace.display(output_dir))
    logs.quiet_tensorflow()
    from mmarctl.runtime.distributed import get_backend

    # Horovod when launched by `validate --gpus N` (mmarctl.runtime.evaluation_ranks).
    backend = get_backend()
    if backend.size > 1:
        backend.pin_gpu()  # one GPU per process, before TensorFlow touches a device
    from mmarctl.runtime.training.tf_engine import put_prediction, run_inferer

    builder = ComponentBuilder(file, workspace.root)

    pre = builder.build_list("transforms", data.get("pre_transforms"), "pre_transforms")
    labels = (builder.build_list("transforms", data.get("label_transforms"), "label_transforms")
              if validating else [])
    post = builder.build_list("transforms", data.get("post_transforms"), "post_transforms")
    metrics = (builder.build_list("metrics", data.get("val_metrics"), "val_metrics")
               if validating else [])
    writers = ([] if validating else
               builder.build_list("writers", data.get("writers"), "writers"))
    inferer = builder.build("inferers", data.get("inferer", {"name": "TFSimpleInferer"}),
                            "inferer")
    loader_entry = model_loader_entry(workspace, resolved, options.model)
    loader = builder.build("model_loaders", loader_entry, "model_loader")
    _warn_if_stale(workspace, loader_entry, loader)

    items = _items(workspace, resolved.variables, options)
    # Names are decided over the whole list, before sharding and before any compute, so
    # two cases with one file name never write the same output (see case_names).
    named_items = list(zip(items, case_names(items)))
    order = {named.key: place for place, (_, named) in enumerate(named_items)}
    items = backend.share(named_items)  # every case, each on one rank

    network, model, dims, channels = _network(workspace, options, loader, settings.use_amp)
    # Label maps are held to the network's classes as train holds them: a value beyond
    # num_classes would otherwise score a silent Dice of 0.
    num_classes = getattr(network, "num_classes", None)
    predict = loader.load(workspace, model)
    if network is not None and getattr(predict, "source", None) is None:
        # The network of the training config runs (not a graph file's): its size divisor
        # tells a network failure on a misfit size from any other (inferers.base).
        try:
            predict.size_divisor = getattr(network, "size_divisor", None)
        except AttributeError:  # a BYOC loader's callable that takes no attributes
            pass
    from mmarctl.runtime.model_sources.base import check_roi

    check_roi(inferer, predict, file)  # a fixed-shape graph takes only its own patch size
    classification = model is not None and len(model.output_shape) == 2

    from mmarctl.console import progress
    from mmarctl.report.collector import PREVIEW_DIR, PreviewWriter, ReportCollector

    report = EvalReport(cases=0, output_dir=output_dir, chief=backend.is_chief)
    # Pictures are fed each post-transform sample and never raise (see mmarctl.report).
    collector = ReportCollector(metrics, classification=classification) if validating else None
    # infer without writers: a classification network's scores, one table written at the end
    # (by rank 0, with every rank's rows, when the cases are shared out)
    own_table: list[tuple[str, list[float]]] = []
    if backend.size > 1:
        for writer in writers:
            if callable(getattr(writer, "hold", None)):
                writer.hold()  # one CSV for every rank: rank 0 writes it whole
    previewer = None
    if options.preview and not validating:
        if classification:
            report.preview_note = "--preview: a classification network has no image preview"
        else:
            previewer = PreviewWriter(output_dir / PREVIEW_DIR)
    rows: list[tuple[str, list[float]]] = []
    predictions: list[tuple[str, dict[str, object]]] = []  # validate, classification
    rng = np.random.default_rng(0)

    def predicted(item: dict[str, Any]) -> dict[str, Any]:
        """One case through pre (and label) transforms, the inferer and post transforms."""
        sample = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in item.items()}
        sample["meta"] = {}
        sample["_source"] = _item_name(item)  # names the case before a loader has run
        try:
            sample = _one(run_chain(pre + labels, [sample], rng))
        except RuntimeFailure as failure:
            raise _with_missing_field_hint(failure, item) from failure.__cause__
        if not classification:
            # A 2-D (H, W, 1) file that no resampler read (label_transforms: LoadNifti +
            # ConvertToChannelsFirst) keeps its singleton axis: drop it as they do, so the
            # label covers the prediction's voxels (docs/check.md: (H, W, 1) is 2-D).
            for name in [k for k, v in sample.items() if isinstance(v, np.ndarray)]:
                drop_singleton_axis(sample, name, dims)
        if validating and not classification:
            check_label_values(sample, num_classes)
        image = _loaded_image(sample, file)
        batch = _channels_last(image, sample["meta"].get("image", {}), dims)[None]
        _check_channels(batch, channels, case_name(sample), options.train_config)
        try:
            probabilities = run_inferer(inferer, predict, batch, classification)[0]
        except RuntimeFailure as failure:  # not a bad case (DataError): name it all the same
            raise RuntimeFailure(f"case {case_name(sample)}: {failure.message}",
                                 hint=failure.hint) from failure.__cause__
        put_prediction(sample, probabilities, "classification" if classification
                       else "segmentation")
        return _one(run_chain(post, [sample], rng))

    # In a job rank 0 draws the progress of its own cases (the others' go at the same pace).
    label = mode if backend.size == 1 else f"{mode} (rank 0 of {backend.size})"
    with progress(label, len(items), enabled=options.progress and backend.is_chief) as bar:
        for item, named in items:
            try:
                sample = predicted(item)
            except DataError as error:
                # A case that broke after the pre-flight (truncated file, NaN voxels ...).
                error = _naming_case(error, item)
                if not settings.skip_bad_cases:
                    raise _with_skip_hint(error) from None
                report.skipped[named.key] = error.message
                if collector is not None:
                    collector.skip(named.key, error.message, shown=named.shown)
                logging.getLogger("mmarctl.data").warning(
                    "skipping a bad case (skip_bad_cases is on): %s", error)
                bar.update(1)
                continue
            sample[CASE_KEY] = named  # the writers' and tables' name of this case
            case = named.key
            values = [_updated(m, sample) for m in metrics]
            rows.append((case, values))
            if validating and classification:
                predictions.append((case, _prediction_row(sample)))
            if collector is not None:
                collector.add(case, sample, values, shown=named.shown)
            if previewer is not None:
                previewer.add(case, sample, name=named.output)
            for writer in writers:
                try:
                    written = writer.write(sample, output_dir)
                except Exception as error:  # noqa: BLE001 - only a full disk is told here
                    _raise_if_disk_full(error, report.cases, len(items),
                                        shown_from_here(output_dir))
                    raise
                if isinstance(written, (str, Path)):
                    report.files.append(Path(written))
            if not validating and not writers:
                own_table.append((case, _class_scores(sample["model"], file).tolist()))
            report.cases += 1
            bar.update(1)

    if previewer is not None:
        previewer.finish()
        report.previews = previewer.written
    job_values = None
    tables = {str(output_dir / CLASSIFICATION_RESULTS): own_table} if own_table else {}
    if backend.size == 1:
        from mmarctl.runtime.evaluation_ranks import write_tables

        report.files += write_tables(tables)
    else:
        from mmarctl.runtime.evaluation_ranks import gather_job

        job_values, rows, predictions = gather_job(
            backend, report, rows=rows, predictions=predictions, metrics=metrics,
            collector=collector, writers=writers, tables=tables, order=order,
            result=_result, preview_cases=previewer.cases if previewer is not None else [])
    if order and report.cases == 0 and report.skipped:
        raise DataError(f"every one of the {len(order)} case(s) was skipped as unusable",
                        hint="see the warnings above for each case")
    if validating:
        report.metrics = (job_values if job_values is not None else
                          {m.name: float(_result(m)) for m in metrics})
        report.per_case = {case: {m.name: v for m, v in zip(metrics, values)}
                           for case, values in rows}
    if validating and backend.is_chief:  # rank 0 writes the job's files
        from mmarctl.report.collector import describe_model
        from mmarctl.runtime.interrupts import interrupts_held

        # The tables and the report page of one run: a Ctrl-C between them would leave the
        # new metrics.json beside the previous run's report.html.
        with interrupts_held():
            report.files += write_metric_reports(output_dir, metrics, rows, report.metrics,
                                                 skipped=report.skipped,
                                                 model=_validated_model(workspace, loader,
                                                                        loader_entry),
                                                 predictions=predictions
                                                 if classification else None)
            if collector is not None:
                report.report = collector.write(output_dir, results=report.metrics,
                                                model=describe_model(loader_entry),
                                                mmar=workspace.root)
    return report


#: ``--model`` choices: the file ``mmarctl export`` writes for each, in ``MMAR_CKPT_DIR``.
MODEL_FILES = {"fzn": "model.fzn.pb", "onnx": "model.onnx"}
MODEL_CHOICES = ("ckpt", *MODEL_FILES)


def check_model_choice(model: str | None) -> None:
    """Reject a ``--model`` value other than ckpt, fzn or onnx (a usage error, exit 2)."""
    if model is not None and model not in MODEL_CHOICES:
        raise UsageError(f"--model must be one of {', '.join(MODEL_CHOICES)} (got {model})")


def model_loader_entry(workspace: Workspace, resolved: ResolvedConfig,
                       model: str | None) -> dict[str, Any]:
    """The ``model_loader`` entry to build: the config's, or the one ``--model`` names.

    * None: the config's ``model_loader`` (a ConfigError when it has none);
    * ``"ckpt"``: the config's loader when it is a CheckpointLoader (it may name another
      prefix), else ``CheckpointLoader(checkpoint_dir=MMAR_CKPT_DIR)``;
    * ``"fzn"`` / ``"onnx"``: ``FrozenGraphModelLoader`` / ``OnnxModelLoader`` on
      ``MMAR_CKPT_DIR/model.fzn.pb`` / ``model.onnx``, the files ``mmarctl export`` writes.

    Raises:
        UsageError: an unknown ``model``.
        ConfigError: no ``model_loader`` and no ``model``.
        RuntimeFailure: the exported file ``model`` needs is missing (says how to export it).
    """
    check_model_choice(model)
    configured = resolved.data.get("model_loader")
    if model is None:
        if configured is None:
            raise ConfigError("model_loader is missing", file=resolved.file,
                              json_path="model_loader",
                              hint='e.g. {"name": "CheckpointLoader", "args": '
                                   '{"checkpoint_dir": "{MMAR_CKPT_DIR}"}}, or pass --model')
        return configured
    folder = workspace.checkpoint_dir(resolved.variables)
    if model == "ckpt":
        if isinstance(configured, Mapping) and configured.get("name") == "CheckpointLoader":
            return dict(configured)
        return {"name": "CheckpointLoader", "args": {"checkpoint_dir": str(folder)}}
    path = folder / MODEL_FILES[model]
    if not path.is_file():
        raise RuntimeFailure(f"--model {model}: no {workspace.display(path)}",
                             hint=f"run `mmarctl export {shell_word(workspace.root)} --format {model}` "
                                  "first")
    name = "FrozenGraphModelLoader" if model == "fzn" else "OnnxModelLoader"
    return {"name": name, "args": {"model_file_path": str(path)}}


def _warn_if_stale(workspace: Workspace, entry: Any, loader: Any = None) -> None:
    """One warning line when the exported model this run loads is older than the checkpoint
    (see mmarctl.runtime.export.freshness), or the checkpoint it loads is older than the
    training run its folder holds (:func:`mmarctl.run_records.earlier_run_warning`)."""
    if callable(getattr(loader, "prefix", None)):
        from mmarctl.run_records import earlier_run_warning

        prefix = loader.prefix(workspace)
        warning = earlier_run_warning(prefix, workspace.display(prefix))
        if warning:
            log.warning("%s", warning)
        return
    args = entry.get("args") if isinstance(entry, Mapping) else None
    path = args.get("model_file_path") if isinstance(args, Mapping) else None
    if not isinstance(path, str) or not path:
        return
    from mmarctl.runtime.export.freshness import stale_export_warning

    path = _graph_read(Path(path) if Path(path).is_absolute() else workspace.root / path)
    warning = stale_export_warning(path, workspace.root, workspace.display)
    if warning:
        log.warning("%s", warning)


def _graph_read(path: Path) -> Path:
    """The file a FrozenGraphModelLoader configured with ``path`` reads: ``model.fzn.pb``
    beside a ``model.trt.pb`` that is missing or holds TF-TRT engines (every Clara 3.x
    validation config names model.trt.pb), so that its freshness is the one told."""
    from mmarctl.model_files import scan_model
    from mmarctl.runtime.model_loaders.frozen_graph import FROZEN_GRAPH, TRT_GRAPH

    if path.name != TRT_GRAPH or not path.with_name(FROZEN_GRAPH).is_file():
        return path
    item = scan_model(path)
    return path.with_name(FROZEN_GRAPH) if item is None or item.kind == "tftrt_graph" else path


def _loader_name(data: Mapping[str, Any], model: str | None) -> str | None:
    """The model loader this run builds: ``--model``'s, else the config's (alias dropped)."""
    if model is not None:
        return "CheckpointLoader" if model == "ckpt" else None
    entry = data.get("model_loader")
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return name.split("#")[0] if isinstance(name, str) else None


def _check_channels(batch: np.ndarray, channels: int | None, case: str,
                    train_config: str) -> None:
    """Refuse an image whose channel count is not the network's, before the inferer runs:
    the network would fail with a message about spatial sizes that misleads.

    Raises:
        DataError: naming the case and both counts.
    """
    if channels is not None and batch.shape[-1] != channels:
        raise DataError(f"case {case}: the pre_transforms give an image with "
                        f"{batch.shape[-1]} channel(s) but the network takes {channels} "
                        f"(output_image_channels in {train_config})",
                        hint="give images with the channels the model was trained on")


def _item_name(item: Mapping[str, Any]) -> str:
    """The image file a datalist item names (its first, for a multi-modal case)."""
    image = item.get("image")
    if isinstance(image, list) and image:
        image = image[0]
    return str(image) if isinstance(image, (str, Path)) else "?"


def _with_missing_field_hint(failure: RuntimeFailure,
                             item: Mapping[str, Any]) -> RuntimeFailure:
    """A BYOC transform's KeyError on a field the case does not have (``infer --input``
    gives only ``image``; a datalist item may name no label): say so."""
    cause = failure.__cause__
    missing = cause.args[0] if isinstance(cause, KeyError) and cause.args else None
    if not isinstance(missing, str) or missing in item:
        return failure
    hint = "; ".join(filter(None, [failure.hint, (
        f"this case has no {missing!r} field (it has: {', '.join(sorted(item))}); "
        "infer --input gives only 'image': make the transform skip a field the case lacks, "
        "or infer over a datalist whose items name it")]))
    return RuntimeFailure(failure.message, file=failure.file, json_path=failure.json_path,
                          hint=hint)


def _raise_if_disk_full(error: BaseException, done: int, total: int, shown: str) -> None:
    """mmarctl's disk-full line for a writer's failure, with how far the run got (the cases
    written before stay whole and usable); nothing when the disk is not full."""
    full = disk_full(error)
    if full is not None:
        raise RuntimeFailure(f"{full.message}; {done} of {total} case(s) written to {shown}",
                             hint="free some space, or write the predictions elsewhere "
                                  "(--output)") from error


def _naming_case(error: DataError, item: Mapping[str, Any]) -> DataError:
    """``error`` naming its case: a loader's names its file, a transform's may not."""
    if error.file or _item_name(item) in error.message:
        return error
    return DataError(f"case {_item_name(item)}: {error.message}", hint=error.hint)


def _with_skip_hint(error: DataError) -> DataError:
    """``error`` with a hint on ``skip_bad_cases``, unless its own hint mentions it."""
    if "skip_bad_cases" in (error.hint or ""):
        return error
    hint = "; ".join(filter(None, [error.hint, 'set "skip_bad_cases": true in the validation '
                                               'config to skip such cases']))
    return DataError(error.message, file=error.file, json_path=error.json_path, hint=hint)


def _loaded_image(sample: dict[str, Any], file: str) -> np.ndarray:
    """The case's ``"image"`` as float32, or a ConfigError naming the config when no
    transform loaded it (it is still the data list's file name, or missing): check reports
    this before any run, so it is reached only when the pre-flight was bypassed."""
    image = sample.get("image")
    if image is None or isinstance(image, (str, os.PathLike)) or (
            isinstance(image, (list, tuple)) and any(isinstance(v, str) for v in image)):
        raise ConfigError("no transform loads 'image' (the network reads it); add a loader "
                          'first, e.g. {"name": "LoadNifti", "args": {"fields": "image"}}',
                          file=file, json_path="pre_transforms")
    return np.asarray(image, np.float32)


def _one(samples: list[dict]) -> dict:
    if len(samples) != 1:
        raise ConfigError("validation/inference transforms must keep one sample per case "
                          f"(a transform produced {len(samples)})",
                          hint="remove random croppers from config_validation.json")
    return samples[0]


#: infer's table of class scores when no writer is configured: WriteClassificationResult's
#: columns (``image``, ``class_0`` ...), so a script reads either file; written whole at the
#: end, replacing an earlier run's with the writer's warning (one file per run).
CLASSIFICATION_RESULTS = "classification_results.csv"


def _class_scores(scores: Any, file: str | None) -> np.ndarray:
    """A classification output's scores as a vector; a segmentation output (no writer
    configured for it) is a ConfigError naming the validation config ``file``."""
    scores = np.asarray(scores)
    if scores.size >= 1000:
        raise ConfigError("infer: no writer configured for a segmentation output",
                          file=file, json_path="writers" if file else None,
                          hint='add a writer such as {"name": "WriteNifti", "args": '
                               '{"field": "model", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}')
    return scores.reshape(-1)


def _prediction_row(sample: Mapping[str, Any]) -> dict[str, object]:
    """A validated classification case's ``truth``, ``predicted``, ``score`` (as the report
    page shows them, see :func:`mmarctl.report.collector.class_outcome`) and each output's
    score as ``class_<i>`` (infer's column names); truth and prediction are left empty for a
    label that is not one value or one per output."""
    from mmarctl.report.collector import class_outcome

    scores = np.asarray(sample["model"], np.float64).ravel()
    row: dict[str, object] = {"truth": None, "predicted": None, "score": None}
    with contextlib.suppress(ValueError, TypeError, IndexError, KeyError):
        row.update(class_outcome(scores, sample["label"])[2])
    row.update({f"class_{i}": float(v) for i, v in enumerate(scores)})
    return row


def _validated_model(workspace: Workspace, loader: Any, entry: Any) -> dict[str, Any]:
    """What ``metrics.json`` records about the model validated: the loader as the report
    names it, and the fingerprint of the file it loaded (so that ``compare`` can tell a
    model retrained since from the one these metrics are about)."""
    from mmarctl.report.collector import describe_model
    from mmarctl.run_records import model_fingerprint

    record: dict[str, Any] = {"loader": describe_model(entry)}
    prefix = getattr(loader, "prefix", None)
    path = prefix(workspace) if callable(prefix) else getattr(loader, "model_file_path", None)
    if path:
        path = Path(path) if Path(path).is_absolute() else Path(workspace.root) / path
        record.update(model_fingerprint(path, workspace.root) or {})
    return record


def summarise(values: list[float]) -> dict[str, float]:
    """min, max, mean and count of the finite values (NaN when there is none)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"min": math.nan, "max": math.nan, "mean": math.nan, "count": 0}
    return {"min": min(finite), "max": max(finite), "mean": sum(finite) / len(finite),
            "count": len(finite)}


#: validate's per-case classification outcomes (:func:`write_metric_reports`).
PREDICTIONS_NAME = "predictions.csv"


def write_metric_reports(output_dir: Path, metrics: list[Any],
                         rows: list[tuple[str, list[float]]],
                         results: dict[str, float],
                         skipped: Mapping[str, str] | None = None,
                         model: Mapping[str, Any] | None = None,
                         predictions: list[tuple[str, Mapping[str, object]]] | None = None
                         ) -> list[Path]:
    """``metrics.json``, ``metrics_per_case.csv`` and ``metrics_summary.txt`` in ``output_dir``,
    and the ``report_path`` file of each of mmarctl's metrics, all renamed into place together.

    Each metric's summary holds its ``value`` (what the metric reports over all cases, e.g.
    an AUC, which has no per-case value) and ``min``/``max``/``mean``/``count`` of the
    finite per-case values. ``skipped`` (case -> why) are the cases ``skip_bad_cases`` left
    out: ``metrics.json`` lists them under ``"skipped"`` (empty when none) and the summary
    text counts them. ``model`` (what was validated: the loader, and the file's path, time
    and SHA-256, see :func:`mmarctl.run_records.model_fingerprint`) is kept as ``"model"``
    with ``"validated_at"`` (ISO time), so a reader can tell metrics of an earlier model.
    ``predictions`` (a classification network's, case -> ``truth``, ``predicted``,
    ``score``, ``class_<i>``) is written as ``predictions.csv``, the cases keyed as in
    ``metrics_per_case.csv``.

    ``metrics.json``'s ``"files"`` lists the files written (relative to ``output_dir`` when
    inside it). A per-metric report or ``predictions.csv`` that the previous run's list
    names and this run does not write (another metric set, a segmentation run after a
    classification one) is removed once the new files are in place, so that the folder holds
    one run's reports; a file validate did not list is never touched.
    """
    skipped = dict(skipped or {})
    output_dir.mkdir(parents=True, exist_ok=True)
    names = [m.name for m in metrics]
    columns = {name: [values[i] for _, values in rows] for i, name in enumerate(names)}
    summary = {name: {"value": results.get(name, math.nan), **summarise(col)}
               for name, col in columns.items()}
    for entry in summary.values():
        if entry["count"] == 0 and math.isfinite(entry["value"]):
            entry["count"] = len(rows)  # a run-level metric (AUC): the cases it is over

    per_case_path = output_dir / "metrics_per_case.csv"
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["case", *names])
    for case, values in rows:
        writer.writerow([case, *[f"{v:.6f}" for v in values]])

    json_path = output_dir / "metrics.json"
    document = {
        "summary": {n: {k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in s.items()} for n, s in summary.items()},
        "per_case": [{"case": case, **{n: (None if math.isnan(v) else v)
                                      for n, v in zip(names, values)}}
                     for case, values in rows],
        "skipped": [{"case": case, "reason": reason} for case, reason in skipped.items()]}
    if model is not None:
        document["model"] = dict(model)
        document["validated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    text_path = output_dir / "metrics_summary.txt"
    lines = [f"{'metric':<24} {'value':>10} {'min':>10} {'max':>10} {'mean':>10} {'cases':>6}"]
    for name, s in summary.items():
        cells = [f"{v:>10.4f}" if math.isfinite(v) else f"{'-':>10}"
                 for v in (s["value"], s["min"], s["max"], s["mean"])]
        lines.append(f"{name:<24} {' '.join(cells)} {s['count']:>6}")
    if skipped:
        lines.append(f"skipped {len(skipped)} unusable case(s) (skip_bad_cases): "
                     + ", ".join(skipped))
    own_reports = _own_report_files(metrics)
    if predictions is not None:
        own_reports[output_dir / PREDICTIONS_NAME] = _predictions_table(predictions)
    written = [json_path, per_case_path, text_path, *own_reports]
    previous = _previous_reports(json_path, output_dir)
    document["files"] = [_listed_name(path, output_dir) for path in written]
    for folder in {path.parent for path in own_reports}:
        folder.mkdir(parents=True, exist_ok=True)
    _replace_together({per_case_path: table.getvalue(),
                       json_path: json.dumps(document, indent=2) + "\n",
                       text_path: "\n".join(lines) + "\n", **own_reports})
    _remove_stale(previous, written, output_dir)
    return written


def _listed_name(path: Path, output_dir: Path) -> str:
    """``path`` as ``metrics.json``'s ``"files"`` lists it: relative to ``output_dir`` when
    inside it (the folder can be moved or archived), else absolute."""
    try:
        return path.relative_to(output_dir).as_posix()
    except ValueError:
        return str(path.resolve())


#: The names of validate's own per-run report files that a later run may not write again.
_RUN_REPORTS = ("_per_case.csv", "_per_class.csv", PREDICTIONS_NAME)


def _previous_reports(json_path: Path, output_dir: Path) -> list[Path]:
    """The per-metric reports and ``predictions.csv`` that the previous run's
    ``metrics.json`` lists as written (none when it is missing, unreadable or lists none:
    an older mmarctl's, or a file someone else wrote)."""
    try:
        listed = json.loads(json_path.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(listed, list):
        return []
    return [output_dir / name for name in listed
            if isinstance(name, str) and name.endswith(_RUN_REPORTS)
            and name != "metrics_per_case.csv"]


def _remove_stale(previous: list[Path], written: list[Path], output_dir: Path) -> None:
    """Remove the previous run's reports (``previous``) that this run did not write: their
    values are of another model or metric set. A file that cannot be removed is one
    warning line; the new reports stand."""
    kept = {os.path.normcase(os.path.abspath(path)) for path in written}
    for path in previous:
        if os.path.normcase(os.path.abspath(path)) in kept or not path.is_file():
            continue
        try:
            path.unlink()
        except OSError as error:
            log.warning("%s is the previous validation's and was not written by this one, "
                        "but cannot be removed (%s)", path, error.strerror or error)
        else:
            log.info("removed %s: the previous validation's, which this one does not "
                     "write (its metrics differ)", _listed_name(path, output_dir))


def _predictions_table(predictions: list[tuple[str, Mapping[str, object]]]) -> str:
    """``predictions.csv``'s text: ``case``, then each row's columns in first-seen order
    (numbers as ``%.6g``, empty for none)."""
    columns = list(dict.fromkeys(c for _, row in predictions for c in row))
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["case", *columns])
    for case, row in predictions:
        cells = [row.get(c) for c in columns]
        writer.writerow([case, *["" if v is None else
                                 f"{v:.6g}" if isinstance(v, float) else v for v in cells]])
    return table.getvalue()


def _replace_together(contents: Mapping[Path, str]) -> None:
    """Write each file to a hidden temporary beside it, then rename them all into place:
    a report that cannot be written (a read-only or immutable file, a folder in its place)
    leaves the previous run's reports whole, not half old, half new.

    Raises:
        RuntimeFailure: a file cannot be written, naming it (a full disk stays an OSError,
            which the CLI names as such).
    """
    from mmarctl.errors import note_writing, write_failed
    from mmarctl.staging import temporary_beside

    umask = os.umask(0)
    os.umask(umask)
    staged: list[tuple[str, Path]] = []
    kept: dict[Path, str] = {}  # the previous run's reports, put back if a rename fails
    replaced: list[Path] = []
    path = next(iter(contents))
    try:
        for path in contents:  # a folder in a report's place: refused before any rename
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file", str(path))
        for path, text in contents.items():
            fd, tmp = temporary_beside(path)
            staged.append((tmp, path))
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600: as a plain open() would
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            if path.is_file():
                fd, kept[path] = temporary_beside(path)
                os.close(fd)
                shutil.copy2(path, kept[path])
        for tmp, path in staged:
            os.replace(tmp, path)
            replaced.append(path)
    except OSError as error:
        for done in replaced:  # an immutable or read-only file among them: undo the others
            if done in kept:
                with contextlib.suppress(OSError):
                    os.replace(kept.pop(done), done)
        for tmp in [tmp for tmp, _ in staged] + list(kept.values()):
            Path(tmp).unlink(missing_ok=True)
        note_writing(error, path)
        failure = write_failed(error)  # the CLI's line: the file as shown from here
        if failure is None or error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # a full disk keeps the CLI's disk-full line
        raise failure from error
    for backup in kept.values():
        Path(backup).unlink(missing_ok=True)


def _updated(metric: Any, sample: dict[str, Any]) -> float:
    """One case's value of a metric (its update), a BYOC metric's failure in one line."""
    with user_code.calling(metric):
        value = metric.update(sample)
    # Clara's metrics return nothing from update(); the case then has no value of its own.
    return math.nan if value is None else float(value)


def _result(metric: Any) -> Any:
    """A metric's result over the cases, a BYOC metric's failure in one line.

    mmarctl's own metrics give their value without writing: their ``report_path`` file is
    written with the other reports (:func:`write_metric_reports`). A BYOC metric's
    ``result()`` writes what it writes, as under Clara.
    """
    from mmarctl.runtime.metrics.base import Metric

    with user_code.calling(metric):
        return metric.value() if isinstance(metric, Metric) else metric.result()


def _own_report_files(metrics: list[Any]) -> dict[Path, str]:
    """The ``report_path`` files of mmarctl's own metrics: path -> text."""
    from mmarctl.runtime.metrics.base import Metric

    files = {}
    for metric in metrics:
        if isinstance(metric, Metric) and metric.report_path:
            name, text = metric.report_file()
            files[Path(metric.report_path) / name] = text
    return files
