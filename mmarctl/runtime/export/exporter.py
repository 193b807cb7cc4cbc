"""Run an export: restore the checkpoint model, write each format, verify it, then publish.

A Clara TF1 checkpoint or a frozen graph is exported from its own graph instead
(:mod:`.graph_export`, chosen by :func:`.graph_export.find_graph_source`).

All-or-nothing: every artifact is written into a staging folder inside the output folder
(``models/.export.HOST-PID.XXXX.partial/``, same filesystem, so publishing is a rename), loaded back and
compared with the checkpoint model (:mod:`.verify`). Only when every requested format has
passed are the artifacts renamed into place and ``export.json`` written; any failure
removes the staging folder and leaves ``models/`` as it was.

TensorRT (``trt``) needs an NVIDIA GPU and the ``tensorrt`` package. When it was asked for
by name and cannot be built here, the export stops before doing any work (exit 1); as part
of ``all`` it is recorded as skipped with the reason, and the export succeeds.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from mmarctl.errors import RuntimeFailure, UsageError
from mmarctl.locks import lock_folder, scoped
from mmarctl.runtime.export import FORMAT_ALIASES, FORMATS
from mmarctl.runtime.export.serving import DEFAULT_INPUT, DEFAULT_OUTPUT, ServingSpec
from mmarctl.staging import staging_folder_in

#: Where each format lands, relative to the output folder (triton: the repository root).
ARTIFACTS = {"fzn": "model.fzn.pb", "savedmodel": "saved_model", "onnx": "model.onnx",
             "triton": "triton", "trt": "model.trt"}
#: A format's skip reason when the file is the export's own source (a frozen graph).
SOURCE_ITSELF = "the source itself"
#: Spatial size used for the sample when the config gives no patch size.
FALLBACK_SAMPLE_SIZE = 32
_NODE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


@dataclass
class ExportRequest:
    """What to export and how (the CLI options of ``mmarctl export``).

    Attributes:
        formats: format names or aliases (``all`` = every format; trt skipped when impossible).
        checkpoint: checkpoint prefix, file or folder; default ``{MMAR_CKPT_DIR}/model.ckpt``.
        config: the training config that describes the network.
        input_name, output_name: node names (Clara: ``NV_MODEL_INPUT`` / ``NV_MODEL_OUTPUT``).
        overrides: ``--set`` values.
        tolerance: largest accepted absolute difference from the checkpoint model.
        seed: seed of the verification sample.
        triton_name: Triton model name; default: the MMAR folder name.
        triton_max_batch_size: Triton ``max_batch_size`` (0 = no batching).
    """

    formats: list[str] = field(default_factory=lambda: ["fzn"])
    checkpoint: str | None = None
    config: str = "config_train.json"
    input_name: str = DEFAULT_INPUT
    output_name: str = DEFAULT_OUTPUT
    overrides: dict[str, Any] = field(default_factory=dict)
    tolerance: float = 1e-4
    seed: int = 0
    triton_name: str | None = None
    triton_max_batch_size: int = 1


@dataclass(frozen=True)
class FormatResult:
    """One format's outcome: written and verified, or skipped with a reason."""

    format: str
    path: str | None = None
    max_abs_diff: float | None = None
    seconds: float | None = None
    skipped: str | None = None

    def as_manifest(self) -> dict[str, Any]:
        if self.skipped:
            return {"skipped": self.skipped}
        return {"path": self.path, "max_abs_diff": self.max_abs_diff,
                "seconds": round(self.seconds or 0.0, 3)}


@dataclass(frozen=True)
class ExportResult:
    """Everything an export did: per-format results and the manifest written."""

    results: list[FormatResult]
    manifest_path: Path
    manifest: dict[str, Any]
    #: artifacts on disk that the manifest does not list (left by an older export).
    older: list[Path] = field(default_factory=list)


