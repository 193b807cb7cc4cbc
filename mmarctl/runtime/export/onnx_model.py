"""ONNX (``models/model.onnx``): the serving function converted by tf2onnx, opset 17.

The graph input keeps the input node's name (``NV_MODEL_INPUT``); tf2onnx names the output
after the TensorFlow tensor (``Identity:0``), so it is renamed to the output node's name.
Open dimensions get readable names (``batch``, ``x``, ``y``, ``z``) that Triton and TensorRT
show in their messages. Checked with ``onnx.checker`` before it is written, and run with
ONNX Runtime by :func:`load_onnx_model`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmarctl.errors import MissingDependency, RuntimeFailure

OPSET = 17
_HINT = "install the export tools: pip install -e '.[export]' in the mmarctl checkout"
_DIM_NAMES = ("x", "y", "z")


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"ONNX export needs the {module} package", hint=_HINT) from None


def write_onnx(serve: Any, spec: Any, path: Path) -> Path:
    """Convert the serving function (see :mod:`.serving`) for ``spec`` and write ``path``."""
    from mmarctl.runtime.export.serving import input_signature

    tf2onnx = _require("tf2onnx")
    onnx = _require("onnx")
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        model_proto, _ = tf2onnx.convert.from_function(
            serve, input_signature=input_signature(spec), opset=OPSET)
    except Exception as error:  # an op tf2onnx cannot convert
        raise RuntimeFailure(f"tf2onnx cannot convert the network: "
                             f"{str(error).splitlines()[0] if str(error) else error!r}") from error
    rename_output(model_proto, spec.output_name)
    name_dynamic_dims(model_proto)
    onnx.checker.check_model(model_proto)
    Path(path).write_bytes(model_proto.SerializeToString())
    return Path(path)


def rename_output(model_proto: Any, name: str) -> None:
    """Give the graph's single output the name ``name`` (and rewire the producing node)."""
    graph = model_proto.graph
    if len(graph.output) != 1:
        raise RuntimeFailure(f"expected one ONNX output, found {len(graph.output)}")
    old = graph.output[0].name
    if old == name:
        return
    for node in graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    graph.output[0].name = name


def name_dynamic_dims(model_proto: Any, channels_first: bool = False) -> None:
    """Name open dimensions ``batch``, ``x``, ``y``, ``z`` on the input and the output
    (spatial axes follow the channel axis when ``channels_first``)."""
    for value in (*model_proto.graph.input, *model_proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        spatial = len(dims) - 2
        start = 2 if channels_first else 1
        for index, dim in enumerate(dims):
            if dim.HasField("dim_value"):
                continue
            if index == 0:
                dim.dim_param = "batch"
            elif start <= index < start + spatial:
                k = index - start
                dim.dim_param = _DIM_NAMES[k] if spatial <= 3 else f"d{k + 1}"


def onnx_io(path: Path) -> dict[str, Any]:
    """Inputs and outputs of an ONNX file: ``{"inputs": [(name, dims, dtype)], "outputs": ...}``.

    ``dims`` holds ints for fixed sizes and None for named or open ones.
    """
    onnx = _require("onnx")
    model = onnx.load(str(path))

    def describe(values):
        out = []
        for value in values:
            tensor = value.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
            out.append((value.name, dims, dtype))
        return out

    return {"inputs": describe(model.graph.input), "outputs": describe(model.graph.output)}


def one_line(error: BaseException, limit: int = 400) -> str:
    """An ONNX Runtime error on one line: its message continues on the next lines (e.g. the
    indices after "Got invalid dimensions for input: ... for the following indices")."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    text = text or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _refuse_other_kind(path: Path) -> None:
    """A frozen graph that ONNX Runtime cannot load is named as one, with the loader that
    reads it, instead of ONNX Runtime's words. (A damaged ONNX file is refused earlier, by
    the verbs' pre-flight, in check's words; here, in an export's verification, ONNX
    Runtime's words describe a failed conversion.)"""
    from mmarctl.model_files import scan_model

    item = scan_model(path) if path.is_file() else None
    if item is None:
        return
    if item.kind in ("frozen_graph", "tftrt_graph"):
        raise RuntimeFailure("a TensorFlow frozen graph, not an ONNX model", file=path,
                             hint="read it with FrozenGraphModelLoader (--model fzn)")


def load_onnx_model(path: Path, input_name: str | None = None,
                    output_name: str | None = None,
                    providers: list[str] | None = None,
                    threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A NumPy ``predict`` running ``path`` with ONNX Runtime.

    Args:
        path: the ``.onnx`` file.
        input_name, output_name: default to the model's only input and output.
        providers: ONNX Runtime execution providers; default: CUDA when available, then CPU.
        threads: ONNX Runtime intra-op threads (default: its own choice, one per core).
    """
    ort = _require("onnxruntime")
    available = ort.get_available_providers()
    providers = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                              if p in available]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only; ORT warns about unused initialisers
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # ORT raises its own Fail/InvalidGraph types
        _refuse_other_kind(Path(path))
        raise RuntimeFailure(f"ONNX Runtime cannot load the model: {one_line(error)}",
                             file=path) from None
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    input_name = input_name or inputs[0]
    output_name = output_name or outputs[0]
    if input_name not in inputs or output_name not in outputs:
        raise RuntimeFailure(f"the ONNX model maps {inputs} -> {outputs}, not "
                             f"{input_name} -> {output_name}", file=path)

    def predict(batch: np.ndarray) -> np.ndarray:
        feed = {input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        try:
            return session.run([output_name], feed)[0]
        except Exception as error:  # wrong rank or size for a fixed-shape model
            raise RuntimeFailure(f"ONNX Runtime failed on input {tuple(np.shape(batch))}: "
                                 f"{one_line(error)}", file=path) from None

    predict.session = session  # type: ignore[attr-defined]
    return predict
