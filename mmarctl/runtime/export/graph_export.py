"""Export from a TensorFlow graph source: a Clara TF1 checkpoint or a frozen graph.

What Clara's export.sh did, plus today's formats. The source (:mod:`mmarctl.runtime.model_sources`)
gives a frozen GraphDef from its input node to its output node, and the reference output:

* ``fzn``: that GraphDef (variables folded in, training nodes removed), node names kept;
* ``savedmodel``: the GraphDef wrapped (``wrap_function`` + ``prune``) behind a
  ``serving_default`` signature ``{input_name} -> {output_name: ...}``;
* ``onnx``: ``tf2onnx.convert.from_graph_def``, opset 17, tensors renamed to the node names;
* ``triton`` / ``trt``: from that ONNX file, as for mmarctl's own checkpoints.

Layout: the artifacts keep the graph's own layout (Clara's graphs: channels first, input
``(batch, C, *spatial)``), exactly the tensors a Clara deployment fed; ``export.json`` says
which (``"layout"`` and ``"axes"``). Every artifact is loaded back and compared with the
*source graph's* output on the seeded sample (Session run of the TF1 checkpoint, or the
frozen graph itself), all-or-nothing as in :mod:`.exporter`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmarctl.errors import RuntimeFailure

SAMPLE_SIZE = 32
DEFAULT_TOLERANCE = 1e-4
#: The default tolerance for graphs with float16 sections (Clara's use_amp graphs).
FLOAT16_TOLERANCE = 2e-3


def find_graph_source(given: str | None, found: str | None, out_dir: Path) -> tuple[str, Path] | None:
    """``(kind, path)`` when the export's source is a TF graph rather than mmarctl's checkpoint.

    * ``--ckpt`` naming a ``.pb`` file: that frozen graph;
    * the checkpoint found is a TF1 Saver checkpoint: it (run as its meta graph);
    * no checkpoint and no ``--ckpt``: ``model.fzn.pb`` in the output folder (Clara's), or a
      ``model.trt.pb`` (which :func:`usable_graph_file` answers).
    """
    from mmarctl.runtime.model_sources import checkpoint_kind
    from mmarctl.runtime.model_sources.frozen_graph import usable_graph_file

    if given and given.endswith(".pb"):
        path = Path(given).expanduser().resolve()
        if not path.is_file():
            raise RuntimeFailure(f"no frozen graph at {given}")
        return "frozen_graph", usable_graph_file(path)
    if found is not None:
        return ("tf1_checkpoint", Path(found)) if checkpoint_kind(found) == "tf1_checkpoint" \
            else None
    if given:
        return None
    for name in ("model.fzn.pb", "model.trt.pb"):
        if (out_dir / name).is_file():
            return "frozen_graph", usable_graph_file(out_dir / name)
    return None


def _sample_shape(source: Any, resolved: Any) -> tuple[int, ...]:
    from mmarctl.runtime.model_io import input_spec

    shape = source.input_shape
    if shape is None:
        raise RuntimeFailure(f"the graph's input {source.input_name} has no known rank",
                             file=source.path)
    dims = len(shape) - 2
    try:
        config_dims, config_channels, patch = input_spec(resolved)
    except Exception:  # the config is not needed to export a graph
        config_dims, config_channels, patch = dims, 1, None
    if config_dims != dims:
        patch, config_channels = None, 1
    spatial = list(source.fixed_spatial or [
        (patch[i] if patch and patch[i] else SAMPLE_SIZE) for i in range(dims)])
    channels = source.channels or config_channels
    if source.layout == "channels_first":
        return (1, channels, *spatial)
    return (1, *spatial, channels)


def write_saved_model(graph_def: Any, spec: Any, path: Path, dtype: Any) -> Path:
    """The frozen graph as a SavedModel with a ``serving_default`` signature."""
    import tensorflow as tf

    from mmarctl.runtime.model_sources.layout import channels_last_graph_def

    graph_def = channels_last_graph_def(graph_def)  # runs on any CPU, same I/O layout

    def _import() -> None:
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    pruned = wrapped.prune(wrapped.graph.as_graph_element(f"{spec.input_name}:0"),
                           wrapped.graph.as_graph_element(f"{spec.output_name}:0"))

    @tf.function(input_signature=[tf.TensorSpec(list(spec.input_shape), tf.float32,
                                                name=spec.input_name)])
    def serve(image):
        out = tf.cast(pruned(tf.cast(image, dtype)), tf.float32)
        return {spec.output_name: tf.identity(out, name=spec.output_name)}

    module = tf.Module()
    module.pruned = pruned
    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default":
                                                        serve.get_concrete_function()})
    return Path(path)


def write_onnx(graph_def: Any, spec: Any, path: Path) -> Path:
    """The frozen graph converted by tf2onnx (opset 17), tensors named after the nodes."""
    import logging

    from mmarctl.runtime.export.onnx_model import OPSET, _require, name_dynamic_dims, rename_output

    tf2onnx = _require("tf2onnx")
    onnx = _require("onnx")
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        model_proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=[f"{spec.input_name}:0"],
            output_names=[f"{spec.output_name}:0"], opset=OPSET)
    except Exception as error:  # an op tf2onnx cannot convert
        raise RuntimeFailure("tf2onnx cannot convert the graph: "
                             f"{str(error).splitlines()[0] if str(error) else error!r}") from None
    rename_output(model_proto, spec.output_name)
    graph = model_proto.graph
    old = graph.input[0].name
    if old != spec.input_name:
        for node in graph.node:
            node.input[:] = [spec.input_name if i == old else i for i in node.input]
        graph.input[0].name = spec.input_name
    name_dynamic_dims(model_proto, channels_first=spec.channels_first)
    onnx.checker.check_model(model_proto)
    Path(path).write_bytes(model_proto.SerializeToString())
    return Path(path)


def export_graph(workspace: Any, request: Any, resolved: Any, formats: list[str],
                 trt_missing: str | None, kind: str, path: Path, out_dir: Path, staging: Path,
                 triton_name: str, log: Callable[[str], None]) -> Any:
    """Export the graph source ``kind`` at ``path``; see the module docstring.

    Returns:
        an :class:`~.exporter.ExportResult`.
    """
    from mmarctl.runtime import checkpoint as ckpt
    from mmarctl.runtime.export import exporter as ex
    from mmarctl.runtime.export import manifest as mf
    from mmarctl.runtime.export import verify as vf
    from mmarctl.runtime.export.serving import ServingSpec
    from mmarctl.runtime.model_sources import open_source
    from mmarctl.runtime.model_sources.base import quiet_tf

    layout = None
    if kind == "frozen_graph":
        layout = (mf.read_manifest(path.parent) or {}).get("layout")
    source = open_source(kind, path, input_name=request.input_name,
                         output_name=request.output_name, layout=layout,
                         data_format=_data_format(resolved))
    sample = vf.sample_input(_sample_shape(source, resolved), request.seed)
    reference = source.native_predict(sample)
    graph_def = source.graph_def()
    shape = tuple(source.input_shape)
    spec = ServingSpec(input_shape=(None, *shape[1:]),
                       output_channels=int(reference.shape[1 if source.layout ==
                                                          "channels_first" else -1]),
                       input_name=source.input_name, output_name=source.output_name,
                       spatial_output=reference.ndim > 2, layout=source.layout)
    if reference.ndim == 2:
        spec = ServingSpec(spec.input_shape, int(reference.shape[-1]), spec.input_name,
                           spec.output_name, False, source.layout)
    shown_source = workspace.display(path)
    log(f"{kind} {shown_source}: input {ex._shape(spec.input_shape)}, output "
        f"{ex._shape(spec.output_shape)}, {source.layout} ({source.layout_reason}); "
        "artifacts keep this layout")
    dtype = _input_dtype(graph_def, spec.input_name)
    tolerance = request.tolerance
    if _has_float16(graph_def) and tolerance == DEFAULT_TOLERANCE:
        # ONNX Runtime accumulates float16 convolutions differently from TensorFlow (seen:
        # 6e-4 on probabilities); float16's own resolution is about 1e-3.
        tolerance = FLOAT16_TOLERANCE
        log(f"the graph computes partly in float16: tolerance {tolerance:g} (--tolerance "
            "to choose another)")

    results, staged = [], {}
    for fmt in formats:
        if fmt == "trt" and trt_missing:
            log(f"trt: skipped ({trt_missing})")
            results.append(ex.FormatResult("trt", skipped=trt_missing))
            continue
        if fmt == "fzn" and kind == "frozen_graph" and path.parent == out_dir \
                and path.name == ex.ARTIFACTS["fzn"]:
            log("fzn: skipped (it is the source)")
            results.append(ex.FormatResult("fzn", skipped=ex.SOURCE_ITSELF))
            continue
        start = time.monotonic()
        with quiet_tf():
            if fmt in ("triton", "trt") and "onnx" not in staged:
                staged["onnx"] = write_onnx(graph_def, spec, staging / ex.ARTIFACTS["onnx"])
            if fmt not in staged:
                staged[fmt] = _write(fmt, graph_def, spec, staging, dtype, request, sample,
                                     triton_name)
            check = vf.verify(fmt, _load(fmt, staged[fmt], spec, triton_name), sample,
                              reference, tolerance, file=ex.ARTIFACTS[fmt])
        seconds = time.monotonic() - start
        final = out_dir / ex.ARTIFACTS[fmt]
        shown = workspace.display(final if fmt != "triton" else final / triton_name)
        log(f"{fmt}: {shown} verified against the {kind.replace('_', ' ')}, max |diff| "
            f"{check.max_abs_diff:.3g} (tolerance {tolerance:g}, {seconds:.1f} s)")
        results.append(ex.FormatResult(fmt, shown, check.max_abs_diff, seconds))

    if kind == "frozen_graph" and path == out_dir / ex.ARTIFACTS["fzn"] and \
            not any(r.format == "fzn" for r in results):
        # not asked for, but the source: listed so that nothing calls it an older export
        results.append(ex.FormatResult("fzn", skipped=ex.SOURCE_ITSELF))
    files = (ckpt.checkpoint_files(path) + [Path(f"{path}.meta")]
             if kind == "tf1_checkpoint" else [path])
    source_entry = {"format": kind, "checkpoint": shown_source,
                    "checkpoint_sha256": mf.checkpoint_digest(files),
                    "config": resolved.file, "input_layout_from": source.layout_reason}
    previous = mf.read_manifest(out_dir)
    shipped = ex.came_with(workspace, out_dir, previous, source_entry["checkpoint_sha256"],
                           results, log)
    for result in results:
        if result.skipped is None:
            ex._publish(result.format, staged[result.format], out_dir, triton_name)
    manifest = mf.build_manifest(
        source=source_entry, spec=spec, sample_shape=sample.shape, seed=request.seed,
        tolerance=tolerance, formats={r.format: r.as_manifest() for r in results},
        previous=previous, came_with_mmar=shipped)
    if "triton" in formats:
        manifest["formats"]["triton"].update(model_name=triton_name,
                                             max_batch_size=request.triton_max_batch_size,
                                             platform="onnxruntime_onnx")
    return ex.ExportResult(results, mf.write_manifest(out_dir, manifest), manifest)


def _data_format(resolved: Any) -> str | None:
    try:
        return resolved.data["train"]["model"]["args"].get("data_format")
    except (KeyError, TypeError, AttributeError):
        return None


def _has_float16(graph_def: Any) -> bool:
    half = 19  # DT_HALF
    return any(node.attr[key].type == half for node in graph_def.node
               for key in ("T", "DstT", "dtype") if key in node.attr)


def _input_dtype(graph_def: Any, name: str) -> Any:
    import tensorflow as tf

    node = next((n for n in graph_def.node if n.name == name), None)
    return tf.dtypes.as_dtype(node.attr["dtype"].type) if node is not None else tf.float32


def _write(fmt: str, graph_def: Any, spec: Any, staging: Path, dtype: Any, request: Any,
           sample: np.ndarray, triton_name: str) -> Path:
    from mmarctl.runtime.export.exporter import ARTIFACTS

    path = staging / ARTIFACTS[fmt]
    if fmt == "fzn":
        path.write_bytes(graph_def.SerializeToString())
        return path
    if fmt == "savedmodel":
        return write_saved_model(graph_def, spec, path, dtype)
    if fmt == "onnx":
        return write_onnx(graph_def, spec, path)
    onnx_file = staging / ARTIFACTS["onnx"]
    if fmt == "triton":
        from mmarctl.runtime.export import triton
        from mmarctl.runtime.export.onnx_model import onnx_io

        folder = triton.write_repository(path, triton_name, onnx_file, onnx_io(onnx_file),
                                         request.triton_max_batch_size)
        triton.check_config(folder, onnx_io(folder / triton.VERSION / "model.onnx"))
        return path
    from mmarctl.runtime.export import tensorrt_engine

    sample_shape, input_shape = sample.shape, spec.input_shape
    if spec.channels_first:  # profile_shapes reads channels-last shapes
        sample_shape = (sample_shape[0], *sample_shape[2:], sample_shape[1])
        input_shape = (input_shape[0], *input_shape[2:], input_shape[1])
    shapes = tensorrt_engine.profile_shapes(sample_shape, input_shape,
                                            max(1, request.triton_max_batch_size))
    if spec.channels_first:
        shapes = tuple((s[0], s[-1], *s[1:-1]) for s in shapes)
    return tensorrt_engine.build_engine(onnx_file, path, spec.input_name, shapes)


def _load(fmt: str, path: Path, spec: Any, triton_name: str) -> Callable[[np.ndarray], Any]:
    names = (spec.input_name, spec.output_name)
    if fmt == "fzn":
        from mmarctl.runtime.export.frozen_graph import load_frozen_graph
        return load_frozen_graph(path, *names)
    if fmt == "savedmodel":
        from mmarctl.runtime.export.saved_model import load_saved_model
        return load_saved_model(path, *names)
    if fmt in ("onnx", "triton"):
        from mmarctl.runtime.export.onnx_model import load_onnx_model
        if fmt == "triton":
            path = path / triton_name / "1" / "model.onnx"
        return load_onnx_model(path, *names, providers=["CPUExecutionProvider"])
    from mmarctl.runtime.export.tensorrt_engine import load_engine
    return load_engine(path, *names)