def parse_formats(values: list[str] | None) -> tuple[list[str], set[str]]:
    """Normalise ``--format`` values (repeatable, comma-separated, aliases).

    Returns:
        the formats in production order, and those named explicitly (not via ``all``).

    Raises:
        UsageError: an unknown format (listing the known ones).
    """
    named: list[str] = []
    for value in values or ["fzn"]:
        named += [v.strip().lower() for v in value.split(",") if v.strip()]
    chosen: set[str] = set()
    explicit: set[str] = set()
    for name in named:
        name = FORMAT_ALIASES.get(name, name)
        if name == "all":
            chosen.update(FORMATS)
        elif name in FORMATS:
            chosen.add(name)
            explicit.add(name)
        else:
            raise UsageError(f"unknown export format {name!r}",
                             hint=f"choose from {', '.join(FORMATS)} or all")
    if not chosen:
        raise UsageError("no export format given", hint=f"choose from {', '.join(FORMATS)} or all")
    return [f for f in FORMATS if f in chosen], explicit


def check_node_name(option: str, name: str) -> str:
    """Node names must be valid TensorFlow op names (they become graph node names)."""
    if not _NODE_NAME.match(name):
        raise UsageError(f"{option} must start with a letter and use letters, digits, "
                         f"'_', '.', '-'; Received: {name!r}")
    return name


@scoped
def export_mmar(workspace: Any, request: ExportRequest,
                log: Callable[[str], None] = lambda line: None) -> ExportResult:
    """Export the MMAR's checkpoint model in the requested formats, verified, all-or-nothing.

    Args:
        workspace: the :class:`mmarctl.workspace.Workspace`.
        request: formats and options.
        log: receives one line per step (the CLI prints them).

    Raises:
        UsageError: unknown format or bad node names.
        ConfigError: what ``mmarctl check`` reports about the network the training config
            describes (its line), before TensorFlow is imported.
        RuntimeFailure: no checkpoint, a checkpoint that does not fit the network, an
            unwritable output folder, a failed conversion or a failed verification.
        MissingDependency: trt asked for by name where it cannot be built; ONNX packages.
    """
    from mmarctl.runtime import logs
    from mmarctl.runtime import checkpoint as ckpt
    from mmarctl.runtime.export import tensorrt_engine

    formats, explicit = parse_formats(request.formats)
    check_node_name("--input-node", request.input_name)
    check_node_name("--output-node", request.output_name)
    if request.input_name == request.output_name:
        raise UsageError("--input-node and --output-node must differ")
    if not request.tolerance >= 0:
        raise UsageError(f"--tolerance must be 0 or more; Received: {request.tolerance}")
    trt_missing = tensorrt_engine.missing() if "trt" in formats else None
    if trt_missing and "trt" in explicit:
        from mmarctl.errors import MissingDependency

        raise MissingDependency(f"cannot build a TensorRT engine here: {trt_missing}",
                                hint="run the export on a machine with an NVIDIA GPU and "
                                     "TensorRT, or leave trt out")

    from mmarctl.runtime.export import triton

    triton_name = triton.check_name(request.triton_name or triton.model_name(workspace.root.name))
    if request.triton_max_batch_size < 0:
        raise UsageError(f"--triton-max-batch-size must be 0 or more; "
                         f"Received: {request.triton_max_batch_size}")
    from mmarctl.check.preflight import require_usable_config

    require_usable_config(workspace, "train", request.config)  # check's line, not "not found"
    resolved = workspace.resolve(request.config, request.overrides)
    out_dir = workspace.checkpoint_dir(resolved.variables)
    prefix = _checkpoint_prefix(request.checkpoint, out_dir)
    found = ckpt.checkpoint_prefix(prefix)
    if found is None and _checkpoint_started(prefix):
        # Part of a checkpoint is there (an interrupted copy): check's line for it, never
        # the fallback to a model.fzn.pb beside it, which may be an older training's.
        _refuse_incomplete(workspace, request, Path(prefix))
    if found is not None:
        from mmarctl.run_records import earlier_run_warning

        warning = earlier_run_warning(Path(found), workspace.display(Path(found)))
        if warning:
            log(f"warning: {warning}")
    from mmarctl.runtime.export.graph_export import export_graph, find_graph_source

    # A Clara TF1 checkpoint or a frozen graph exports from its own graph (graph_export).
    graph_source = find_graph_source(request.checkpoint, found, out_dir)
    if graph_source is not None and found is None and not request.checkpoint:
        log(f"no checkpoint at {workspace.display(Path(prefix))}: exporting the frozen "
            f"graph {workspace.display(graph_source[1])} instead")
    if graph_source is None:
        # mmarctl's checkpoint is restored into the network the config describes: check's
        # pre-flight of that network, before TensorFlow (a config mistake costs none).
        from mmarctl.check.preflight import check_export

        check_export(workspace, request.overrides, config=request.config)
    if graph_source is not None or found is not None:
        # The model file, as check describes it (a corrupt graph), before TensorFlow too.
        from mmarctl.check.preflight import check_model_file

        source = graph_source[1] if graph_source is not None else Path(found)
        check_model_file(workspace, request.overrides, source, config=request.config)
    if found is None and graph_source is None:
        from mmarctl.runtime.model_sources.tf1_checkpoint import require_tf1_weights

        require_tf1_weights(Path(prefix))  # a Clara .meta whose weights files are gone
        if request.checkpoint:
            _refuse_other_kind(workspace, Path(prefix))
        raise RuntimeFailure(f"no checkpoint at {workspace.display(Path(prefix))}",
                             hint="train first (`mmarctl train`), or pass --ckpt PATH")
    logs.quiet_tensorflow()
    staging = _make_staging(workspace, out_dir)
    try:
        # The models/ lock that training holds: no export of a checkpoint being rewritten.
        lock_folder(out_dir, display=workspace.display(out_dir))
        if graph_source is not None:
            result = export_graph(workspace, request, resolved, formats, trt_missing,
                                  *graph_source, out_dir, staging, triton_name, log)
        else:
            result = _export(workspace, request, resolved, formats, trt_missing, Path(found),
                             out_dir, staging, triton_name, log)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from mmarctl.runtime.export.freshness import older_exports

    return replace(result, older=older_exports(out_dir, result.manifest, triton_name))


