"""Clara's frozen graph (``model.fzn.pb``): a GraphDef with the weights folded in as constants.

Written with ``convert_variables_to_constants_v2`` from the concrete serving function (see
:mod:`.serving`): the input is the ``Placeholder`` node ``NV_MODEL_INPUT`` and the output is
the ``Identity`` node ``NV_MODEL_OUTPUT``, channels-last like the network. Read back by
:func:`load_frozen_graph`, which ``FrozenGraphModelLoader``
(:mod:`mmarctl.runtime.model_loaders.frozen_graph`) and the export verification share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmarctl.errors import RuntimeFailure, note_writing


def write_frozen_graph(serve: Any, path: Path) -> Path:
    """Freeze the concrete serving function ``serve`` and write its GraphDef to ``path``."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    try:
        Path(path).write_bytes(frozen.graph.as_graph_def().SerializeToString())
    except OSError as error:  # a full disk: name the file the user will look for
        note_writing(error, _destination(Path(path)), hint=EXPORT_NO_ROOM_HINT)
        raise
    return Path(path)


#: A full disk's advice for export: its artifacts go into MMAR_CKPT_DIR, beside the
#: checkpoint; another folder takes them when --ckpt still names the checkpoint.
EXPORT_NO_ROOM_HINT = ("free some space on the disk of the models folder, or export to "
                       "another disk: --set MMAR_CKPT_DIR=FOLDER --ckpt models/model.ckpt")


def _destination(path: Path) -> Path:
    """Where a file written into export's staging folder (``models/.export.*.partial/``)
    ends up once the export succeeds: the models folder itself."""
    staging = path.parent
    if staging.name.startswith(".") and staging.name.endswith(".partial"):
        return staging.parent / path.name
    return path


def graph_nodes(graph_def: Any) -> dict[str, Any]:
    """Node name -> NodeDef."""
    return {node.name: node for node in graph_def.node}


def read_graph_def(path: Path) -> Any:
    """Parse a frozen graph file; a file that is not a GraphDef is a RuntimeFailure."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(Path(path).read_bytes())
    except OSError as error:
        raise RuntimeFailure(f"cannot read frozen graph: {error.strerror}", file=path) from None
    except Exception as error:  # protobuf DecodeError and friends
        _refuse_onnx(Path(path))
        raise RuntimeFailure(f"not a frozen TensorFlow graph: {error}", file=path,
                             hint=_remake_hint(Path(path))) from None
    if not graph_def.node:
        _refuse_onnx(Path(path))  # its bytes may parse as a GraphDef without nodes
        raise RuntimeFailure("not a frozen TensorFlow graph: no nodes", file=path,
                             hint=_remake_hint(Path(path)))
    return graph_def


def _refuse_onnx(path: Path) -> None:
    """An ONNX model given as a frozen graph: said so, with the loader that reads it ("re-export
    it" and the protobuf parser's words would be wrong advice for a valid ONNX file)."""
    from mmarctl.model_files import scan_model

    item = scan_model(path)
    if item is not None and item.kind == "onnx":
        raise RuntimeFailure("an ONNX model, not a frozen TensorFlow graph", file=path,
                             hint="read it with OnnxModelLoader (--model onnx)")


def _remake_hint(path: Path) -> str:
    """How to replace a damaged frozen graph: export re-makes it only from a checkpoint."""
    if (path.parent / "model.ckpt.index").is_file():
        return "re-export it with `mmarctl export --format fzn`"
    return (f"copy {path.name} again from where it came from (`mmarctl export` re-makes it "
            "only from a checkpoint, and none is beside it)")


def load_frozen_graph(path: Path, input_name: str | None = None,
                      output_name: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A NumPy ``predict`` running the frozen graph at ``path``.

    Args:
        path: the ``.pb`` file.
        input_name: the input node; default: the graph's only ``Placeholder``.
        output_name: the output node; default ``NV_MODEL_OUTPUT``.

    Raises:
        RuntimeFailure: unreadable file, or a node that the graph does not have (the
            message lists the candidates).
    """
    import tensorflow as tf

    from mmarctl.runtime.export.serving import DEFAULT_OUTPUT

    graph_def = read_graph_def(path)
    nodes = graph_nodes(graph_def)
    placeholders = [n for n, node in nodes.items() if node.op == "Placeholder"]
    if input_name is None:
        if len(placeholders) != 1:
            raise RuntimeFailure(f"the graph has {len(placeholders)} inputs "
                                 f"({', '.join(placeholders) or 'none'}); name one", file=path)
        input_name = placeholders[0]
    output_name = output_name or DEFAULT_OUTPUT
    for role, name in (("input", input_name), ("output", output_name)):
        if name not in nodes:
            candidates = placeholders if role == "input" else [
                n for n, node in nodes.items() if node.op == "Identity"][-5:]
            raise RuntimeFailure(f"the graph has no {role} node {name!r}", file=path,
                                 hint=f"nodes that could be meant: {', '.join(candidates)}")
    from mmarctl.runtime.model_sources.layout import channels_last_graph_def

    graph_def = channels_last_graph_def(graph_def)  # a Clara NCDHW graph on any CPU

    def _import() -> None:
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    graph = wrapped.graph
    function = wrapped.prune(graph.as_graph_element(f"{input_name}:0"),
                             graph.as_graph_element(f"{output_name}:0"))
    expected = graph.get_tensor_by_name(f"{input_name}:0").shape

    def predict(batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if not expected.is_compatible_with(batch.shape):
            raise RuntimeFailure(f"input of shape {tuple(batch.shape)} does not fit the "
                                 f"frozen graph's {input_name} {expected.as_list()}", file=path,
                                 hint="export with dynamic_input_shape=true, or set the "
                                      "inferer's roi_size to the exported patch size")
        return function(tf.constant(batch)).numpy()

    predict.input_shape = tuple(expected.as_list())  # type: ignore[attr-defined]
    return predict