def _checkpoint_prefix(given: str | None, out_dir: Path) -> str:
    if not given:
        return str(out_dir / "model.ckpt")
    path = Path(os.path.expanduser(given))
    return str(path if path.is_absolute() else (Path.cwd() / path))


def _checkpoint_started(prefix: str) -> bool:
    """Whether any file of a checkpoint at ``prefix`` is there (its ``.index``, a ``.data``
    shard or mmarctl's ``.network.json``) though :func:`checkpoint_prefix` found none whole."""
    from mmarctl.runtime.checkpoint import NETWORK_SUFFIX, checkpoint_files

    path = Path(prefix)
    if path.is_dir():
        path = path / "model.ckpt"
    elif path.name.endswith(".index"):
        path = path.with_name(path.name[: -len(".index")])
    if not path.parent.is_dir():
        return False
    return (any(p.exists() for p in checkpoint_files(path))
            or Path(f"{path}{NETWORK_SUFFIX}").exists()
            or any(path.parent.glob(f"{path.name}.data-*")))


def _refuse_incomplete(workspace: Any, request: ExportRequest, prefix: Path) -> None:
    """Refuse a checkpoint of which only some files are there, in check's words
    (``models/model.ckpt: incomplete: model.ckpt.data-00000-of-00001 is missing ...``)."""
    from mmarctl.model_files.inventory import DAMAGED_HINT
    from mmarctl.runtime.checkpoint import INDEX_SUFFIX, checkpoint_files

    if prefix.is_dir():
        prefix = prefix / "model.ckpt"
    elif prefix.name.endswith(INDEX_SUFFIX):
        prefix = prefix.with_name(prefix.name[: -len(INDEX_SUFFIX)])
    if Path(f"{prefix}{INDEX_SUFFIX}").is_file():
        from mmarctl.check.preflight import check_model_file

        check_model_file(workspace, request.overrides, prefix, config=request.config)
    missing = [p.name for p in checkpoint_files(prefix) if not p.is_file()]
    raise RuntimeFailure(f"{workspace.display(prefix)}: incomplete: "
                         f"{' and '.join(missing) or 'a file'} is missing",
                         hint=DAMAGED_HINT)


#: What ``--ckpt`` may name instead of a checkpoint, in the user's words.
_NOT_A_CHECKPOINT = {"onnx": "an ONNX model", "saved_model": "a SavedModel folder",
                     "tensorrt_engine": "a TensorRT engine"}


def _refuse_other_kind(workspace: Any, path: Path) -> None:
    """Refuse ``--ckpt`` naming an exported model (an ONNX file, a SavedModel folder) by
    what it is: "no checkpoint at ... (pass --ckpt PATH)" would puzzle a user who did."""
    from mmarctl.model_files import scan_model

    item = scan_model(path) if path.exists() else None
    what = _NOT_A_CHECKPOINT.get(item.kind) if item is not None else None
    if what is not None:
        raise RuntimeFailure(f"--ckpt {workspace.display(path)}: {what}, not a checkpoint",
                             hint="export reads a checkpoint (models/model.ckpt) or a frozen "
                                  "graph (.pb)")


def _make_staging(workspace: Any, out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # named with this process (.export.HOST-PID.XXXX.partial): a killed export's folder
        # is removed by the next one
        return staging_folder_in(out_dir, "export")
    except OSError as error:
        raise RuntimeFailure(f"cannot write to {workspace.display(out_dir)}/: "
                             f"{error.strerror or error}",
                             hint="make the folder writable or set MMAR_CKPT_DIR elsewhere"
                             ) from None


def _export(workspace, request, resolved, formats, trt_missing, prefix, out_dir, staging,
            triton_name, log) -> ExportResult:
    import numpy as np

    from mmarctl.runtime import checkpoint as ckpt
    from mmarctl.runtime.export import manifest as mf
    from mmarctl.runtime.export import verify as vf
    from mmarctl.runtime.export.serving import serving_function
    from mmarctl.runtime.model_io import build_network, input_spec

    from mmarctl.runtime.precision import float32_scope

    with float32_scope():  # exports are float32 whatever the run trained in
        network, model = build_network(resolved, workspace.root, checkpoint_follows=True)
    try:
        ckpt.restore_model(prefix, model)
    except RuntimeFailure as error:
        if error.file:  # a damaged file: named as check names it, from the MMAR
            error.file = workspace.display(Path(error.file).absolute())
        raise
    dims, channels, patch = input_spec(resolved)
    dynamic = bool(resolved.get("dynamic_input_shape", False)) or patch is None or None in patch
    sample_spatial = tuple(p if p else FALLBACK_SAMPLE_SIZE for p in (patch or (None,) * dims))
    sample = vf.sample_input((1, *sample_spatial, channels), request.seed)
    reference = np.asarray(model(sample, training=False), dtype=np.float32)
    spec = ServingSpec(input_shape=(None, *((None,) * dims if dynamic else sample_spatial),
                                    channels),
                       output_channels=int(reference.shape[-1]),
                       input_name=request.input_name, output_name=request.output_name,
                       spatial_output=reference.ndim > 2)  # (batch, K) for classification
    serve = serving_function(model, spec)
    log(f"checkpoint {workspace.display(prefix)}: {type(network).__name__}, input "
        f"{_shape(spec.input_shape)}, output {_shape(spec.output_shape)}, channels-last")

    results: list[FormatResult] = []
    staged: dict[str, Path] = {}
    builder = _Builders(model, serve, spec, staging, request, sample, triton_name)
    for fmt in formats:
        if fmt == "trt" and trt_missing:
            log(f"trt: skipped ({trt_missing})")
            results.append(FormatResult("trt", skipped=trt_missing))
            continue
        start = time.monotonic()
        if fmt in ("triton", "trt") and "onnx" not in staged:
            # their source, not published unless asked
            staged["onnx"] = _write_format(builder, "onnx", out_dir)
        path = staged.get(fmt) or _write_format(builder, fmt, out_dir)
        staged[fmt] = path
        check = vf.verify(fmt, builder.load(fmt, path), sample, reference, request.tolerance,
                          file=ARTIFACTS[fmt])
        seconds = time.monotonic() - start
        final = out_dir / ARTIFACTS[fmt]
        shown = workspace.display(final if fmt != "triton" else final / builder.triton_name)
        log(f"{fmt}: {shown} verified, max |diff| {check.max_abs_diff:.3g} "
            f"(tolerance {request.tolerance:g}, {seconds:.1f} s)")
        results.append(FormatResult(fmt, shown, check.max_abs_diff, seconds))

    # Everything the manifest says is gathered before the first artifact is moved into
    # place, so that a failure here leaves models/ as it was.
    source = {"checkpoint": workspace.display(prefix),
              "checkpoint_sha256": mf.checkpoint_digest(ckpt.checkpoint_files(prefix)),
              "config": resolved.file, "network": _network_name(network),
              "network_args": _jsonable(_network_args(network, resolved))}
    previous = mf.read_manifest(out_dir)
    shipped = came_with(workspace, out_dir, previous, source["checkpoint_sha256"], results, log)
    for result in results:
        if result.skipped is None:
            _publish(result.format, staged[result.format], out_dir, builder.triton_name)
    manifest = mf.build_manifest(
        source=source, spec=spec, sample_shape=sample.shape, seed=request.seed,
        tolerance=request.tolerance, formats={r.format: r.as_manifest() for r in results},
        previous=previous, size_divisor=getattr(network, "size_divisor", 1) or 1,
        came_with_mmar=shipped)
    if "triton" in formats:
        manifest["formats"]["triton"].update(
            model_name=builder.triton_name, max_batch_size=request.triton_max_batch_size,
            platform="onnxruntime_onnx")
    path = mf.write_manifest(out_dir, manifest)
    return ExportResult(results, path, manifest)


def _write_format(builder: "_Builders", fmt: str, out_dir: Path) -> Path:
    """``builder.write(fmt)``; a failed write (a full disk) names the artifact where the
    user will look for it, ``models/<artifact>``, not the staging folder, with export's
    advice for a full disk."""
    from mmarctl.errors import note_writing
    from mmarctl.runtime.export.frozen_graph import EXPORT_NO_ROOM_HINT

    try:
        return builder.write(fmt)
    except Exception as error:  # OSError, or TensorFlow's own error for a SavedModel
        note_writing(error, out_dir / ARTIFACTS[fmt], hint=EXPORT_NO_ROOM_HINT)
        raise


def came_with(workspace: Any, out_dir: Path, previous: dict | None, source_sha256: str,
              results: list[FormatResult], log: Callable[[str], None]) -> dict[str, str]:
    """The artifacts that came with the MMAR (:func:`.freshness.came_with_mmar`), each
    said once, neutrally, when first found."""
    from mmarctl.runtime.export.freshness import came_with_mmar

    from mmarctl.runtime.export.manifest import manifest_problem

    damaged = manifest_problem(out_dir, workspace.display)
    if damaged is not None:
        log(f"{damaged}: written afresh")
    written = [r.format for r in results if r.skipped in (None, SOURCE_ITSELF)]
    shipped = came_with_mmar(out_dir, previous, source_sha256, written, workspace.display)
    if previous is None:
        for shown in shipped.values():
            log(f"{shown} came with the MMAR (no export.json before this export): kept as "
                "it is")
    return shipped


class _Builders:
    """Writes and reloads each format inside the staging folder."""

    def __init__(self, model, serve, spec, staging, request, sample, triton_name):
        self.model, self.serve, self.spec, self.staging = model, serve, spec, staging
        self.request, self.sample, self.triton_name = request, sample, triton_name

    def write(self, fmt: str) -> Path:
        path = self.staging / ARTIFACTS[fmt]
        if fmt == "fzn":
            from mmarctl.runtime.export.frozen_graph import write_frozen_graph
            return write_frozen_graph(self.serve, path)
        if fmt == "savedmodel":
            from mmarctl.runtime.export.saved_model import write_saved_model
            return write_saved_model(self.model, self.serve, path)
        if fmt == "onnx":
            from mmarctl.runtime.export.onnx_model import write_onnx
            return write_onnx(self.serve, self.spec, path)
        onnx_file = self.staging / ARTIFACTS["onnx"]
        if fmt == "triton":
            from mmarctl.runtime.export import triton
            from mmarctl.runtime.export.onnx_model import onnx_io
            folder = triton.write_repository(path, self.triton_name, onnx_file,
                                             onnx_io(onnx_file),
                                             self.request.triton_max_batch_size)
            triton.check_config(folder, onnx_io(folder / triton.VERSION / "model.onnx"))
            return path
        from mmarctl.runtime.export import tensorrt_engine
        shapes = tensorrt_engine.profile_shapes(self.sample.shape, self.spec.input_shape,
                                                max(1, self.request.triton_max_batch_size))
        return tensorrt_engine.build_engine(onnx_file, path, self.spec.input_name, shapes)

    def load(self, fmt: str, path: Path):
        names = (self.spec.input_name, self.spec.output_name)
        if fmt == "fzn":
            from mmarctl.runtime.export.frozen_graph import load_frozen_graph
            return load_frozen_graph(path, *names)
        if fmt == "savedmodel":
            from mmarctl.runtime.export.saved_model import load_saved_model
            return load_saved_model(path, *names)
        if fmt in ("onnx", "triton"):
            from mmarctl.runtime.export.onnx_model import load_onnx_model
            if fmt == "triton":
                path = path / self.triton_name / "1" / "model.onnx"
            return load_onnx_model(path, *names, providers=["CPUExecutionProvider"])
        from mmarctl.runtime.export.tensorrt_engine import load_engine
        return load_engine(path, *names)


def _publish(fmt: str, staged: Path, out_dir: Path, triton_name: str) -> None:
    """Move one verified artifact into place, replacing an older one."""
    if fmt == "triton":
        # Replace only this model's folder: the repository may serve other models too.
        (out_dir / "triton").mkdir(exist_ok=True)
        _replace(staged / triton_name, out_dir / "triton" / triton_name)
    else:
        _replace(staged, out_dir / staged.name)


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def _network_name(network: Any) -> str:
    """mmarctl's Clara name of the network, or a BYOC network's config path."""
    from mmarctl.runtime import user_code

    origin = user_code.origin_of(network)
    if origin is not None:
        return origin.path
    return getattr(network, "clara_name", "") or type(network).__name__


def _network_args(network: Any, resolved: Any) -> dict:
    """The network's arguments: its get_config() (mmarctl's networks), else the config's
    ``train.model.args`` (a BYOC network need only have build(spatial_dims, in_channels))."""
    get_config = getattr(network, "get_config", None)
    if callable(get_config):
        config = get_config()
        if isinstance(config, dict):
            return config
    train = resolved.data.get("train") if isinstance(resolved.data, dict) else None
    model = train.get("model") if isinstance(train, dict) else None
    args = model.get("args") if isinstance(model, dict) else None
    return dict(args) if isinstance(args, dict) else {}


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
